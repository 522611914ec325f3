import { and, asc, count, eq, gt, inArray, lt, or, type SQL } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { activities, activityTypes, models, partners, records, users } from '../db/schema.ts'
import type { ActivityState } from './schema.ts'

export type ActivityRow = typeof activities.$inferSelect
export type ActivityTypeRow = typeof activityTypes.$inferSelect

/** Active types, in their order; with `archived`, the archived ones too. */
export function listTypes(tx: Tx, options: { archived?: boolean } = {}): ActivityTypeRow[] {
  return tx
    .select()
    .from(activityTypes)
    .where(options.archived ? undefined : eq(activityTypes.active, true))
    .orderBy(asc(activityTypes.sequence), asc(activityTypes.id))
    .all()
}

export function typeByKey(tx: Tx, key: string): ActivityTypeRow | undefined {
  return tx.select().from(activityTypes).where(eq(activityTypes.key, key)).get()
}

export function typeById(tx: Tx, id: number): ActivityTypeRow | undefined {
  return tx.select().from(activityTypes).where(eq(activityTypes.id, id)).get()
}

/** A user as an assignee: who they are, where they live (time zone), how to reach them. */
export function findAssignee(tx: Tx, userId: number) {
  return tx
    .select({
      userId: users.id,
      partnerId: users.partnerId,
      name: partners.name,
      timeZone: users.timeZone,
      active: users.active,
    })
    .from(users)
    .innerJoin(partners, eq(partners.id, users.partnerId))
    .where(eq(users.id, userId))
    .get()
}
export type Assignee = NonNullable<ReturnType<typeof findAssignee>>

export function insertActivity(tx: Tx, row: typeof activities.$inferInsert): ActivityRow {
  return tx.insert(activities).values(row).returning().get()
}

export function findActivity(tx: Tx, id: number): ActivityRow | undefined {
  return tx.select().from(activities).where(eq(activities.id, id)).get()
}

/** Changes an open activity; undefined when it is not open any more. */
export function updateOpenActivity(
  tx: Tx,
  id: number,
  patch: Partial<typeof activities.$inferInsert>,
): ActivityRow | undefined {
  return tx
    .update(activities)
    .set(patch)
    .where(and(eq(activities.id, id), eq(activities.status, 'open')))
    .returning()
    .get()
}

/** A record without an access check: only for an assignee acting on their own activity. */
export function findRecord(tx: Tx, id: number) {
  return tx.select().from(records).where(eq(records.id, id)).get()
}

/** Activities with what presenting them needs: type, assignee (name, time zone) and record. */
function selectDetails(tx: Tx) {
  return tx
    .select({
      activity: activities,
      type: { key: activityTypes.key, name: activityTypes.name, icon: activityTypes.icon },
      assignee: { name: partners.name, timeZone: users.timeZone },
      record: { id: records.id, name: records.name, model: models.name },
    })
    .from(activities)
    .innerJoin(activityTypes, eq(activityTypes.id, activities.typeId))
    .innerJoin(users, eq(users.id, activities.assigneeId))
    .innerJoin(partners, eq(partners.id, users.partnerId))
    .innerJoin(records, eq(records.id, activities.recordId))
    .innerJoin(models, eq(models.id, records.modelId))
}
export type ActivityDetail = ReturnType<ReturnType<typeof selectDetails>['all']>[number]

export function activityDetail(tx: Tx, id: number): ActivityDetail | undefined {
  return selectDetails(tx).where(eq(activities.id, id)).get()
}

/** A record's open activities, soonest first. */
export function openActivitiesOfRecord(tx: Tx, recordId: number): ActivityDetail[] {
  return selectDetails(tx)
    .where(and(eq(activities.recordId, recordId), eq(activities.status, 'open')))
    .orderBy(asc(activities.deadline), asc(activities.id))
    .all()
}

/** Open activities of some records with their assignee's time zone (for the records' worst state). */
export function openDeadlinesOfRecords(tx: Tx, recordIds: number[]) {
  if (recordIds.length === 0) return []
  return tx
    .select({ recordId: activities.recordId, deadline: activities.deadline, timeZone: users.timeZone })
    .from(activities)
    .innerJoin(users, eq(users.id, activities.assigneeId))
    .where(and(inArray(activities.recordId, recordIds), eq(activities.status, 'open')))
    .all()
}

/**
 * "My activities" reads through the `activities_assignee` index (assignee, status, deadline): the
 * state of each of a user's activities is a range of deadlines around their today, so counts are
 * three index range counts and a page is an index range walk, whatever the number of activities.
 */
function stateCondition(state: ActivityState, today: string): SQL {
  if (state === 'overdue') return lt(activities.deadline, today)
  if (state === 'today') return eq(activities.deadline, today)
  return gt(activities.deadline, today)
}

const mineOpen = (userId: number) => and(eq(activities.assigneeId, userId), eq(activities.status, 'open'))

export function countMine(tx: Tx, userId: number, today: string): Record<ActivityState, number> {
  const countOf = (state: ActivityState) =>
    tx
      .select({ n: count() })
      .from(activities)
      .where(and(mineOpen(userId), stateCondition(state, today)))
      .get()?.n ?? 0
  return { overdue: countOf('overdue'), today: countOf('today'), planned: countOf('planned') }
}

/** Where a page of "my activities" resumes: after this (deadline, id). */
export type MyCursor = { deadline: string; id: number }

export function pageOfMine(
  tx: Tx,
  input: {
    userId: number
    today: string
    state: ActivityState | undefined
    after: MyCursor | undefined
    limit: number
  },
): ActivityDetail[] {
  const { after } = input
  return selectDetails(tx)
    .where(
      and(
        mineOpen(input.userId),
        input.state ? stateCondition(input.state, input.today) : undefined,
        after
          ? or(
              gt(activities.deadline, after.deadline),
              and(eq(activities.deadline, after.deadline), gt(activities.id, after.id)),
            )
          : undefined,
      ),
    )
    .orderBy(asc(activities.deadline), asc(activities.id))
    .limit(input.limit)
    .all()
}

/** A user's open calls and meetings, for the calendar feed. */
export function openEventsOf(tx: Tx, userId: number): ActivityDetail[] {
  return selectDetails(tx)
    .where(and(mineOpen(userId), inArray(activityTypes.category, ['phonecall', 'meeting'])))
    .orderBy(asc(activities.deadline), asc(activities.id))
    .all()
}
