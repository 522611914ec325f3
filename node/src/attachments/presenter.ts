import { z } from 'zod'
import { AttachmentViewSchema, presentAttachment } from '../chatter/presenter.ts'
import type { AttachmentRow } from './repository.ts'

/** An attachment on its own (upload answer, metadata): the chatter's view plus where it is. */
export const AttachmentDetailSchema = AttachmentViewSchema.extend({
  recordId: z.int().nullable(),
  /** Null until a message is posted with this file; only then is it part of the chatter. */
  messageId: z.int().nullable(),
  createdAt: z.int(),
})
export type AttachmentDetail = z.infer<typeof AttachmentDetailSchema>

export function presentAttachmentDetail(row: AttachmentRow): AttachmentDetail {
  return {
    ...presentAttachment(row),
    recordId: row.recordId,
    messageId: row.messageId,
    createdAt: row.createdAt,
  }
}
