import { z } from 'zod'
import { TimeZoneSchema } from '../people/schema.ts'

/** A value a condition compares with: what record values hold. */
const Scalar = z.union([z.string().max(1000), z.number(), z.boolean(), z.null()])

/**
 * The condition language: field comparisons, "in", "contains", "is set", joined with and / or / not.
 * Field names are the model's (`name` included); checked against the model when a rule is saved.
 */
export type Condition =
  | { field: string; op: 'eq' | 'ne' | 'gt' | 'gte' | 'lt' | 'lte'; value: string | number | boolean | null }
  | { field: string; op: 'in' | 'not_in'; value: (string | number | boolean | null)[] }
  | { field: string; op: 'contains'; value: string }
  | { field: string; op: 'set' | 'not_set' }
  | { and: Condition[] }
  | { or: Condition[] }
  | { not: Condition }

const FieldName = z.string().min(1).max(64)
export const ConditionSchema: z.ZodType<Condition> = z.lazy(() =>
  z.union([
    z.strictObject({ field: FieldName, op: z.enum(['eq', 'ne', 'gt', 'gte', 'lt', 'lte']), value: Scalar }),
    z.strictObject({ field: FieldName, op: z.enum(['in', 'not_in']), value: z.array(Scalar).max(100) }),
    z.strictObject({ field: FieldName, op: z.literal('contains'), value: z.string().max(1000) }),
    z.strictObject({ field: FieldName, op: z.enum(['set', 'not_set']) }),
    z.strictObject({ and: z.array(ConditionSchema).min(1).max(20) }),
    z.strictObject({ or: z.array(ConditionSchema).min(1).max(20) }),
    z.strictObject({ not: ConditionSchema }),
  ]),
)

export const TIME_UNITS = ['minutes', 'hours', 'days'] as const

export const TriggerSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('create') }),
  z.strictObject({
    kind: z.literal('update'),
    fields: z
      .array(FieldName)
      .max(50)
      .default([])
      .meta({ description: 'Only when one of these changes; empty: any' }),
  }),
  z.strictObject({
    kind: z.literal('set'),
    field: FieldName.meta({ description: 'Such as stage, the assignee, a tag or a state' }),
    value: Scalar.meta({ description: 'Fires when the field takes this value (on creation too)' }),
  }),
  z.strictObject({ kind: z.literal('archive') }).meta({ description: 'A record is archived' }),
  z.strictObject({
    kind: z.literal('time'),
    field: FieldName.meta({
      description:
        'A date or datetime field, `createdAt`, `updatedAt`, or `activityDeadline` (each open activity’s deadline)',
    }),
    offset: z
      .int()
      .min(-525_600)
      .max(525_600)
      .meta({ description: 'How long after the field’s time it fires; negative: before' }),
    unit: z.enum(TIME_UNITS).meta({ description: 'Days are calendar days in the time zone' }),
    timeZone: TimeZoneSchema.optional().meta({
      description: 'IANA zone dates and days are read in; the author’s when left out',
    }),
  }),
  z.strictObject({
    kind: z.literal('message_received'),
    via: z
      .enum(['any', 'email', 'ochat'])
      .default('any')
      .meta({ description: 'A message that came in on the record by email, by O’Chat, or either' }),
  }),
  z.strictObject({ kind: z.literal('ochat_failed') }).meta({
    description: 'An O’Chat message sent about one of the model’s records failed to reach the partner',
  }),
  z.strictObject({ kind: z.literal('webhook') }).meta({
    description: 'An integrator POSTs `{recordId}` to the rule’s secret `hookUrl`',
  }),
])
export type Trigger = z.output<typeof TriggerSchema>

const Template = z.string().min(1).max(20_000).meta({
  description:
    'Text with {{field}} placeholders (`{{name}}`, `{{stage}}`), filled with the record’s values, escaped',
})

