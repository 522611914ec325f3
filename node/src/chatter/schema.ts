import { LIMITS } from '@ochat/shared-protocol'
import { z } from 'zod'
import { PageQuerySchema } from '../api/pagination.ts'
import { MessageKindSchema } from './presenter.ts'

const KINDS = MessageKindSchema.options
export const ChatterQuery = PageQuerySchema.extend({
  /** Comma-separated: message, note, tracking, activity. All kinds when absent. */
  kind: z
    .string()
    .optional()
    .transform((value, context) => {
      if (value === undefined) return undefined
      const kinds = value.split(',').map((kind) => kind.trim())
      for (const kind of kinds)
        if (!(KINDS as readonly string[]).includes(kind)) {
          context.addIssue({ code: 'custom', message: `kind: one or more of ${KINDS.join(', ')}` })
          return z.NEVER
        }
      return kinds as z.infer<typeof MessageKindSchema>[]
    }),
})
export const PostBody = z.strictObject({
  /** message: "Send message" to followers; note: "Log note", internal users only. */
  kind: z.enum(['message', 'note']),
  body: z.string().max(200_000),
  /** markdown (default): shortcuts like **bold** are rendered; html: sanitized as is. */
  format: z.enum(['markdown', 'html']).default('markdown'),
  mentionPartnerIds: z.array(z.int().positive()).max(100).default([]),
  /** At most 5 files per message (PROTOCOL.md §4; with 100 MB per file, 500 MB per message). */
  attachmentIds: z.array(z.int().positive()).max(LIMITS.attachmentsPerMessage).default([]),
})
export const EditBody = z.strictObject({
  body: z.string().max(200_000),
  format: z.enum(['markdown', 'html']).default('markdown'),
})
