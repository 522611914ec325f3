import { and, count, eq, gte, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { once } from '../../db/raw.ts'
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
  // Every mail posted asks: built once per connection.
  const query = once(tx, 'mailIn.loopCount', () =>
    tx
      .select({ n: count() })
      .from(incomingMails)
      .where(
        and(
          eq(incomingMails.sender, sql.placeholder('sender')),
          gte(incomingMails.receivedAt, sql.placeholder('since')),
          eq(incomingMails.outcome, sql.placeholder('outcome')),
        ),
      )
      .prepare(),
  )
  const row = query.get({ sender: input.sender, since: input.now - LOOP_WINDOW_MS, outcome: input.outcome })
  return (row?.n ?? 0) >= LOOP_LIMIT
}
