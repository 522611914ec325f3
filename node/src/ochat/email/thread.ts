import { randomBytes } from 'node:crypto'
import { and, desc, eq, isNotNull, isNull, lt } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { ochatMessages, outgoingMail } from '../../db/schema.ts'

/** Earlier emails of a channel named in References: enough to thread, short enough for any server. */
const REFERENCES = 20

/** The Message-IDs of one email of an email channel, without angle brackets. */
export type PartnerThreadIds = { own: string; parent: string | null; references: string[] }

/**
 * The ids of a channel message's email: its own Message-ID (assigned once, kept on the message, where
 * replies find their channel, and on its mail, where a delivery report quoting it finds the email),
 * and the channel's earlier emails both ways, so the partner's mail program shows one conversation.
 * Runs in the write queue: the first attempt assigns, later ones read (partnerThreadIdsIfAssigned).
 */
export function ensurePartnerThreadIds(
  tx: Tx,
  input: { messageId: number; mailId: number; mailDomain: string },
): PartnerThreadIds {
  // Random, so Message-IDs say nothing guessable and never repeat across nodes or restores.
  const fresh = `ochat.c${input.messageId}.${randomBytes(8).toString('hex')}@${input.mailDomain}`
  tx.update(ochatMessages)
    .set({ emailMessageId: fresh })
    .where(and(eq(ochatMessages.id, input.messageId), isNull(ochatMessages.emailMessageId)))
    .run()
  const ids = partnerThreadIdsIfAssigned(tx, input)
  if (!ids) throw new Error(`message ${input.messageId} is gone`)
  tx.update(outgoingMail)
    .set({ emailMessageId: ids.own })
    .where(and(eq(outgoingMail.id, input.mailId), isNull(outgoingMail.emailMessageId)))
    .run()
  return ids
}

/** The same ids read without a write, once assigned; null before the first attempt. */
export function partnerThreadIdsIfAssigned(tx: Tx, input: { messageId: number }): PartnerThreadIds | null {
  const message = tx
    .select({ channelId: ochatMessages.channelId, own: ochatMessages.emailMessageId })
    .from(ochatMessages)
    .where(eq(ochatMessages.id, input.messageId))
    .get()
  if (!message?.own) return null
  const earlier = tx
    .select({ id: ochatMessages.emailMessageId })
    .from(ochatMessages)
    .where(
      and(
        eq(ochatMessages.channelId, message.channelId),
        lt(ochatMessages.id, input.messageId),
        isNotNull(ochatMessages.emailMessageId),
      ),
    )
    .orderBy(desc(ochatMessages.id))
    .limit(REFERENCES)
    .all()
    .map((row) => row.id as string)
    .reverse()
  return { own: message.own, parent: earlier.at(-1) ?? null, references: earlier }
}
