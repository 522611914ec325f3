import type { Principal } from '../auth/principal.ts'
import { renderBody } from '../chatter/body.ts'
import type { Tx } from '../db/client.ts'
import { NodeError } from '../errors.ts'
import type { Effects } from '../live/events.ts'
import type { Model } from '../models/registry.ts'
import type { RecordRow } from '../records/repository.ts'
import { addDelay } from './dates.ts'
import type { PlanStep, PlanWithSteps } from './plan-repository.ts'
import { type ActivityRow, type Assignee, findAssignee, typeById } from './repository.ts'
import { scheduleActivity } from './schedule-activity.ts'

/**
 * Schedules every step of a plan on a record, through the same command as one activity. The caller
 * runs it in one transaction: a step that cannot be scheduled (an archived type, a user who left)
 * refuses the whole launch, so a record never gets half a plan.
 */
export function launchPlan(
  tx: Tx,
  input: {
    principal: Principal
    record: RecordRow
    model: Model
    plan: PlanWithSteps
    /** `YYYY-MM-DD`: the steps' delays count from it, before or after. */
    date: string
    /** Who does each on_demand step: step id → user id. */
    assignees: Record<string, number>
    site: { company: string; publicUrl: string }
    now: number
    effects: Effects
  },
): ActivityRow[] {
  const { plan, record, model } = input
  if (!plan.plan.active) throw new NodeError('E_NOT_FOUND')
  if (plan.plan.modelId !== null && plan.plan.modelId !== model.id)
    throw new NodeError('E_PLAN_WRONG_MODEL', `"${plan.plan.name}" is not offered on ${model.label}`)
  return plan.steps.map((step) => {
    const type = typeById(tx, step.activityTypeId)
    if (!type?.active)
      throw new NodeError('E_ACTIVITY_TYPE_UNKNOWN', `the activity type "${step.typeKey}" was archived`)
    const sign = step.delayFrom === 'before_plan_date' ? -1 : 1
    return scheduleActivity(tx, {
      principal: input.principal,
      record,
      model,
      type,
      assignee: stepAssignee(tx, step, input),
      summary: step.summary,
      note: step.note ? renderBody(step.note, 'markdown') : '',
      deadline: addDelay(input.date, sign * step.delayCount, step.delayUnit),
      startsAt: undefined,
      durationMinutes: undefined,
      site: input.site,
      now: input.now,
      effects: input.effects,
    })
  })
}

/** The step's rule: a fixed user, the one chosen at launch, or the type's default user, else the caller. */
function stepAssignee(
  tx: Tx,
  step: PlanStep,
  input: { principal: Principal; assignees: Record<string, number> },
): Assignee {
  const active = (userId: number, what: string) => {
    const found = findAssignee(tx, userId)
    if (!found?.active) throw new NodeError('E_USER_UNKNOWN', `${what}: there is no active user ${userId}`)
    return found
  }
  if (step.assignee === 'user') {
    if (step.userId === null) throw new NodeError('E_USER_UNKNOWN', `step ${step.id} has no user`)
    return active(step.userId, `step ${step.id} (${step.typeName})`)
  }
  if (step.assignee === 'on_demand') {
    const chosen = input.assignees[String(step.id)]
    if (chosen === undefined)
      throw new NodeError('E_ASSIGNEE_REQUIRED', `assignees.${step.id}: who does "${step.typeName}"?`)
    return active(chosen, `assignees.${step.id}`)
  }
  const type = typeById(tx, step.activityTypeId)
  const byDefault = type?.defaultUserId == null ? undefined : findAssignee(tx, type.defaultUserId)
  return byDefault?.active ? byDefault : active(input.principal.userId, 'caller')
}
