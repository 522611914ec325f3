import { eq, inArray } from 'drizzle-orm'
import { alias } from 'drizzle-orm/sqlite-core'
import { z } from 'zod'
import { plainText } from '../chatter/body.ts'
import type { Tx } from '../db/client.ts'
import { activities, activityTypes, partners, users } from '../db/schema.ts'

/** What an inbox entry about an activity says of it. */
export const InboxActivitySchema = z.object({
  id: z.int(),
  type: z.object({ key: z.string(), name: z.string() }),
  /** The summary, else the note's first words, else null. */
  summary: z.string().nullable(),
  /** `YYYY-MM-DD`. */
  deadline: z.string(),
  status: z.enum(['open', 'done', 'canceled']),
  /** Who scheduled it; null when nobody did (an automation rule). */
  assignedBy: z.string().nullable(),
  assignee: z.string(),
})
export type InboxActivity = z.infer<typeof InboxActivitySchema>

const creatorUser = alias(users, 'creator_user')
const creatorPartner = alias(partners, 'creator_partner')

/**
 * The activities the given inbox notifications are about, by activity id. A deleted activity is
 * absent: its entry still names the record.
 */
export function inboxActivities(tx: Tx, activityIds: number[]): Map<number, InboxActivity> {
  if (activityIds.length === 0) return new Map()
  const rows = tx
    .select({
      id: activities.id,
      typeKey: activityTypes.key,
      typeName: activityTypes.name,
      summary: activities.summary,
      note: activities.note,
      deadline: activities.deadline,
      status: activities.status,
      assignee: partners.name,
      assignedBy: creatorPartner.name,
    })
    .from(activities)
    .innerJoin(activityTypes, eq(activityTypes.id, activities.typeId))
    .innerJoin(users, eq(users.id, activities.assigneeId))
    .innerJoin(partners, eq(partners.id, users.partnerId))
    .leftJoin(creatorUser, eq(creatorUser.id, activities.createdBy))
    .leftJoin(creatorPartner, eq(creatorPartner.id, creatorUser.partnerId))
    .where(inArray(activities.id, activityIds))
    .all()
  return new Map(
    rows.map((row) => [
      row.id,
      {
        id: row.id,
        type: { key: row.typeKey, name: row.typeName },
        summary: row.summary ?? (plainText(row.note).slice(0, 80) || null),
        deadline: row.deadline,
        status: row.status,
        assignedBy: row.assignedBy,
        assignee: row.assignee,
      },
    ]),
  )
}
