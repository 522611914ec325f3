import { sql } from 'drizzle-orm'
import { index, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import { bool, json, ms } from './core-schema.ts'

/**
 * Automation rules: on a model, a trigger, conditions before and after the change, and actions run in
 * the transaction of the change; and the log of every run.
 */
export const automationRules = sqliteTable(
  'automation_rules',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    name: text('name').notNull(),
    modelId: integer('model_id').notNull(),
    /** The trigger, as automation/schema.ts declares it. */
    trigger: json<Record<string, unknown>>('trigger').notNull(),
    /** Conditions on the record before the change (updates only) and after it; null: none. */
    before: json<Record<string, unknown> | null>('before'),
    after: json<Record<string, unknown> | null>('after'),
    /** Ordered actions. */
    actions: json<Record<string, unknown>[]>('actions').notNull(),
    active: bool('active').notNull().default(true),
    /** Rules of a model run in this order, then by id. */
    sequence: integer('sequence').notNull().default(10),
    /** The administrator the actions run as: their name authors what the rule posts. */
    createdBy: integer('created_by').notNull(),
    createdAt: ms('created_at').notNull(),
    updatedAt: ms('updated_at').notNull(),
  },
  (table) => [index('automation_rules_model').on(table.modelId, table.sequence, table.id)],
)

export const automationRuns = sqliteTable(
  'automation_runs',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    ruleId: integer('rule_id').notNull(),
    recordId: integer('record_id'),
    /** What fired it: create, update, … */
    trigger: text('trigger').notNull(),
    /** done | failed (the change was refused) | skipped (too deep a chain of rules) */
    outcome: text('outcome').$type<'done' | 'failed' | 'skipped'>().notNull(),
    /** What the actions did, in words; or why it failed. */
    detail: text('detail'),
    at: ms('at').notNull(),
  },
  (table) => [
    index('automation_runs_rule').on(table.ruleId, table.id),
    index('automation_runs_failed').on(table.id).where(sql`${table.outcome} = 'failed'`),
  ],
)
