import { sql } from 'drizzle-orm'
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core'
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
    /** A webhook-triggered rule's secret: the last part of the URL integrators POST to. */
    hookToken: text('hook_token'),
    /**
     * A time-based rule has looked at every time up to here: the scheduler's next pass fires what fell
     * due after it, so a node that was down catches up. Set to the save time when the trigger changes.
     */
    checkedUntil: ms('checked_until'),
    /** The administrator the actions run as: their name authors what the rule posts. */
    createdBy: integer('created_by').notNull(),
    createdAt: ms('created_at').notNull(),
    updatedAt: ms('updated_at').notNull(),
  },
  (table) => [
    index('automation_rules_model').on(table.modelId, table.sequence, table.id),
    uniqueIndex('automation_rules_hook').on(table.hookToken),
  ],
)

/**
 * Each (time-based rule, record, time value) the scheduler has handled, fired or not for its
 * conditions: written with the firing's actions, so a pass cut short by a crash goes on where it stopped
 * and nothing fires twice, even when the value comes back or the rule's offset changes.
 */
export const automationFirings = sqliteTable(
  'automation_firings',
  {
    ruleId: integer('rule_id').notNull(),
    recordId: integer('record_id').notNull(),
    /** The field's value that fell due (an activity's deadline is keyed by the activity too). */
    value: text('value').notNull(),
    at: ms('at').notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.ruleId, table.recordId, table.value] }),
    index('automation_firings_at').on(table.at),
  ],
)

export const automationRuns = sqliteTable(
  'automation_runs',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    ruleId: integer('rule_id').notNull(),
    recordId: integer('record_id'),
    /** What fired it: create, update, … */
    trigger: text('trigger').notNull(),
    /**
     * done | partial (done, but an email or a webhook call could not be queued) | failed (its changes
     * were rolled back; for a write, the write was refused) | skipped (too deep a chain of rules, or its
     * author is no longer an administrator)
     */
    outcome: text('outcome').$type<'done' | 'partial' | 'failed' | 'skipped'>().notNull(),
    /** What the actions did, in words; or why it failed. */
    detail: text('detail'),
    at: ms('at').notNull(),
  },
  (table) => [
    index('automation_runs_rule').on(table.ruleId, table.id),
    index('automation_runs_failed').on(table.id).where(sql`${table.outcome} = 'failed'`),
  ],
)

/**
 * What happened to a record that rules run on after the fact, in their own transaction: a message that
 * came in (by email or O'Chat) and an O'Chat message that failed. Written in the transaction of the
 * event, so a crash loses none; a failing rule cannot refuse what already happened.
 */
export const automationQueue = sqliteTable('automation_queue', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  /** message_received | ochat_failed */
  kind: text('kind').$type<'message_received' | 'ochat_failed'>().notNull(),
  recordId: integer('record_id').notNull(),
  /** For a message received: email or ochat. */
  via: text('via').$type<'email' | 'ochat'>(),
  at: ms('at').notNull(),
})