export const ActionSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('post_message'), kind: z.enum(['message', 'note']), body: Template }),
  z.strictObject({
    type: z.literal('set_values'),
    values: z.record(z.string(), z.unknown()).meta({ description: 'Values checked like a record write' }),
  }),
  z.strictObject({
    type: z.literal('schedule_activity'),
    activityType: z
      .string()
      .min(1)
      .max(64)
      .meta({ description: 'An activity type key: todo, call, meeting…' }),
    summary: z.string().max(200).optional(),
    delayDays: z
      .int()
      .min(-3650)
      .max(3650)
      .optional()
      .meta({ description: 'Deadline in days; the type’s own delay when left out' }),
    assignee: z.union([
      z.strictObject({ userId: z.int().positive() }),
      z.strictObject({
        field: FieldName.meta({ description: 'A user field of the record, such as its assignee' }),
      }),
    ]),
  }),
  z.strictObject({
    type: z.literal('add_followers'),
    partnerIds: z.array(z.int().positive()).max(50).default([]),
    field: FieldName.optional().meta({ description: 'Also the partner or user in this field of the record' }),
  }),
  z.strictObject({
    type: z.literal('remove_followers'),
    partnerIds: z.array(z.int().positive()).min(1).max(50),
  }),
  z.strictObject({
    type: z.literal('create_record'),
    model: z.string().min(1).max(64).meta({ description: 'The model of the new record' }),
    values: z.record(z.string(), z.unknown()).meta({
      description:
        'Its values, checked like a record write; text may hold {{field}} placeholders of this record',
    }),
  }),
  z.strictObject({
    type: z.literal('send_email'),
    to: z.strictObject({
      partnerIds: z.array(z.int().positive()).max(50).default([]),
      field: FieldName.optional().meta({
        description: 'Also the partner or user in this field of the record',
      }),
    }),
    subject: z.string().min(1).max(300).meta({ description: 'A template, like the body' }),
    body: Template,
  }),
  z.strictObject({
    type: z.literal('call_webhook'),
    endpointId: z.int().positive().meta({
      description: 'An outbound webhook endpoint: it gets a signed `automation.fired` event with the record',
    }),
  }),
])
export type Action = z.output<typeof ActionSchema>

export const RuleCreateSchema = z.strictObject({
  name: z.string().trim().min(1).max(200),
  model: z.string().max(64).meta({ description: 'The model whose records it watches' }),
  trigger: TriggerSchema,
  before: ConditionSchema.nullable()
    .default(null)
    .meta({ description: 'On the record before the change (updates)' }),
  after: ConditionSchema.nullable().default(null).meta({ description: 'On the record after the change' }),
  actions: z.array(ActionSchema).min(1).max(20),
  active: z.boolean().default(true),
  sequence: z.int().min(0).max(10_000).default(10),
})

export const RuleUpdateSchema = z.strictObject({
  name: RuleCreateSchema.shape.name.optional(),
  trigger: TriggerSchema.optional(),
  before: ConditionSchema.nullable().optional(),
  after: ConditionSchema.nullable().optional(),
  actions: z.array(ActionSchema).min(1).max(20).optional(),
  active: z.boolean().optional(),
  sequence: z.int().min(0).max(10_000).optional(),
})

export const RuleViewSchema = z.object({
  id: z.int(),
  name: z.string(),
  model: z.string(),
  trigger: TriggerSchema,
  before: ConditionSchema.nullable(),
  after: ConditionSchema.nullable(),
  actions: z.array(ActionSchema),
  active: z.boolean(),
  sequence: z.int(),
  hookUrl: z
    .string()
    .nullable()
    .meta({ description: 'A webhook-triggered rule’s secret URL: integrators POST `{recordId}` to it' }),
  createdBy: z.int(),
  createdAt: z.int(),
  updatedAt: z.int(),
})

export const RunViewSchema = z.object({
  id: z.int(),
  ruleId: z.int(),
  recordId: z.int().nullable(),
  trigger: z.string(),
  outcome: z.enum(['done', 'partial', 'failed', 'skipped']).meta({
    description:
      'partial: done, but an email or a webhook call could not be queued (the detail says why); failed: rolled back, and a write that triggered it refused',
  }),
  detail: z.string().nullable(),
  at: z.int(),
})

export const DryRunSchema = z.strictObject({ recordId: z.int().positive() })
export const DryRunViewSchema = z.object({
  matches: z.boolean().meta({ description: 'Whether the record meets the rule’s conditions now' }),
  effects: z.array(z.string()).meta({ description: 'What the actions would do, in order' }),
  error: z.string().nullable().meta({ description: 'Why the run would fail and the change be refused' }),
})
