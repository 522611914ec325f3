import type { Tx } from '../db/client.ts'
import { NodeError } from '../errors.ts'
import type { Effects } from '../live/events.ts'
import { addDays, daysBetween, laterDate, localDate, shiftByDays } from './dates.ts'
import { type ActivityRow, findAssignee, updateOpenActivity } from './repository.ts'
import { assertOpen } from './update-activity.ts'

/** Snooze: a week later than the deadline, or than today if that is later, so it never lands in the past. */
const SNOOZE_DAYS = 7

/**
 * Snoozes an open activity: deadline = max(deadline, the assignee's today) + 7 days. A start time
 * moves with it, at the same wall-clock time. Nobody is notified: the assignee is not changing.
 */
export function snoozeActivity(
  tx: Tx,
  input: { activity: ActivityRow; now: number; effects: Effects },
): ActivityRow {
  const { activity } = input
  assertOpen(activity)
  const assignee = findAssignee(tx, activity.assigneeId)
  if (!assignee) throw new Error(`activity ${activity.id} lost its assignee`)
  const today = localDate(input.now, assignee.timeZone)
  const deadline = addDays(laterDate(activity.deadline, today), SNOOZE_DAYS)
  const updated = updateOpenActivity(tx, activity.id, {
    deadline,
    startsAt:
      activity.startsAt === null
        ? null
        : shiftByDays(activity.startsAt, daysBetween(activity.deadline, deadline), assignee.timeZone),
    updatedAt: input.now,
  })
  if (!updated) throw new NodeError('E_ACTIVITY_CLOSED')
  input.effects.events.push(
    { scope: 'record', recordId: activity.recordId, type: 'activities.changed' },
    { scope: 'user', userId: activity.assigneeId, type: 'activities.changed' },
  )
  return updated
}
