import type { Principal } from '../auth/principal.ts'
import type { Tx } from '../db/client.ts'
import { NodeError } from '../errors.ts'
import { follow } from '../followers/repository.ts'
import type { Effects } from '../live/events.ts'
import type { Model } from '../models/registry.ts'
import type { RecordRow } from '../records/repository.ts'
import { activityWebhook } from '../webhooks/emit.ts'
import { addDelay, localDate } from './dates.ts'
import { notifyAssignee } from './notify-assignee.ts'
import {
  type ActivityRow,
  type ActivityTypeRow,
  type Assignee,
  findAssignee,
  insertActivity,
  typeByKey,
} from './repository.ts'

/** Only these categories have a time of day; the others are due on a date. */
const TIMED_CATEGORIES = new Set(['phonecall', 'meeting'])

export function assertTimed(type: ActivityTypeRow): void {
  if (!TIMED_CATEGORIES.has(type.category))
    throw new NodeError(
      'E_INVALID_BODY',
      `startsAt: only calls and meetings have a start time, not "${type.key}"`,
    )
}

/** An active activity type, or E_INVALID_BODY naming the key. */
export function resolveType(tx: Tx, key: string): ActivityTypeRow {
  const type = typeByKey(tx, key)
  if (!type?.active) throw new NodeError('E_INVALID_BODY', `type: there is no activity type "${key}"`)
  return type
}

/** An active user to assign to, or E_INVALID_BODY. */
export function resolveAssignee(tx: Tx, userId: number): Assignee {
  const assignee = findAssignee(tx, userId)
  if (!assignee?.active)
    throw new NodeError('E_INVALID_BODY', `assigneeId: there is no active user ${userId}`)
  return assignee
}

/**
 * Schedules an activity on a record. The deadline defaults to the assignee's
 * today plus the type's delay, or to the start date of a call or meeting, both on the assignee's wall
 * clock. The assignee follows the record (their own choice, if they already follow, is kept) and is
 * told, unless they scheduled it for themselves.
 */
export function scheduleActivity(
  tx: Tx,
  input: {
    principal: Principal
    record: RecordRow
    model: Model
    type: ActivityTypeRow
    assignee: Assignee
    summary: string | null
    /** Sanitized HTML. */
    note: string
    deadline: string | undefined
    /** Epoch ms; calls and meetings only. */
    startsAt: number | undefined
    durationMinutes: number | undefined
    site: { company: string; publicUrl: string }
    now: number
    effects: Effects
  },
): ActivityRow {
  const { type, assignee, record } = input
  if (input.startsAt !== undefined || input.durationMinutes !== undefined) assertTimed(type)
  const deadline =
    input.deadline ??
    (input.startsAt !== undefined
      ? localDate(input.startsAt, assignee.timeZone)
      : addDelay(localDate(input.now, assignee.timeZone), type.delayCount, type.delayUnit))
  const activity = insertActivity(tx, {
    recordId: record.id,
    typeId: type.id,
    summary: input.summary || type.defaultSummary || null,
    note: input.note,
    deadline,
    startsAt: input.startsAt ?? null,
    durationMinutes: input.durationMinutes ?? null,
    assigneeId: assignee.userId,
    createdBy: input.principal.userId,
    createdAt: input.now,
    updatedAt: input.now,
  })
  followAsAssignee(tx, { recordId: record.id, assignee, now: input.now, effects: input.effects })
  notifyAssignee(tx, { ...input, activity })
  activityWebhook(tx, 'activity.scheduled', { activity, typeKey: type.key, now: input.now })
  input.effects.events.push(
    { scope: 'record', recordId: record.id, type: 'activities.changed' },
    { scope: 'user', userId: assignee.userId, type: 'activities.changed' },
  )
  return activity
}

/** The assignee follows the record, to hear about what they must act on; an existing choice is kept. */
export function followAsAssignee(
  tx: Tx,
  input: { recordId: number; assignee: Assignee; now: number; effects: Effects },
): void {
  const { created } = follow(tx, {
    recordId: input.recordId,
    partnerId: input.assignee.partnerId,
    subscription: 'all',
    now: input.now,
    existing: 'keep',
  })
  if (created)
    input.effects.events.push({ scope: 'record', recordId: input.recordId, type: 'followers.changed' })
}
