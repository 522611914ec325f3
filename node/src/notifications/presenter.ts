import { z } from 'zod'
import { MessageViewSchema, presentMessage } from '../chatter/presenter.ts'
import type { messageDetails } from '../chatter/repository.ts'
import { type InboxActivity, InboxActivitySchema } from './inbox-activities.ts'
import type { InboxRow } from './repository.ts'

export const InboxItemSchema = z.object({
  id: z.int(),
  /** message: a followed record's message; mention; assigned: made responsible; activity: given one. */
  reason: z.enum(['message', 'mention', 'assigned', 'activity']),
  read: z.boolean(),
  createdAt: z.int(),
  record: z.object({ id: z.int(), name: z.string(), model: z.string() }),
  /** null for notifications that are not about a message (an activity given). */
  message: MessageViewSchema.nullable(),
  activityId: z.int().nullable(),
  /** The activity an `activity` notification is about; null for the others or once it is deleted. */
  activity: InboxActivitySchema.nullable(),
})
export type InboxItem = z.infer<typeof InboxItemSchema>

export function presentInboxItem(
  row: InboxRow,
  details: ReturnType<typeof messageDetails>,
  activities: Map<number, InboxActivity>,
): InboxItem {
  return {
    id: row.notification.id,
    reason: row.notification.reason,
    read: row.notification.readAt !== null,
    createdAt: row.notification.createdAt,
    record: { id: row.record.id, name: row.record.name, model: row.model },
    message: row.message ? presentMessage(row.message, details) : null,
    activityId: row.notification.activityId,
    activity:
      row.notification.activityId === null ? null : (activities.get(row.notification.activityId) ?? null),
  }
}

export const InboxCountersSchema = z.object({
  /** Unread notifications in all. */
  unread: z.int(),
  records: z.array(z.object({ recordId: z.int(), name: z.string(), model: z.string(), unread: z.int() })),
})
export type InboxCounters = z.infer<typeof InboxCountersSchema>

export function presentCounters(rows: InboxCounters['records']): InboxCounters {
  return {
    unread: rows.reduce((sum, row) => sum + row.unread, 0),
    records: rows.map((row) => ({
      recordId: row.recordId,
      name: row.name,
      model: row.model,
      unread: row.unread,
    })),
  }
}

export const MarkedSchema = z.object({
  /** How many notifications were unread and are now read. */
  marked: z.int(),
})
