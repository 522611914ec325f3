import { and, count, eq, gte, inArray } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { incomingMails } from '../../db/schema.ts'
import type { InboundMail } from './parse.ts'

/** More than this many records created, or messages posted, from one sender in the window is a loop. */
export const LOOP_LIMIT = 20
export const LOOP_WINDOW_MS = 120 * 60_000

/** Our own header on the outer message: something we sent came back to us. A forward quoting ours is not. */
export function carriesOurLoopHeader(mail: InboundMail, mailDomain: string): boolean {
  return mail
    .header('x-ochat-loop')
    .split(',')
    .some((value) => value.trim().toLowerCase() === mailDomain.toLowerCase())
}

/** RFC 3834 Auto-Submitted (anything but "no"), Precedence bulk/junk/list, X-Autoreply and X-Autorespond. */
export function isAutomatic(mail: InboundMail): boolean {
  const submitted = mail.header('auto-submitted').trim().toLowerCase()
  const precedence = mail.header('precedence').trim().toLowerCase()
  return (
    (submitted !== '' && submitted !== 'no') ||
    ['bulk', 'junk', 'list'].includes(precedence) ||
    mail.hasHeader('x-autoreply') ||
    mail.hasHeader('x-autorespond')
  )
}

/**
 * Whether one more record created (or message posted) from this sender would go past the limit: an
 * auto-responder answering our notifications would otherwise fill the chatter forever.
 */
export function overLoopLimit(
  tx: Tx,
  input: { sender: string; outcome: 'created' | 'posted'; now: number },
): boolean {
  const row = tx
    .select({ n: count() })
    .from(incomingMails)
    .where(
      and(
        eq(incomingMails.sender, input.sender),
        gte(incomingMails.receivedAt, input.now - LOOP_WINDOW_MS),
        inArray(incomingMails.outcome, [input.outcome]),
      ),
    )
    .get()
  return (row?.n ?? 0) >= LOOP_LIMIT
}
