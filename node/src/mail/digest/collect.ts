import { and, asc, desc, eq, gt, isNull, lte, sql } from 'drizzle-orm'
import type { Principal } from '../../auth/principal.ts'
import { plainText } from '../../chatter/body.ts'
import type { Tx } from '../../db/client.ts'
import {
  activities,
  activityTypes,
  messages,
  models,
  notifications,
  partners,
  records,
} from '../../db/schema.ts'
import { readableAnyModelCondition, visibleInboxCondition } from '../../policies/index.ts'

/** Unread notifications read for one digest: enough for a day, bounded for someone who reads none. */
const MAX_UNREAD = 1000
/** Records listed; the others are counted. */
const MAX_RECORDS = 20
/** The latest message snippets shown per record, and their length in characters. */
const SNIPPETS_PER_RECORD = 3
const SNIPPET_CHARS = 160
const MAX_ACTIVITIES = 20
const DAY_MS = 24 * 3600 * 1000

/** The user a digest is for, as the scheduler reads them. */
export type DigestUser = {
  userId: number
  partnerId: number
  role: 'admin' | 'user'
  name: string
  timeZone: string
  notification: 'inbox' | 'email'
}

export type DigestRecord = {
  id: number
  name: string
  /** The model's label, e.g. "Lead". */
  model: string
  /** Unread notifications about it. */
  unread: number
  /** The latest messages that may be emailed, newest first. */
  snippets: { author: string | null; text: string }[]
  /** Unread internal messages (notes): counted, their text is never emailed. */
  internal: number
}

export type DigestContent = {
  records: DigestRecord[]
  /** Records with unread notifications past MAX_RECORDS, and their notifications. */
  moreRecords: { records: number; unread: number }
  activities: {
    id: number
    type: string
    summary: string | null
    deadline: string
    overdue: boolean
    record: { id: number; name: string; model: string }
  }[]
  moreActivities: boolean
  /** The user's messages whose emails failed or bounced since the last digest, per record. */
  failed: { record: { id: number; name: string; model: string }; count: number }[]
}

/**
 * The user as the access rules see them: the digest shows what their inbox would show them now,
 * under the very conditions the inbox uses (policies/), never more.
 */
function principalOf(user: DigestUser): Principal {
  return {
    userId: user.userId,
    partnerId: user.partnerId,
    role: user.role,
    name: user.name,
    timeZone: user.timeZone,
    notification: user.notification,
    scopes: null,
    via: 'session',
  }
}

/**
 * Where a digest's window starts: the last digest queued to this user. Without one in the last week,
 * the last two days: a day skipped for having nothing to say leaves no row, and the window must still
 * reach back to that day's look, or what came just after it would never be told. Reaching further back
 * repeats nothing: whatever was before that look was read, or it would have been told then.
 */
export function digestWindowStart(tx: Tx, input: { partnerId: number; now: number }): number {
  const last = tx
    .select({ at: notifications.createdAt })
    .from(notifications)
    .where(
      and(
        isNull(notifications.recordId),
        eq(notifications.partnerId, input.partnerId),
        // Spelled literally, as the partial index on digests is.
        sql`${notifications.reason} = 'digest'`,
      ),
    )
    .orderBy(desc(notifications.id))
    .limit(1)
    .get()
  // A digest turned off for weeks does not bring back weeks of old unread notifications.
  return last && last.at > input.now - 7 * DAY_MS ? last.at : input.now - 2 * DAY_MS
}

/** What one user's digest says: unread notifications by record, activities due, emails that failed. */
export function collectDigest(
  tx: Tx,
  input: { user: DigestUser; since: number; today: string },
): DigestContent {
  const principal = principalOf(input.user)
  const { records: listed, more } = unreadByRecord(tx, principal, input.since)
  const due = dueActivities(tx, principal, input.today)
  return {
    records: listed,
    moreRecords: more,
    activities: due.slice(0, MAX_ACTIVITIES),
    moreActivities: due.length > MAX_ACTIVITIES,
    failed: failedEmails(tx, principal, input.since),
  }
}

