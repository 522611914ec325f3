import { z } from 'zod'
import type { incomingMails } from '../db/schema.ts'
import { INCOMING_OUTCOMES } from './inbound-schema.ts'

type IncomingRow = typeof incomingMails.$inferSelect

/** What became of a mail handed over by HTTP: taken in, or dropped on purpose. */
export const InboundAnswerSchema = z.object({
  outcome: z.enum(INCOMING_OUTCOMES),
  reason: z.string().nullable(),
  recordId: z.int().nullable(),
  messageId: z.int().nullable(),
})

export const IncomingMailSchema = z.object({
  id: z.int(),
  receivedAt: z.int(),
  via: z.enum(['smtp', 'http', 'cli']),
  outcome: z.enum(INCOMING_OUTCOMES),
  reason: z.string().nullable(),
  sender: z.string().nullable(),
  subject: z.string().nullable(),
  emailMessageId: z.string().nullable(),
  size: z.int(),
  recordId: z.int().nullable(),
  messageId: z.int().nullable(),
  aliasId: z.int().nullable(),
  /** Until when the raw message can be downloaded; null when it was not kept or is gone. */
  rawUntil: z.int().nullable(),
})

export function presentIncomingMail(row: IncomingRow, now: number): z.infer<typeof IncomingMailSchema> {
  return {
    id: row.id,
    receivedAt: row.receivedAt,
    via: row.via,
    outcome: row.outcome,
    reason: row.reason,
    sender: row.sender,
    subject: row.subject,
    emailMessageId: row.emailMessageId,
    size: row.size,
    recordId: row.recordId,
    messageId: row.messageId,
    aliasId: row.aliasId,
    rawUntil: rawKept(row, now) ? row.rawExpiresAt : null,
  }
}

/** The raw message is still there to download. */
export function rawKept(row: IncomingRow, now: number): boolean {
  return row.rawFile !== null && (row.rawExpiresAt === null || row.rawExpiresAt > now)
}
