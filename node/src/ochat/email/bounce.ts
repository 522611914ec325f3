import { and, eq, inArray } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { ochatEmailSends, ochatMessages } from '../../db/schema.ts'
import type { Effects } from '../../live/events.ts'
import type { DsnReport } from '../../mail/inbound/bounce.ts'
import { messageEvents } from '../events.ts'
import type { ChannelTokens } from './channel-token.ts'
import { messageFollowsSend } from './follow-send.ts'

type SendRow = typeof ochatEmailSends.$inferSelect

/**
 * A delivery report about the email of an email channel's message: found by our bounce token (the
 * envelope sender `bounce+p…` it was sent from), else by our Message-ID quoted in the report to the
 * address it reports. The message becomes Bounced, with the report's status and words; a delay
 * (4.x.x) or a report of delivery (2.x.x) changes nothing. Null: the report is about no email of an
 * email channel (the intake goes on with the record emails' bounce handling). Runs in the intake's
 * transaction; live events go into `effects`.
 */
export function applyPartnerBounce(
  tx: Tx,
  input: {
    tokens: ChannelTokens
    /** The tokens of the bounce+ addresses the report was sent to. */
    bounceTokens: string[]
    report: DsnReport
    mailDomain: string
    now: number
    effects: Effects
  },
): { reason: string; messageId: number } | null {
  const { report } = input
  const send = sendOfToken(tx, input) ?? sendOfQuotedIds(tx, input)
  if (!send) return null
  const entry =
    report.entries.find((candidate) => candidate.recipient === send.emailTo.toLowerCase()) ??
    report.entries.find((candidate) => candidate.status !== null)
  const status = entry?.status ?? /#?([245]\.\d{1,3}\.\d{1,3})/.exec(report.summary)?.[1] ?? null
  const detail = [status, entry?.diagnostic ?? report.summary].filter(Boolean).join(' ')
  if (status?.startsWith('4'))
    return { reason: `delayed, the remote server keeps trying: ${detail}`, messageId: send.messageId }
  if (status?.startsWith('2'))
    return { reason: `delivered, as the report says: ${detail}`, messageId: send.messageId }
  const reason = `bounced: ${detail || 'the mail came back to the bounce address'}`
  const moved = tx
    .update(ochatEmailSends)
    .set({ emailStatus: 'bounced', emailError: reason, emailNextAt: null })
    .where(
      and(
        eq(ochatEmailSends.messageId, send.messageId),
        // A report can overtake the server's answer; a Retry since then is a new round, left alone.
        inArray(ochatEmailSends.emailStatus, ['sent', 'sending', 'bounced']),
      ),
    )
    .run().changes
  if (moved === 0)
    return { reason: `${reason} (the message was sent again since)`, messageId: send.messageId }
  const row = messageFollowsSend(tx, { messageId: send.messageId, now: input.now })
  if (row) input.effects.events.push(...messageEvents(tx, [{ row, channelId: row.channelId }]))
  return { reason, messageId: send.messageId }
}

function sendOfToken(tx: Tx, input: { tokens: ChannelTokens; bounceTokens: string[] }): SendRow | undefined {
  for (const token of input.bounceTokens) {
    const target = input.tokens.readBounceToken(token)
    if (!target) continue
    const send = tx
      .select()
      .from(ochatEmailSends)
      .where(eq(ochatEmailSends.messageId, target.messageId))
      .get()
    if (send) return send
  }
  return undefined
}

/** Without a token (a server that reports to From): our Message-ID quoted, and the address reported. */
function sendOfQuotedIds(tx: Tx, input: { report: DsnReport; mailDomain: string }): SendRow | undefined {
  const domain = `@${input.mailDomain.toLowerCase()}`
  const ours = input.report.quotedIds.filter((id) => id.toLowerCase().endsWith(domain))
  if (ours.length === 0) return undefined
  const sends = tx
    .select({ send: ochatEmailSends })
    .from(ochatMessages)
    .innerJoin(ochatEmailSends, eq(ochatEmailSends.messageId, ochatMessages.id))
    .where(inArray(ochatMessages.emailMessageId, ours))
    .all()
    .map((row) => row.send)
  const reported = new Set([
    ...input.report.entries.flatMap((entry) => (entry.recipient ? [entry.recipient] : [])),
    ...input.report.named,
  ])
  return sends.find((send) => reported.has(send.emailTo.toLowerCase()))
}
