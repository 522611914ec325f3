import type { Tx } from '../db/client.ts'
import { NodeError } from '../errors.ts'
import type { ModelRegistry } from '../models/registry.ts'
import { findPlan, insertPlan, type PlanWithSteps, replaceSteps, updatePlanRow } from './plan-repository.ts'
import { findAssignee, typeByKey } from './repository.ts'
import type { PlanCreate, PlanStepInput, PlanUpdate } from './type-schema.ts'

/** A model name to its id; null stays null (the plan is offered everywhere). */
function modelIdOf(registry: ModelRegistry, name: string | null): number | null {
  if (name === null) return null
  const model = registry.byName(name)
  if (!model) throw new NodeError('E_INVALID_BODY', `model: there is no model "${name}"`)
  return model.id
}

/** Steps as rows, each type and fixed user checked now, so a plan never launches into a dead end. */
function stepRows(tx: Tx, steps: PlanStepInput[]) {
  return steps.map((step, index) => {
    const type = typeByKey(tx, step.type)
    if (!type?.active)
      throw new NodeError(
        'E_ACTIVITY_TYPE_UNKNOWN',
        `steps.${index}.type: there is no activity type "${step.type}"`,
      )
    if (step.assignee === 'user' && (step.userId === null || !findAssignee(tx, step.userId)?.active))
      throw new NodeError('E_USER_UNKNOWN', `steps.${index}.userId: choose an active user for this step`)
    return {
      activityTypeId: type.id,
      summary: step.summary || null,
      note: step.note || null,
      assignee: step.assignee,
      userId: step.assignee === 'user' ? step.userId : null,
      delayCount: step.delay.count,
      delayUnit: step.delay.unit,
      delayFrom: step.delay.from,
    }
  })
}

export function createPlan(
  tx: Tx,
  input: { registry: ModelRegistry; plan: PlanCreate; now: number },
): PlanWithSteps {
  const { plan } = input
  const steps = stepRows(tx, plan.steps)
  const row = insertPlan(tx, {
    name: plan.name,
    modelId: modelIdOf(input.registry, plan.model),
    active: plan.active,
    createdAt: input.now,
  })
  replaceSteps(tx, row.id, steps)
  const saved = findPlan(tx, row.id)
  if (!saved) throw new Error(`plan ${row.id} vanished`)
  return saved
}

/** Changes a plan; steps given replace the old ones as a whole. */
export function updatePlan(
  tx: Tx,
  input: { registry: ModelRegistry; id: number; change: PlanUpdate },
): PlanWithSteps {
  const { change, id } = input
  if (!findPlan(tx, id)) throw new NodeError('E_NOT_FOUND')
  updatePlanRow(tx, id, {
    ...(change.name !== undefined ? { name: change.name } : {}),
    ...(change.model !== undefined ? { modelId: modelIdOf(input.registry, change.model) } : {}),
    ...(change.active !== undefined ? { active: change.active } : {}),
  })
  if (change.steps) replaceSteps(tx, id, stepRows(tx, change.steps))
  const saved = findPlan(tx, id)
  if (!saved) throw new NodeError('E_NOT_FOUND')
  return saved
}
