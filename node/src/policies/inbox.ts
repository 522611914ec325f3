import { and, eq, type SQL, sql } from 'drizzle-orm'
import type { Principal } from '../auth/principal.ts'
import { notifications } from '../db/schema.ts'
import { readableAnyModelCondition } from './records.ts'

/**
 * A user's own inbox notifications, and nobody else's: marking one read answers 404 for another's,
 * like one that does not exist. The literal 'inbox' (not a bound parameter) lets SQLite use the
 * partial index notifications_inbox.
 */
export function ownInboxCondition(principal: Principal): SQL {
  return defined(
    and(eq(notifications.partnerId, principal.partnerId), sql`${notifications.channel} = 'inbox'`),
  )
}

/**
 * What the inbox shows: the user's own notifications about records they may still read. Someone who
 * lost access to a record (unfollowed, unassigned) no longer reads it here. A query using it must
 * join `records` and `models`.
 */
export function visibleInboxCondition(principal: Principal): SQL {
  return defined(and(ownInboxCondition(principal), readableAnyModelCondition(principal)))
}

/**
 * `and()` answers undefined only when every part is undefined; a missing inbox condition would mean
 * everyone's notifications, so it is a bug, never a filter to drop.
 */
function defined(condition: SQL | undefined): SQL {
  if (condition === undefined) throw new Error('inbox condition is empty')
  return condition
}
