import { z } from 'zod'
import type { ModelRegistry } from '../models/registry.ts'
import type { PlanWithSteps } from './plan-repository.ts'

export const PlanStepViewSchema = z.object({
  id: z.int(),
  type: z.object({ key: z.string(), name: z.string(), icon: z.string() }),
  summary: z.string().nullable(),
  /** Markdown, rendered into the activity's note at launch. */
  note: z.string().nullable(),
  /** default: the type's default user, else whoever launches; on_demand: asked at launch; user: `userId`. */
  assignee: z.enum(['default', 'on_demand', 'user']),
  userId: z.int().nullable(),
  delay: z.object({
    count: z.int(),
    unit: z.enum(['days', 'weeks', 'months']),
    from: z.enum(['before_plan_date', 'after_plan_date']),
  }),
})

export const PlanViewSchema = z.object({
  id: z.int(),
  name: z.string(),
  /** The model it is offered on; null: every model. */
  model: z.string().nullable(),
  active: z.boolean(),
  steps: z.array(PlanStepViewSchema),
})
export type PlanView = z.input<typeof PlanViewSchema>

export function presentPlan(registry: ModelRegistry, { plan, steps }: PlanWithSteps): PlanView {
  return {
    id: plan.id,
    name: plan.name,
    model: plan.modelId === null ? null : (registry.byId(plan.modelId)?.name ?? null),
    active: plan.active,
    steps: steps.map((step) => ({
      id: step.id,
      type: { key: step.typeKey, name: step.typeName, icon: step.typeIcon },
      summary: step.summary,
      note: step.note,
      assignee: step.assignee,
      userId: step.userId,
      delay: { count: step.delayCount, unit: step.delayUnit, from: step.delayFrom },
    })),
  }
}
