import { z } from 'zod'
import { localDate } from './dates.ts'
import type { ActivityDetail, ActivityTypeRow } from './repository.ts'
import { type ActivityState, ActivityStateSchema } from './schema.ts'
import { isOpenState, stateOn, worstState } from './state.ts'

export const ActivityTypeViewSchema = z.object({
  id: z.int(),
  key: z.string(),
  name: z.string(),
  icon: z.string(),
  /** default | phonecall | meeting | upload | signature */
  category: z.string(),
  /** Added to the assignee's today for the default deadline, and to chain the next activity. */
  delay: z.object({
    count: z.int(),
    unit: z.enum(['days', 'weeks', 'months']),
    /** previous_activity: after the previous deadline; current_date: after completion. */
    from: z.enum(['previous_activity', 'current_date']),
  }),
  /** suggest: the next types are proposed when one is done; trigger: the first one is scheduled. */
  chaining: z.enum(['none', 'suggest', 'trigger']),
  nextTypes: z.array(z.string()),
  defaultUserId: z.int().nullable(),
  defaultSummary: z.string().nullable(),
  /** false: archived, kept for the activities that have it and offered no more. */
  active: z.boolean(),
  sequence: z.int(),
})
export type ActivityTypeView = z.input<typeof ActivityTypeViewSchema>

export const ActivityViewSchema = z.object({
  id: z.int(),
  record: z.object({ id: z.int(), name: z.string(), model: z.string() }),
  type: z.object({ key: z.string(), name: z.string(), icon: z.string() }),
  summary: z.string().nullable(),
  /** Sanitized HTML. */
  note: z.string(),
  deadline: z.string(),
  /** For open activities, their colour; otherwise how they ended. */
  state: z.enum(['overdue', 'today', 'planned', 'done', 'canceled']),
  status: z.enum(['open', 'done', 'canceled']),
  assignee: z.object({ userId: z.int(), name: z.string(), timeZone: z.string() }),
  createdBy: z.int().nullable(),
  /** ISO 8601, UTC. */
  startsAt: z.string().nullable(),
  durationMinutes: z.int().nullable(),
  feedback: z.string().nullable(),
  doneAt: z.int().nullable(),
  doneBy: z.int().nullable(),
  createdAt: z.int(),
  updatedAt: z.int(),
})
export type ActivityView = z.input<typeof ActivityViewSchema>

export const RecordActivitiesViewSchema = z.object({
  /** The worst state of the open activities; null when there is none. */
  state: ActivityStateSchema.nullable(),
  items: z.array(ActivityViewSchema),
})

export const DoneViewSchema = z.object({
  activity: ActivityViewSchema,
  /** The activity-done message in the chatter. */
  messageId: z.int(),
  /** The next activity, when the type triggers one. */
  triggered: ActivityViewSchema.nullable(),
  /** Type keys to propose next, when the type suggests some. */
  suggestedTypes: z.array(z.string()),
})

export const MyActivitiesViewSchema = z.object({
  /** The caller's today, in their time zone: what the states are computed against. */
  today: z.string(),
  counts: z.object({ overdue: z.int(), today: z.int(), planned: z.int() }),
  items: z.array(ActivityViewSchema),
  nextCursor: z.string().nullable(),
})

export const CalendarViewSchema = z.object({
  /** Subscribe to it in a calendar app; anyone with the URL sees your calls and meetings. */
  url: z.string(),
})

export function presentActivityType(row: ActivityTypeRow): ActivityTypeView {
  return {
    id: row.id,
    key: row.key,
    name: row.name,
    icon: row.icon,
    category: row.category,
    delay: { count: row.delayCount, unit: row.delayUnit, from: row.delayFrom },
    chaining: row.chaining,
    nextTypes: row.nextTypeKeys,
    defaultUserId: row.defaultUserId,
    defaultSummary: row.defaultSummary,
    active: row.active,
    sequence: row.sequence,
  }
}

/**
 * An activity as JSON. `today` may be given when every activity presented has the same assignee (one
 * "today" for a whole page); otherwise it is computed in each assignee's time zone.
 */
export function presentActivity(detail: ActivityDetail, nowMs: number, today?: string): ActivityView {
  const { activity } = detail
  const state =
    activity.status === 'open'
      ? stateOn(activity.deadline, today ?? localDate(nowMs, detail.assignee.timeZone))
      : activity.status
  return {
    id: activity.id,
    record: detail.record,
    type: detail.type,
    summary: activity.summary,
    note: activity.note,
    deadline: activity.deadline,
    state,
    status: activity.status,
    assignee: { userId: activity.assigneeId, name: detail.assignee.name, timeZone: detail.assignee.timeZone },
    createdBy: activity.createdBy,
    startsAt: activity.startsAt === null ? null : new Date(activity.startsAt).toISOString(),
    durationMinutes: activity.durationMinutes,
    feedback: activity.feedback,
    doneAt: activity.doneAt,
    doneBy: activity.doneBy,
    createdAt: activity.createdAt,
    updatedAt: activity.updatedAt,
  }
}

/** A record's open activities, and the worst of their states. */
export function presentRecordActivities(
  details: ActivityDetail[],
  nowMs: number,
): z.input<typeof RecordActivitiesViewSchema> {
  const items = details.map((detail) => presentActivity(detail, nowMs))
  return { state: worstState(items.map((item) => item.state).filter(isOpenState)), items }
}

/** What marking an activity done did: the activity, its chatter message, the next activity or types. */
export function presentDone(
  result: {
    activity: ActivityDetail
    messageId: number
    triggered: ActivityDetail | undefined
    suggestedTypes: string[]
  },
  nowMs: number,
): z.input<typeof DoneViewSchema> {
  return {
    activity: presentActivity(result.activity, nowMs),
    messageId: result.messageId,
    triggered: result.triggered ? presentActivity(result.triggered, nowMs) : null,
    suggestedTypes: result.suggestedTypes,
  }
}

/** One page of the caller's open activities; `today` is theirs, shared by the whole page. */
export function presentMyActivities(input: {
  today: string
  counts: Record<ActivityState, number>
  items: ActivityDetail[]
  nextCursor: string | null
  nowMs: number
}): z.input<typeof MyActivitiesViewSchema> {
  return {
    today: input.today,
    counts: input.counts,
    items: input.items.map((detail) => presentActivity(detail, input.nowMs, input.today)),
    nextCursor: input.nextCursor,
  }
}

/** The URL of a user's iCal feed: the token in it is the credential. */
export function presentCalendar(publicUrl: string, token: string): z.input<typeof CalendarViewSchema> {
  return { url: `${publicUrl}/ical/${token}.ics` }
}
