import { z } from 'zod'
import type { attachments, messageVersions, subtypes, trackingValues } from '../db/schema.ts'
import type { MessageRow } from './repository.ts'

export const AttachmentViewSchema = z.object({
  id: z.int(),
  fileName: z.string(),
  mimeType: z.string(),
  size: z.int(),
  sha256: z.string(),
  url: z.string(),
})

/** How the chatter filters messages: message (sent), note (logged), tracking (changes), activity (done). */
export const MessageKindSchema = z.enum(['message', 'note', 'tracking', 'activity'])

export const MessageViewSchema = z.object({
  id: z.int(),
  recordId: z.int(),
  /** message (sent to followers), note (internal), tracking (changes, creation), activity (done). */
  kind: MessageKindSchema,
  subtype: z.string(),
  internal: z.boolean(),
  author: z.object({ partnerId: z.int(), name: z.string() }).nullable(),
  /** Sanitized HTML; empty when deleted. */
  body: z.string(),
  tracking: z.array(
    z.object({
      field: z.string(),
      label: z.string(),
      old: z.string().nullable(),
      new: z.string().nullable(),
    }),
  ),
  mentions: z.array(z.object({ partnerId: z.int(), name: z.string() })),
  attachments: z.array(AttachmentViewSchema),
  createdAt: z.int(),
  /** Set when the body was edited; earlier versions are at /api/v1/messages/{id}/versions. */
  editedAt: z.int().nullable(),
  deleted: z.boolean(),
})
export type MessageView = z.infer<typeof MessageViewSchema>

export function presentAttachment(
  row: typeof attachments.$inferSelect,
): z.infer<typeof AttachmentViewSchema> {
  return {
    id: row.id,
    fileName: row.fileName,
    mimeType: row.mimeType,
    size: row.size,
    sha256: row.sha256,
    url: `/api/v1/attachments/${row.id}/content`,
  }
}

export function presentMessage(
  row: MessageRow,
  details: {
    authors: Map<number, string>
    tracking: Map<number, (typeof trackingValues.$inferSelect)[]>
    mentions: Map<number, { partnerId: number; name: string }[]>
    files: Map<number, (typeof attachments.$inferSelect)[]>
    subtypes: (typeof subtypes.$inferSelect)[]
  },
): MessageView {
  const deleted = row.deletedAt !== null
  return {
    id: row.id,
    recordId: row.recordId,
    kind: row.kind,
    subtype: details.subtypes.find((subtype) => subtype.id === row.subtypeId)?.key ?? 'comment',
    internal: row.internal,
    author:
      row.authorPartnerId === null
        ? null
        : {
            partnerId: row.authorPartnerId,
            name: details.authors.get(row.authorPartnerId) ?? `#${row.authorPartnerId}`,
          },
    body: deleted ? '' : row.body,
    tracking: (details.tracking.get(row.id) ?? []).map((value) => ({
      field: value.field,
      label: value.fieldLabel,
      old: value.oldDisplay,
      new: value.newDisplay,
    })),
    mentions: deleted
      ? []
      : (details.mentions.get(row.id) ?? []).map((m) => ({ partnerId: m.partnerId, name: m.name })),
    attachments: deleted ? [] : (details.files.get(row.id) ?? []).map(presentAttachment),
    createdAt: row.createdAt,
    editedAt: row.editedAt,
    deleted,
  }
}

/** An earlier body of an edited (or deleted) message. */
export const MessageVersionViewSchema = z.object({
  body: z.string(),
  /** The user who edited (or deleted) the message, replacing this body. */
  replacedBy: z.int().nullable(),
  replacedAt: z.int(),
})

export function presentVersion(
  row: typeof messageVersions.$inferSelect,
): z.input<typeof MessageVersionViewSchema> {
  return { body: row.body, replacedBy: row.replacedBy, replacedAt: row.replacedAt }
}
