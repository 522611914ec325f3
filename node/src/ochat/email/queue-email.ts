import { escapeHtml } from '../../chatter/body.ts'
import type { Tx } from '../../db/client.ts'
import { ochatEmailSends, outgoingMail } from '../../db/schema.ts'
import type { ConnectionRow } from '../connections/repository.ts'
import type { MessageRow } from '../delivery/status.ts'

/** What the partner reads, and what people here read beside every message of an email channel. */
export const NOT_ENCRYPTED = 'by email, not end-to-end encrypted'

/**
 * One subject for the whole channel: mail programs (Gmail first) thread by subject as well as by
 * References, so a subject that changed with each message would split the conversation.
 */
export function channelSubject(input: { company: string; peerName: string }): string {
  return `${input.company} – ${input.peerName}`.replace(/[\r\n]+/g, ' ')
}

/**
 * Queues the email of an outgoing message in an email channel: its content (the message as written,
 * who wrote it, and plainly how it travels), and its sending state, due now. The mail sender picks it
 * up after the commit; the message stays Pending until the partner's server answers.
 */
export function queuePartnerEmail(
  tx: Tx,
  input: { row: MessageRow; connection: ConnectionRow; company: string; now: number },
): void {
  const { row, connection, company, now } = input
  if (connection.transport !== 'email' || !connection.emailAddress)
    throw new Error(`connection ${connection.id} is not reached by email`)
  const body = [
    `<p><strong>${escapeHtml(row.authorName)}</strong> (${escapeHtml(company)}) wrote:</p>`,
    row.html,
    `<p style="color:#666;font-size:12px">Sent ${NOT_ENCRYPTED}. Reply to this email to answer: your reply reaches ${escapeHtml(company)}'s conversation with ${escapeHtml(connection.peerName)}.</p>`,
  ].join('')
  const mail = tx
    .insert(outgoingMail)
    .values({
      kind: 'ochat',
      subject: channelSubject({ company, peerName: connection.peerName }),
      body,
      createdAt: now,
    })
    .returning({ id: outgoingMail.id })
    .get()
  tx.insert(ochatEmailSends)
    .values({
      messageId: row.id,
      channelId: row.channelId,
      mailId: mail.id,
      emailTo: connection.emailAddress,
      emailStatus: 'queued',
      emailQueuedAt: now,
      emailNextAt: now,
    })
    .run()
}
