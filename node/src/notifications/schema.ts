import { z } from 'zod'
import { PageQuerySchema } from '../api/pagination.ts'

export const InboxQuerySchema = PageQuerySchema.extend({ unread: z.enum(['true', 'false']).optional() })
const ReadAllFields = z.strictObject({ recordId: z.int().positive().optional() })
/** No body at all means everything: Fastify hands a missing body to the validator as null. */
export const ReadAllBodySchema = ReadAllFields.nullish().transform(
  (body): z.output<typeof ReadAllFields> => body ?? {},
)

/** `?messages=1,2,3`: the email recipients of these messages only (at most 200, a chatter page). */
export const EmailsQuerySchema = z.object({
  messages: z
    .string()
    .optional()
    .transform((value, context) => {
      if (value === undefined) return undefined
      // Present but empty: no messages (a chatter page showing none still wants the failed count).
      if (value.trim() === '') return []
      const ids = value.split(',').map((id) => Number(id.trim()))
      if (ids.length > 200 || ids.some((id) => !Number.isSafeInteger(id) || id <= 0)) {
        context.addIssue({ code: 'custom', message: 'messages: up to 200 comma-separated message ids' })
        return z.NEVER
      }
      return ids
    }),
})
