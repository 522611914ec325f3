import { LIMITS } from '@ochat/shared-protocol'
import { z } from 'zod'

export const SendBody = z.strictObject({
  /**
   * Markdown shortcuts by default (**bold**, _italic_, lists, `code`, links), or HTML; as long as the
   * HTML a message may carry (PROTOCOL.md §4.2).
   */
  body: z.string().min(1).max(LIMITS.messageHtmlChars),
  format: z.enum(['markdown', 'html']).default('markdown'),
  /** Files uploaded first with POST /api/v1/attachments: at most 5, 100 MB each, 500 MB in all. */
  attachmentIds: z.array(z.int().positive()).max(20).default([]),
})
export type SendInput = z.output<typeof SendBody>
export const RecordSendBody = SendBody.extend({ channelId: z.int().positive() })
export const LinkBody = z.strictObject({ recordId: z.int().positive() })
