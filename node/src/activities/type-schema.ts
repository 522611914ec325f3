import { z } from 'zod'
import { ACTIVITY_ICONS } from '../web/icons.ts'
import { DateSchema } from './schema.ts'

const TypeKey = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9_]+$/, 'lowercase letters, digits and _')
const Name = z.string().trim().min(1).max(100)
const DelayUnit = z.enum(['days', 'weeks', 'months'])
/** Up to about ten years in days: a longer delay is a typo, and deadlines must stay in range. */
const DelayCount = z.int().min(0).max(3650)

const TypeFields = {
  name: Name,
  icon: z.enum(ACTIVITY_ICONS),
  /** Calls and meetings may carry a start time; upload and signature are kinds of to-dos. */
  category: z.enum(['default', 'phonecall', 'meeting', 'upload', 'signature']),
  delay: z.strictObject({
    count: DelayCount,
    unit: DelayUnit,
    /** previous_activity: after the previous deadline; current_date: after completion. */
    from: z.enum(['previous_activity', 'current_date']),
  }),
  /** suggest: the next types are proposed when one is done; trigger: the one next type is scheduled. */
  chaining: z.enum(['none', 'suggest', 'trigger']),
  /** Type keys, in the order they are proposed. */
  nextTypes: z.array(TypeKey).max(10),
  /** The user new activities of this type go to when nobody is chosen; null: whoever schedules. */
  defaultUserId: z.int().positive().nullable(),
  defaultSummary: z.string().trim().max(200).nullable(),
  /** false archives the type: it is kept for the activities that have it, and offered no more. */
  active: z.boolean(),
  /** Lower first in lists. */
  sequence: z.int().min(0).max(10_000),
}

export const TypeCreateBody = z.strictObject({
  /** Stable, for the API and chaining; made from the name when not given. */
  key: TypeKey.optional(),
  name: TypeFields.name,
  icon: TypeFields.icon,
  category: TypeFields.category.default('default'),
  delay: TypeFields.delay.default({ count: 0, unit: 'days', from: 'previous_activity' }),
  chaining: TypeFields.chaining.default('none'),
  nextTypes: TypeFields.nextTypes.default([]),
  defaultUserId: TypeFields.defaultUserId.default(null),
  defaultSummary: TypeFields.defaultSummary.default(null),
  sequence: TypeFields.sequence.default(10),
})
export type TypeCreate = z.infer<typeof TypeCreateBody>

export const TypeUpdateBody = z
  .strictObject({
    name: TypeFields.name.optional(),
    icon: TypeFields.icon.optional(),
    category: TypeFields.category.optional(),
    delay: TypeFields.delay.optional(),
    chaining: TypeFields.chaining.optional(),
    nextTypes: TypeFields.nextTypes.optional(),
    defaultUserId: TypeFields.defaultUserId.optional(),
    defaultSummary: TypeFields.defaultSummary.optional(),
    active: TypeFields.active.optional(),
    sequence: TypeFields.sequence.optional(),
  })
  .refine((body) => Object.values(body).some((value) => value !== undefined), 'nothing to change')
export type TypeUpdate = z.infer<typeof TypeUpdateBody>

export const TypeListQuery = z.object({
  /** true: archived types too (the settings page lists them to bring them back). */
  archived: z.enum(['true', 'false']).optional(),
})

const PlanStep = z.strictObject({
  /** An activity type key. */
  type: TypeKey,
  summary: z.string().trim().max(200).nullable().default(null),
  /** Markdown, rendered into each activity's note at launch. */
  note: z.string().max(20_000).nullable().default(null),
  /** default: the type's default user, else whoever launches; on_demand: asked at launch; user: `userId`. */
  assignee: z.enum(['default', 'on_demand', 'user']).default('default'),
  userId: z.int().positive().nullable().default(null),
  delay: z
    .strictObject({
      count: DelayCount,
      unit: DelayUnit,
      from: z.enum(['before_plan_date', 'after_plan_date']),
    })
    .default({ count: 0, unit: 'days', from: 'after_plan_date' }),
})
export type PlanStepInput = z.infer<typeof PlanStep>

const Steps = z.array(PlanStep).min(1).max(50)
/** A model name; null: the plan is offered on every model. */
const PlanModel = z.string().min(1).max(64).nullable()

export const PlanCreateBody = z.strictObject({
  name: Name,
  model: PlanModel.default(null),
  active: z.boolean().default(true),
  steps: Steps,
})
export type PlanCreate = z.infer<typeof PlanCreateBody>

export const PlanUpdateBody = z
  .strictObject({
    name: Name.optional(),
    model: PlanModel.optional(),
    active: z.boolean().optional(),
    /** Replaces every step (the steps get new ids). */
    steps: Steps.optional(),
  })
  .refine((body) => Object.values(body).some((value) => value !== undefined), 'nothing to change')
export type PlanUpdate = z.infer<typeof PlanUpdateBody>

export const LaunchParams = z.object({
  id: z.coerce.number().int().positive(),
  planId: z.coerce.number().int().positive(),
})

export const LaunchBody = z.strictObject({
  /** The date the steps' delays count from. */
  date: DateSchema,
  /** Who does each on_demand step: step id → user id. */
  assignees: z.record(z.string().regex(/^\d+$/), z.int().positive()).default({}),
})
