import { eq, type SQL, sql } from 'drizzle-orm'
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core'
import type { Principal } from '../auth/principal.ts'
import type { Tx } from '../db/client.ts'
import { ochatBulkSends, ochatChannelMembers } from '../db/schema.ts'
import { NodeError } from '../errors.ts'
import type { BulkRow } from '../ochat/bulk/repository.ts'
import { type ChannelRow, findChannel, isMember } from '../ochat/channels/repository.ts'
import type { ConnectionRow, ConnectionState } from '../ochat/connections/repository.ts'
import { isAdmin, seesEverything } from './roles.ts'

/**
 * Connections with other companies: an administrator sees every one, with its safety code, and decides
 * on requests; anyone else sees the accepted ones (to write to them) and nothing else, as if the rest
 * did not exist.
 */
export function seesAllConnections(principal: Principal): boolean {
  return isAdmin(principal)
}

/** The connection, or "not found" when the caller may not see it, like one that does not exist. */
export function visibleConnection(principal: Principal, row: ConnectionRow | undefined): ConnectionRow {
  if (!row || (!seesAllConnections(principal) && row.state !== 'accepted')) throw new NodeError('E_NOT_FOUND')
  return row
}

/**
 * The states a connection list may show the caller, given the one asked for (undefined: any). Someone
 * who sees accepted connections only gets them, or nothing when they asked for another state.
 */
export function visibleConnectionStates(
  principal: Principal,
  requested: ConnectionState | undefined,
): ConnectionState[] | undefined {
  if (seesAllConnections(principal)) return requested === undefined ? undefined : [requested]
  return requested === undefined || requested === 'accepted' ? ['accepted'] : []
}

/**
 * A channel is read and written by its members; an administrator reads every channel (by role,
 * whatever the key: what a key may call at all is its scopes' business). Anything else is "not found",
 * like a channel that does not exist.
 */
export function readableChannel(tx: Tx, principal: Principal, channelId: number): ChannelRow {
  const channel = findChannel(tx, channelId)
  if (!channel || (!seesEverything(principal) && !isMember(tx, channelId, principal.userId)))
    throw new NodeError('E_NOT_FOUND')
  return channel
}

/**
 * The same rule as a condition on a column holding a channel id, for lists: undefined (no limit) for
 * an administrator, the channels the caller is a member of otherwise.
 */
export function readableChannelCondition(principal: Principal, channelId: SQLiteColumn): SQL | undefined {
  if (seesEverything(principal)) return undefined
  return sql`${channelId} in (select ${ochatChannelMembers.channelId} from ${ochatChannelMembers} where ${ochatChannelMembers.userId} = ${principal.userId})`
}

/** A bulk send is its author's: an administrator sees every one; anything else is "not found". */
export function visibleBulk(principal: Principal, row: BulkRow | undefined): BulkRow {
  if (!row || (!seesEverything(principal) && row.authorUserId !== principal.userId))
    throw new NodeError('E_NOT_FOUND')
  return row
}

/** The same rule as a condition over `ochat_bulk_sends`, for lists. */
export function visibleBulkCondition(principal: Principal): SQL | undefined {
  if (seesEverything(principal)) return undefined
  return eq(ochatBulkSends.authorUserId, principal.userId)
}
