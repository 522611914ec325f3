import { and, eq, isNull } from 'drizzle-orm'
import type { Principal } from '../auth/principal.ts'
import { escapeHtml, sanitizeBody } from '../chatter/body.ts'
import { attachFiles } from '../chatter/post-message.ts'
import { insertMessage, subtypeByKey } from '../chatter/repository.ts'
import type { Tx } from '../db/client.ts'
import { attachments } from '../db/schema.ts'
import { NodeError } from '../errors.ts'
import type { Effects } from '../live/events.ts'
import type { Model } from '../models/registry.ts'
import { messageMail } from '../notifications/mail-content.ts'
import { notifyMessage } from '../notifications/notify.ts'
import type { RecordRow } from '../records/repository.ts'
import { activityWebhook } from '../webhooks/emit.ts'
import { addDelay, localDate } from './dates.ts'
import {
  type ActivityRow,
  type ActivityTypeRow,
  type Assignee,
  findAssignee,
  typeById,
  typeByKey,
  updateOpenActivity,
} from './repository.ts'
import { scheduleActivity } from './schedule-activity.ts'
import { assertOpen } from './update-activity.ts'

type Site = { company: string; publicUrl: string }

/**
 * Marks an activity done: posts an activity message on the record (subtype
 * Activities, internal, so it never reaches an external follower) with the type, summary, original
 * note, feedback and who it was assigned to when someone else did it; moves the activity's files and
 * the caller's uploads onto that message; keeps the activity as `done` with its feedback (never
 * deleted, for reporting); then schedules the next activity when the type triggers one, or returns
 * the types it suggests.
 */
export function markActivityDone(
  tx: Tx,
  input: {
    principal: Principal
    record: RecordRow
    model: Model
    activity: ActivityRow
    /** Plain text. */
    feedback: string | undefined
    /** Files the caller uploaded beforehand, not on a message yet. */
    attachmentIds: number[]
    site: Site
    now: number
    effects: Effects
  },
): { activity: ActivityRow; messageId: number; triggered: ActivityRow | null; suggestedTypes: string[] } {
  const { principal, record, activity } = input
  assertOpen(activity)
  const type = typeById(tx, activity.typeId)
  const assignee = findAssignee(tx, activity.assigneeId)
  if (!type || !assignee) throw new Error(`activity ${activity.id} lost its type or assignee`)
  const feedback = input.feedback || null

  const html = doneBody({ activity, type, assignee, feedback, doneByUserId: principal.userId })
  const subtype = subtypeByKey(tx, 'activities')
  const message = insertMessage(tx, {
    recordId: record.id,
    type: 'notification',
    kind: 'activity',
    subtypeId: subtype.id,
    internal: subtype.internal,
    authorPartnerId: principal.partnerId,
    body: html,
    activityTypeId: type.id,
    createdAt: input.now,
  })
  tx.update(attachments)
    .set({ recordId: record.id, messageId: message.id })
    .where(and(eq(attachments.activityId, activity.id), isNull(attachments.messageId)))
    .run()
  attachFiles(tx, {
    ids: input.attachmentIds,
    userId: principal.userId,
    recordId: record.id,
    messageId: message.id,
  })
  const done = updateOpenActivity(tx, activity.id, {
    status: 'done',
    doneAt: input.now,
    doneBy: principal.userId,
    feedback,
    updatedAt: input.now,
  })
  if (!done) throw new NodeError('E_ACTIVITY_CLOSED')
  activityWebhook(tx, 'activity.done', { activity: done, typeKey: type.key, now: input.now })

  notifyMessage(tx, {
    message: {
      id: message.id,
      recordId: record.id,
      internal: message.internal,
      subtypeKey: subtype.key,
      authorPartnerId: principal.partnerId,
    },
    explicit: [],
    mail: messageMail({
      ...input.site,
      record,
      modelLabel: input.model.label,
      authorName: principal.name,
      html,
      tracking: [],
    }),
    now: input.now,
    effects: input.effects,
  })
  input.effects.events.push(
    { scope: 'record', recordId: record.id, type: 'message.created', messageId: message.id },
    { scope: 'record', recordId: record.id, type: 'activities.changed' },
    { scope: 'user', userId: activity.assigneeId, type: 'activities.changed' },
  )

  const next = nextTypes(tx, type)
  const triggerType = type.chaining === 'trigger' ? next[0] : undefined
  let triggered: ActivityRow | null = null
  if (triggerType) {
    const nextUser = nextAssignee(tx, triggerType, assignee, principal)
    triggered = scheduleActivity(tx, {
      principal,
      record,
      model: input.model,
      type: triggerType,
      assignee: nextUser,
      summary: null,
      note: '',
      deadline: nextDeadline({ previous: activity, next: triggerType, assignee: nextUser, now: input.now }),
      startsAt: undefined,
      durationMinutes: undefined,
      site: input.site,
      now: input.now,
      effects: input.effects,
    })
  }
  return {
    activity: done,
    messageId: message.id,
    triggered,
    suggestedTypes: type.chaining === 'suggest' ? next.map((nextType) => nextType.key) : [],
  }
}

function doneBody(input: {
  activity: ActivityRow
  type: ActivityTypeRow
  assignee: Assignee
  feedback: string | null
  doneByUserId: number
}): string {
  const { activity, type } = input
  const summary = activity.summary ? `: ${escapeHtml(activity.summary)}` : ''
  const parts = [`<p><strong>${escapeHtml(type.name)} done</strong>${summary}</p>`]
  if (activity.note) parts.push(`<blockquote>${activity.note}</blockquote>`)
  if (input.feedback) parts.push(`<p>Feedback: ${escapeHtml(input.feedback).replace(/\r?\n/g, '<br />')}</p>`)
  if (input.doneByUserId !== activity.assigneeId)
    parts.push(`<p>(originally assigned to ${escapeHtml(input.assignee.name)})</p>`)
  // The note was sanitized when it was written; sanitizing the whole again costs little and keeps
  // this body as safe as any other message body.
  return sanitizeBody(parts.join(''))
}

/** The active types a type chains to, in the order it lists them (a missing or archived one is skipped). */
function nextTypes(tx: Tx, type: ActivityTypeRow): ActivityTypeRow[] {
  if (type.chaining === 'none') return []
  return type.nextTypeKeys
    .map((key) => typeByKey(tx, key))
    .filter((next): next is ActivityTypeRow => next?.active === true)
}

/** The next type's default user wins; else the same assignee; else, if they left, whoever did it. */
function nextAssignee(tx: Tx, next: ActivityTypeRow, previous: Assignee, principal: Principal): Assignee {
  const byDefault = next.defaultUserId === null ? undefined : findAssignee(tx, next.defaultUserId)
  if (byDefault?.active) return byDefault
  if (previous.active) return previous
  const caller = findAssignee(tx, principal.userId)
  if (!caller) throw new Error(`user ${principal.userId} is missing`)
  return caller
}

/**
 * The next deadline: the next type's delay after the previous deadline (`previous_activity`), or after
 * the completion date on the assignee's wall clock (`current_date`).
 */
function nextDeadline(input: {
  previous: ActivityRow
  next: ActivityTypeRow
  assignee: Assignee
  now: number
}) {
  const from =
    input.next.delayFrom === 'previous_activity'
      ? input.previous.deadline
      : localDate(input.now, input.assignee.timeZone)
  return addDelay(from, input.next.delayCount, input.next.delayUnit)
}
