import { and, eq, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { followers, type mailAliases, partners, users } from '../../db/schema.ts'

export type AliasRow = typeof mailAliases.$inferSelect
export type SenderPartner = { id: number; name: string; internal: boolean }

/** The partner of an address: the user's own first, then the oldest contact with it. */
export function partnerOfAddress(tx: Tx, address: string): SenderPartner | undefined {
  return tx
    .select({ id: partners.id, name: partners.name, internal: partners.internal })
    .from(partners)
    .where(and(sql`lower(${partners.email}) = ${address}`, eq(partners.active, true)))
    .orderBy(sql`${partners.internal} desc`, partners.id)
    .get()
}

/**
 * Who may write to an alias: everyone; partners (an address the node knows, the default); followers of
 * the record it posts to; internal (users only). Answers the reason of a refusal, or null.
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
      return sender ? null : `${where} from known contacts only`
    case 'followers': {
      if (sender && isUser(tx, sender.id)) return null
      const following =
        sender && input.recordId !== null
          ? tx
              .select({ id: followers.id })
              .from(followers)
              .where(and(eq(followers.recordId, input.recordId), eq(followers.partnerId, sender.id)))
              .get()
          : undefined
      return following ? null : `${where} from the followers of its record only`
    }
    case 'internal':
      return sender && isUser(tx, sender.id) ? null : `${where} from the company's users only`
  }
}

function isUser(tx: Tx, partnerId: number): boolean {
  return (
    tx
      .select({ id: users.id })
      .from(users)
      .where(and(eq(users.partnerId, partnerId), eq(users.active, true)))
      .get() !== undefined
  )
}