function unreadByRecord(tx: Tx, principal: Principal, since: number) {
  const rows = tx
    .select({
      recordId: records.id,
      recordName: records.name,
      model: models.label,
      body: messages.body,
      internal: messages.internal,
      deletedAt: messages.deletedAt,
      author: partners.name,
    })
    .from(notifications)
    .innerJoin(records, eq(records.id, notifications.recordId))
    .innerJoin(models, eq(models.id, records.modelId))
    .leftJoin(messages, eq(messages.id, notifications.messageId))
    .leftJoin(partners, eq(partners.id, messages.authorPartnerId))
    .where(
      and(visibleInboxCondition(principal), isNull(notifications.readAt), gt(notifications.createdAt, since)),
    )
    .orderBy(desc(notifications.id))
    .limit(MAX_UNREAD)
    .all()
  // Newest first, so records come in the order of their latest news.
  const byRecord = new Map<number, DigestRecord>()
  for (const row of rows) {
    let entry = byRecord.get(row.recordId)
    if (!entry) {
      entry = {
        id: row.recordId,
        name: row.recordName,
        model: row.model,
        unread: 0,
        snippets: [],
        internal: 0,
      }
      byRecord.set(row.recordId, entry)
    }
    entry.unread++
    // A log note is never emailed (notifications/notify.ts), the digest included: it is counted only.
    if (row.internal === true) entry.internal++
    else if (row.body && row.deletedAt === null && entry.snippets.length < SNIPPETS_PER_RECORD) {
      const text = plainText(row.body)
      if (text) entry.snippets.push({ author: row.author, text: shorten(text) })
    }
  }
  const all = [...byRecord.values()]
  const rest = all.slice(MAX_RECORDS)
  return {
    records: all.slice(0, MAX_RECORDS),
    more: { records: rest.length, unread: rest.reduce((sum, entry) => sum + entry.unread, 0) },
  }
}

/** Open activities assigned to the user, overdue or due on their today, on records they may read. */
function dueActivities(tx: Tx, principal: Principal, today: string): DigestContent['activities'] {
  return tx
    .select({
      id: activities.id,
      type: activityTypes.name,
      summary: activities.summary,
      deadline: activities.deadline,
      recordId: records.id,
      recordName: records.name,
      model: models.label,
    })
    .from(activities)
    .innerJoin(activityTypes, eq(activityTypes.id, activities.typeId))
    .innerJoin(records, eq(records.id, activities.recordId))
    .innerJoin(models, eq(models.id, records.modelId))
    .where(
      and(
        eq(activities.assigneeId, principal.userId),
        eq(activities.status, 'open'),
        lte(activities.deadline, today),
        readableAnyModelCondition(principal),
      ),
    )
    .orderBy(asc(activities.deadline), asc(activities.id))
    .limit(MAX_ACTIVITIES + 1)
    .all()
    .map((row) => ({
      id: row.id,
      type: row.type,
      summary: row.summary,
      deadline: row.deadline,
      overdue: row.deadline < today,
      record: { id: row.recordId, name: row.recordName, model: row.model },
    }))
}

/** Emails of the user's own messages that failed or bounced, queued since `since`, per readable record. */
function failedEmails(tx: Tx, principal: Principal, since: number): DigestContent['failed'] {
  return tx
    .select({
      recordId: records.id,
      recordName: records.name,
      model: models.label,
      count: sql<number>`count(*)`,
    })
    .from(notifications)
    .innerJoin(messages, eq(messages.id, notifications.messageId))
    .innerJoin(records, eq(records.id, notifications.recordId))
    .innerJoin(models, eq(models.id, records.modelId))
    .where(
      and(
        // Spelled literally, as the partial index that holds only these rows is.
        sql`${notifications.channel} = 'email' and ${notifications.emailStatus} in ('failed', 'bounced')`,
        eq(messages.authorPartnerId, principal.partnerId),
        gt(sql`coalesce(${notifications.emailQueuedAt}, ${notifications.createdAt})`, since),
        readableAnyModelCondition(principal),
      ),
    )
    .groupBy(records.id)
    .orderBy(asc(records.name))
    .limit(MAX_RECORDS)
    .all()
    .map((row) => ({
      record: { id: row.recordId, name: row.recordName, model: row.model },
      count: Number(row.count),
    }))
}

function shorten(text: string): string {
  return text.length > SNIPPET_CHARS ? `${text.slice(0, SNIPPET_CHARS - 1).trimEnd()}…` : text
}

/** True when the digest would say nothing: the day is skipped. */
export function isEmpty(content: DigestContent): boolean {
  return content.records.length === 0 && content.activities.length === 0 && content.failed.length === 0
}
