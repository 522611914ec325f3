import type { Principal } from '../auth/principal.ts'
import type { Tx } from '../db/client.ts'
import { NodeError } from '../errors.ts'
import type { Effects } from '../live/events.ts'
import type { Model } from '../models/registry.ts'
import type { RecordRow } from '../records/repository.ts'
import { daysBetween, localDate, shiftByDays } from './dates.ts'
import { notifyAssignee } from './notify-assignee.ts'
import { type ActivityRow, type Assignee, findAssignee, typeById, updateOpenActivity } from './repository.ts'
import { assertTimed, followAsAssignee } from './schedule-activity.ts'

/** Done and canceled activities are kept as they ended, for reporting. */
export function assertOpen(activity: ActivityRow): void {
  if (activity.status !== 'open')
    throw new NodeError(
      'E_ACTIVITY_CLOSED',
      `the activity is ${activity.status === 'done' ? 'done' : 'canceled'}`,
    )
}

/**
 * Changes an open activity: reschedule (deadline), reassign (the new assignee follows the record and
 * is told, unless they reassigned it to themselves), edit the summary, note or start time. Moving the
 * deadline of a call or meeting with a start time moves the start by the same number of days, at the
 * same time on the assignee's wall clock.
 */
export function updateActivity(
  tx: Tx,
  input: {
    principal: Principal
    record: RecordRow
    model: Model
    activity: ActivityRow
    /** The new assignee, already checked to be an active user. */
    assignee: Assignee | undefined
    deadline: string | undefined
    summary: string | null | undefined
    /** Sanitized HTML. */
    note: string | undefined
    /** Epoch ms; null removes the start time. */
    startsAt: number | null | undefined
    durationMinutes: number | null | undefined
    site: { company: string; publicUrl: string }
    now: number
    effects: Effects
  },
): ActivityRow {
  const { activity } = input
  assertOpen(activity)
  const type = typeById(tx, activity.typeId)
  const current = findAssignee(tx, activity.assigneeId)
  if (!type || !current) throw new Error(`activity ${activity.id} lost its type or assignee`)
  if (input.startsAt !== undefined && input.startsAt !== null) assertTimed(type)
  if (input.durationMinutes !== undefined && input.durationMinutes !== null) assertTimed(type)
  const assignee = input.assignee ?? current

  let startsAt = input.startsAt === undefined ? activity.startsAt : input.startsAt
  const deadline =
    input.deadline ??
    (input.startsAt !== undefined && input.startsAt !== null
      ? localDate(input.startsAt, assignee.timeZone)
      : activity.deadline)
  if (input.startsAt === undefined && startsAt !== null)
    startsAt = shiftByDays(startsAt, daysBetween(activity.deadline, deadline), assignee.timeZone)

  const updated = updateOpenActivity(tx, activity.id, {
    deadline,
    assigneeId: assignee.userId,
    ...(input.summary !== undefined ? { summary: input.summary || null } : {}),
    ...(input.note !== undefined ? { note: input.note } : {}),
    startsAt,
    ...(input.durationMinutes !== undefined ? { durationMinutes: input.durationMinutes } : {}),
    updatedAt: input.now,
  })
  if (!updated) throw new NodeError('E_ACTIVITY_CLOSED')

  input.effects.events.push(
    { scope: 'record', recordId: activity.recordId, type: 'activities.changed' },
    { scope: 'user', userId: assignee.userId, type: 'activities.changed' },
  )
  if (assignee.userId !== activity.assigneeId) {
    input.effects.events.push({ scope: 'user', userId: activity.assigneeId, type: 'activities.changed' })
    followAsAssignee(tx, { recordId: activity.recordId, assignee, now: input.now, effects: input.effects })
    notifyAssignee(tx, { ...input, activity: updated, type, assignee })
  }
  return updated
}
