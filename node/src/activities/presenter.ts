import { localDate } from './dates.ts'
import type { ActivityDetail, ActivityTypeRow } from './repository.ts'
import type { ActivityTypeView, ActivityView } from './schema.ts'
import { stateOn } from './state.ts'

export function presentActivityType(row: ActivityTypeRow): ActivityTypeView {
  return {
    key: row.key,
    name: row.name,
    icon: row.icon,
    category: row.category,
    delay: { count: row.delayCount, unit: row.delayUnit, from: row.delayFrom },
    chaining: row.chaining,
    nextTypes: row.nextTypeKeys,
    defaultUserId: row.defaultUserId,
    defaultSummary: row.defaultSummary,
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
