import { z } from 'zod'
import type { attachments, messageVersions, subtypes, trackingValues } from '../db/schema.ts'
import { EmailRecipientViewSchema, presentEmailRecipient } from '../notifications/email-presenter.ts'
import type { EmailRecipientRow } from '../notifications/email-repository.ts'
import { avatarUrl } from '../people/avatar-image.ts'
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
  /** `avatarUrl`: the author's picture (null: draw initials). */
  author: z.object({ partnerId: z.int(), name: z.string(), avatarUrl: z.string().nullable() }).nullable(),
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
  /** A message that came in by email: the address it came from. */
  emailFrom: z.string().nullable(),
  /** The message it answers (an email reply). */
  parentId: z.int().nullable(),
  /**
   * Who it was emailed to and how sending went, one entry per recipient; empty when it went by inbox
   * only. In a record's chatter, where every reader is an internal user of the record; absent where
   * messages are shown out of their record (the inbox).
   */
  emails: z.array(EmailRecipientViewSchema).optional(),
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
    /** Authors' picture versions (people/avatar-repository.ts); a message just posted may go without. */
    avatars?: Map<number, number>
    /** Email recipients by message (notifications/email-repository.ts emailRecipientsByMessage). */
    emails?: Map<number, EmailRecipientRow[]>
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
            avatarUrl: avatarUrl(row.authorPartnerId, details.avatars?.get(row.authorPartnerId)),
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
    emailFrom: row.emailFrom,
    parentId: row.parentId,
    ...(details.emails ? { emails: (details.emails.get(row.id) ?? []).map(presentEmailRecipient) } : {}),
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
