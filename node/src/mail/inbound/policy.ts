import { and, eq, isNull, or, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { once } from '../../db/raw.ts'
import { followers, mailAliases, notifications, partners, users } from '../../db/schema.ts'

export type AliasRow = typeof mailAliases.$inferSelect
export type SenderPartner = {
  id: number
  name: string
  internal: boolean
  /** Made by the intake for an unknown sender: not yet a known contact (see refusalByPolicy). */
  fromMail: boolean
}

const senderColumns = {
  id: partners.id,
  name: partners.name,
  internal: partners.internal,
  fromMail: partners.fromMail,
}

/**
 * The partner a mail's sender is taken for. With the From address authenticated: the user's own
 * partner first, then the oldest contact with the address. Without: From is only the sender's word,
 * so it never names a user (anyone can write `From: ceo@…`); an external contact with the address is
 * believed, as mail clients and Odoo believe it, since by mail such a contact can do no more than
 * its own mail and replies could.
 */
export function partnerOfAddress(
  tx: Tx,
  input: { address: string; authenticated: boolean },
): SenderPartner | undefined {
  // Every mail asks, one way or the other: each built once per connection.
  const key = input.authenticated ? 'mailIn.partnerOfAddress' : 'mailIn.externalPartnerOfAddress'
  const query = once(tx, key, () =>
    tx
      .select(senderColumns)
      .from(partners)
      .where(
        and(
          sql`lower(${partners.email}) = ${sql.placeholder('address')}`,
          eq(partners.active, true),
          input.authenticated ? undefined : eq(partners.internal, false),
        ),
      )
      .orderBy(sql`${partners.internal} desc`, partners.id)
      .prepare(),
  )
  return query.get({ address: input.address })
}

/** An active partner by id (the one a reply token was made for). */
export function partnerById(tx: Tx, id: number): (SenderPartner & { email: string | null }) | undefined {
  // Every reply by our token asks: built once per connection.
  const query = once(tx, 'mailIn.partnerById', () =>
    tx
      .select({ ...senderColumns, email: partners.email })
      .from(partners)
      .where(and(eq(partners.id, sql.placeholder('id')), eq(partners.active, true)))
      .prepare(),
  )
  return query.get({ id })
}

/**
 * Who may write to an alias: everyone; partners (an address the node knows, the default); followers of
 * the record it posts to; internal (users only). A contact the intake made from a mail is not a known
 * partner until it follows the record: else one mail to an open alias would open every other one.
 * Answers the reason of a refusal, or null.
 */
export function refusalByPolicy(
  tx: Tx,
  input: { alias: AliasRow; sender: SenderPartner | undefined; recordId: number | null },
): string | null {
  const { alias, sender } = input
  const where = `${alias.name}@ takes mail`
  switch (alias.contactPolicy) {
    case 'everyone':
      return null
    case 'partners':
      return sender && (!sender.fromMail || follows(tx, sender, input.recordId))
        ? null
        : `${where} from known contacts only`
    case 'followers':
      return sender && (isUser(tx, sender.id) || follows(tx, sender, input.recordId))
        ? null
        : `${where} from the followers of its record only`
    case 'internal':
      return sender && isUser(tx, sender.id) ? null : `${where} from the company's users only`
  }
}

/**
 * Who may answer a record's emails (by our reply token or our Message-IDs, both of which travel in
 * mail that may be forwarded): a follower of the record, a partner the answered email went to, or
 * whoever the record's own alias, else its model's, lets write. Answers the reason of a refusal, or
 * null. The reason names no record: the sender may not be one who may know of it.
 */
export function refusalOfReply(
  tx: Tx,
  input: {
    sender: SenderPartner | undefined
    recordId: number
    modelId: number
    /** The message answered, or the email (outgoing_mail) answered. */
    parentId: number | null
    mailId: number | null
  },
): string | null {
  const { sender } = input
  if (sender && follows(tx, sender, input.recordId)) return null
  if (sender && wasSentTo(tx, sender, input)) return null
  for (const alias of aliasesOfRecord(tx, input))
    if (refusalByPolicy(tx, { alias, sender, recordId: input.recordId }) === null) return null
  return 'replies are taken from the people the conversation was sent to only'
}

function aliasesOfRecord(tx: Tx, input: { recordId: number; modelId: number }): AliasRow[] {
  const aliases = tx
    .select()
    .from(mailAliases)
    .where(
      and(
        eq(mailAliases.active, true),
        or(
          eq(mailAliases.recordId, input.recordId),
          and(isNull(mailAliases.recordId), eq(mailAliases.modelId, input.modelId)),
        ),
      ),
    )
    .orderBy(mailAliases.id)
    .all()
  // The record's own alias says who may write to it; the model's speaks only when it has none.
  const own = aliases.filter((alias) => alias.recordId !== null)
  return own.length > 0 ? own : aliases
}

function follows(tx: Tx, sender: SenderPartner, recordId: number | null): boolean {
  if (recordId === null) return false
  const query = once(tx, 'mailIn.follows', () =>
    tx
      .select({ id: followers.id })
      .from(followers)
      .where(
        and(
          eq(followers.recordId, sql.placeholder('recordId')),
          eq(followers.partnerId, sql.placeholder('partnerId')),
        ),
      )
      .prepare(),
  )
  return query.get({ recordId, partnerId: sender.id }) !== undefined
}

/** Whether this partner was a recipient of the message or email answered (on the record's rows). */
function wasSentTo(
  tx: Tx,
  sender: SenderPartner,
  input: { recordId: number; parentId: number | null; mailId: number | null },
): boolean {
  const about = [
    input.parentId === null ? undefined : eq(notifications.messageId, input.parentId),
    input.mailId === null ? undefined : eq(notifications.mailId, input.mailId),
  ].filter((condition) => condition !== undefined)
  if (about.length === 0) return false
  return (
    tx
      .select({ id: notifications.id })
      .from(notifications)
      // The record's rows first (its index): a message's recipients are all on its record.
      .where(
        and(eq(notifications.recordId, input.recordId), eq(notifications.partnerId, sender.id), or(...about)),
      )
      .get() !== undefined
  )
}

function isUser(tx: Tx, partnerId: number): boolean {
  const query = once(tx, 'mailIn.isUser', () =>
    tx
      .select({ id: users.id })
      .from(users)
      .where(and(eq(users.partnerId, sql.placeholder('partnerId')), eq(users.active, true)))
      .prepare(),
  )
  return query.get({ partnerId }) !== undefined
}
