import { asc, eq, inArray } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { activityPlanSteps, activityPlans, activityTypes } from '../db/schema.ts'

export type PlanRow = typeof activityPlans.$inferSelect
export type PlanStepRow = typeof activityPlanSteps.$inferSelect
/** A step with its type's key and name, as presented and launched. */
export type PlanStep = PlanStepRow & { typeKey: string; typeName: string; typeIcon: string }
export type PlanWithSteps = { plan: PlanRow; steps: PlanStep[] }

function stepsOf(tx: Tx, planIds: number[]): PlanStep[] {
  if (planIds.length === 0) return []
  return tx
    .select({
      step: activityPlanSteps,
      typeKey: activityTypes.key,
      typeName: activityTypes.name,
      typeIcon: activityTypes.icon,
    })
    .from(activityPlanSteps)
    .innerJoin(activityTypes, eq(activityTypes.id, activityPlanSteps.activityTypeId))
    .where(inArray(activityPlanSteps.planId, planIds))
    .orderBy(asc(activityPlanSteps.sequence), asc(activityPlanSteps.id))
    .all()
    .map((row) => ({ ...row.step, typeKey: row.typeKey, typeName: row.typeName, typeIcon: row.typeIcon }))
}

/** Every plan with its steps, by name. */
export function listPlans(tx: Tx): PlanWithSteps[] {
  const plans = tx.select().from(activityPlans).orderBy(asc(activityPlans.name), asc(activityPlans.id)).all()
  const steps = stepsOf(
    tx,
    plans.map((plan) => plan.id),
  )
  return plans.map((plan) => ({ plan, steps: steps.filter((step) => step.planId === plan.id) }))
}

export function findPlan(tx: Tx, id: number): PlanWithSteps | undefined {
  const plan = tx.select().from(activityPlans).where(eq(activityPlans.id, id)).get()
  return plan ? { plan, steps: stepsOf(tx, [plan.id]) } : undefined
}

export function insertPlan(tx: Tx, row: typeof activityPlans.$inferInsert): PlanRow {
  return tx.insert(activityPlans).values(row).returning().get()
}

export function updatePlanRow(tx: Tx, id: number, patch: Partial<typeof activityPlans.$inferInsert>): void {
  if (Object.keys(patch).length > 0) tx.update(activityPlans).set(patch).where(eq(activityPlans.id, id)).run()
}

/** Replaces a plan's steps as a whole, in the order given. */
export function replaceSteps(
  tx: Tx,
  planId: number,
  steps: Omit<typeof activityPlanSteps.$inferInsert, 'planId' | 'sequence'>[],
): void {
  tx.delete(activityPlanSteps).where(eq(activityPlanSteps.planId, planId)).run()
  if (steps.length > 0)
    tx.insert(activityPlanSteps)
      .values(steps.map((step, index) => ({ ...step, planId, sequence: (index + 1) * 10 })))
      .run()
}

/** Deletes a plan and (by cascade) its steps; activities it scheduled stay. */
export function deletePlan(tx: Tx, id: number): boolean {
  return tx.delete(activityPlans).where(eq(activityPlans.id, id)).returning().all().length > 0
}
