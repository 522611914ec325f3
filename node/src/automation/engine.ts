import { asc, eq, sql } from 'drizzle-orm'
import type { Principal } from '../auth/principal.ts'
import type { Tx } from '../db/client.ts'
import { connectionOf, forget, once } from '../db/raw.ts'
import { automationRules, automationRuns, partners, users } from '../db/schema.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import type { Effects, LiveEvent } from '../live/events.ts'
import type { Model, ModelRegistry } from '../models/registry.ts'
import { findRecord, type RecordRow } from '../records/repository.ts'
import { runAction, type Site } from './actions.ts'
import { meets } from './conditions.ts'
import { AutomationError } from './errors.ts'
import type { Action, Condition, Trigger } from './schema.ts'

/** Rules that trigger rules: a chain stops this deep, and the run that would go deeper is logged skipped. */
export const MAX_DEPTH = 5

export type RuleRow = typeof automationRules.$inferSelect
export type Rule = Omit<RuleRow, 'trigger' | 'before' | 'after' | 'actions'> & {
  trigger: Trigger
  before: Condition | null
  after: Condition | null
  actions: Action[]
}

/** What happened to a record, as the rules see it. */
export type RecordChange = {
  /**
   * create, update and archive: a write; message_received and ochat_failed: an event after the fact; webhook:
   * an integrator called the rule's URL; time: a time-based rule's moment came.
   */
  kind: 'create' | 'update' | 'archive' | 'message_received' | 'ochat_failed' | 'webhook' | 'time'
  /** How a received message came in. */
  via?: 'email' | 'ochat'
  model: Model
  /** Where the actions find other models (a record created of another model). */
  registry: ModelRegistry
  /** The record as it is now. */
  record: RecordRow
  /** Its values before an update; null otherwise. */
  before: Record<string, unknown> | null
  site: Site
  now: number
  effects: Effects
}

/**
 * The rules running now, outermost first. Writes are synchronous inside their transaction
 * (better-sqlite3), so this call stack is the chain of one change: rules whose actions change the
 * record trigger the next rules through the same functions, with this chain in view.
 */
const chain: number[] = []
/**
 * Rule and record pairs that ran within the current top-level change: a rule runs once per record per
 * change, however many of the other rules' writes touch the record.
 */
const ranInChange = new Set<string>()

/**
 * Runs the active rules of the record's model that this change triggers, in the change's
 * transaction: their writes commit or roll back with it. A failing action throws AutomationError,
 * which refuses the whole change (422) naming the rule.
 */
export function runRules(tx: Tx, change: RecordChange): number {
  const rules = rulesOf(tx, change.model.id)
  if (rules.length === 0) return 0
  return withinChange(() => runMatching(tx, rules, change))
}

/** Nesting of changes (rules' writes within a change): the outermost one's end forgets what ran. */
let changes = 0

function withinChange<T>(work: () => T): T {
  changes++
  try {
    return work()
  } finally {
    changes--
    if (changes === 0) ranInChange.clear()
  }
}

/** Answers how many of the rules ran. */
function runMatching(tx: Tx, rules: Rule[], change: RecordChange): number {
  let current = change.record
  let ran = 0
  for (const rule of rules) {
    // An earlier rule's actions may have changed the record: the next one sees it as it is now.
    if (ran > 0) current = findRecord(tx, current.id) ?? current
    if (runOne(tx, rule, { ...change, record: current })) ran++
  }
  return ran
}

/**
 * Runs one rule on its own (an integrator called its URL, its time came), in the transaction given:
 * answers whether it ran. A failure throws AutomationError, as a rule run by a write does.
 */
export function runRule(tx: Tx, rule: Rule, change: RecordChange): boolean {
  return withinChange(() => runOne(tx, rule, change))
}

/**
 * For what already happened (a message came in, a moment came): each rule in its own savepoint, so
 * one that fails is rolled back and logged alone while the others run. Answers how many ran.
 */
export function runRulesApart(
  tx: Tx,
  change: RecordChange,
  rules: Rule[] = rulesOf(tx, change.model.id),
): number {
  let ran = 0
  for (const rule of rules) {
    // An earlier rule's actions may have changed the record, or deleted it.
    const record = ran > 0 ? findRecord(tx, change.record.id) : change.record
    if (!record) break
    try {
      if (connectionOf(tx).transaction(() => runRule(tx, rule, { ...change, record }))()) ran++
    } catch (error) {
      if (!(error instanceof AutomationError)) throw error
      logRun(tx, rule, change, 'failed', error.logged)
    }
  }
  return ran
}

/** Runs the rule if the change fires it; answers whether its actions ran. */
function runOne(tx: Tx, rule: Rule, change: RecordChange): boolean {
  // A rule never triggers itself again, through its own writes or another rule's.
  const key = `${rule.id}:${change.record.id}`
  if (chain.includes(rule.id) || ranInChange.has(key)) return false
  if (!fires(rule, change, change.record.values)) return false
  if (chain.length >= MAX_DEPTH) {
    logRun(tx, rule, change, 'skipped', `a chain of ${MAX_DEPTH} rules ran before it: stopped there`)
    return false
  }
  ranInChange.add(key)
  const principal = authorOf(tx, rule)
  if (!principal) {
    // Its author left or is no longer an administrator: the rule waits for an administrator to
    // save it again, and the change goes through.
    logRun(
      tx,
      rule,
      change,
      'skipped',
      'its author is no longer an active administrator: save it again to run it as you',
    )
    return false
  }
  try {
    const { said, unsent } = runActions(tx, rule, change, principal)
    logRun(tx, rule, change, unsent ? 'partial' : 'done', said.join('; '))
    return true
  } catch (error) {
    if (error instanceof AutomationError) throw error
    throw new AutomationError(rule, error, change.kind === 'create' ? null : change.record.id)
  }
}

/** What goes out after the commit: an email or a call that cannot be queued never refuses the change. */
const SENDING = new Set<Action['type']>(['send_email', 'call_webhook'])

/**
 * Runs a rule's actions on a record as they would run, answering what each did, and whether an email
 * or a webhook call could not be queued (a contact without an address, an endpoint deleted since):
 * that one is rolled back alone and said, and the rest of the change goes through.
 */
export function runActions(
  tx: Tx,
  rule: Rule,
  change: RecordChange,
  principal: Principal,
): { said: string[]; unsent: boolean } {
  return withinChange(() => {
    const said: string[] = []
    let unsent = false
    let record = change.record
    chain.push(rule.id)
    try {
      for (const action of rule.actions) {
        const run = () => runAction(tx, action, { ...change, record, principal, rule })
        if (!SENDING.has(action.type)) {
          const outcome = run()
          record = outcome.record
          said.push(outcome.said)
          continue
        }
        try {
          said.push(connectionOf(tx).transaction(run)().said)
        } catch (error) {
          if (error instanceof AutomationError || (error as Error).name === 'SqliteError') throw error
          unsent = true
          said.push(`not sent: ${(error as { detail?: string }).detail ?? (error as Error).message}`)
        }
      }
    } finally {
      chain.pop()
    }
    return { said, unsent }
  })
}

/** Whether the change is one the rule waits for, and the record meets its conditions. */
export function fires(
  rule: Rule,
  change: Pick<RecordChange, 'kind' | 'before' | 'via'>,
  values: Record<string, unknown>,
): boolean {
  const before = change.before
  const trigger = rule.trigger
  switch (trigger.kind) {
    case 'update': {
      if (change.kind !== 'update' || before === null) return false
      const watched = trigger.fields.length > 0 ? trigger.fields : Object.keys({ ...before, ...values })
      if (!watched.some((field) => !same(before[field], values[field]))) return false
      break
    }
    case 'set':
      if (change.kind !== 'create' && change.kind !== 'update') return false
      if (!same(values[trigger.field], trigger.value)) return false
      if (before !== null && same(before[trigger.field], trigger.value)) return false
      break
    case 'message_received':
      if (change.kind !== 'message_received') return false
      if (trigger.via !== 'any' && trigger.via !== change.via) return false
      break
    default:
      if (trigger.kind !== change.kind) return false
  }
  if (rule.before && (before === null || !meets(rule.before, before))) return false
  return rule.after === null || meets(rule.after, values)
}

function same(a: unknown, b: unknown): boolean {
  return (a ?? null) === (b ?? null) || JSON.stringify(a ?? null) === JSON.stringify(b ?? null)
}

const RULES_KEY = 'automation.rulesByModel'

/**
 * The model's active rules, in order. Every write asks, and rules change rarely: they are kept per
 * connection, parsed, until a rule is saved or deleted (`forgetRules`, in the saving transaction).
 */
export function rulesOf(tx: Tx, modelId: number): Rule[] {
  const byModel = once(tx, RULES_KEY, () => new Map<number, Rule[]>())
  let rules = byModel.get(modelId)
  if (!rules) {
    rules = once(tx, 'automation.rulesOf', () =>
      tx
        .select()
        .from(automationRules)
        .where(
          sql`${automationRules.modelId} = ${sql.placeholder('modelId')} and ${automationRules.active} = 1`,
        )
        .orderBy(asc(automationRules.sequence), asc(automationRules.id))
        .prepare(),
    )
      .all({ modelId })
      .map(parsed)
    byModel.set(modelId, rules)
  }
  return rules
}

/**
 * After a rule is saved or deleted, in the same transaction: the next write reads the rules again. A
 * write later in the same batch sees the rule as its savepoint left it, as the database does.
 */
export function forgetRules(tx: Tx): void {
  forget(tx, RULES_KEY)
}

/** A rule row with its JSON columns in their declared shapes (checked when the rule was saved). */
export function parsed(row: RuleRow): Rule {
  return row as unknown as Rule
}

/** The rule's author, as whom its actions run; null once they are no active administrator. */
export function authorOf(tx: Tx, rule: Pick<Rule, 'createdBy'>): Principal | null {
  const query = once(tx, 'automation.authorOf', () =>
    tx
      .select({
        userId: users.id,
        partnerId: users.partnerId,
        role: users.role,
        active: users.active,
        name: partners.name,
        timeZone: users.timeZone,
        notification: users.notification,
      })
      .from(users)
      .innerJoin(partners, eq(partners.id, users.partnerId))
      .where(eq(users.id, sql.placeholder('userId')))
      .prepare(),
  )
  const row = query.get({ userId: rule.createdBy })
  if (!row?.active || row.role !== 'admin') return null
  return {
    userId: row.userId,
    partnerId: row.partnerId,
    role: row.role,
    name: row.name,
    timeZone: row.timeZone,
    notification: row.notification,
    scopes: null,
    via: 'session',
  }
}

export function logRun(
  tx: Tx,
  rule: Pick<Rule, 'id' | 'trigger'>,
  change: { record: { id: number } | null; now: number; effects: Effects },
  outcome: 'done' | 'partial' | 'failed' | 'skipped',
  detail: string | null,
): void {
  change.effects.events.push(...runEvents(tx, rule.id))
  once(tx, 'automation.logRun', () =>
    tx
      .insert(automationRuns)
      .values({
        ruleId: sql.placeholder('ruleId'),
        recordId: sql.placeholder('recordId'),
        trigger: sql.placeholder('trigger'),
        outcome: sql.placeholder('outcome'),
        detail: sql.placeholder('detail'),
        at: sql.placeholder('at'),
      })
      .prepare(),
  ).run({
    ruleId: rule.id,
    recordId: change.record?.id ?? null,
    trigger: rule.trigger.kind,
    outcome,
    detail,
    at: change.now,
  })
}

/** Records a failed run on its own, after the change it refused was rolled back with its run log. */
export async function logFailedRun(
  writes: WriteQueue,
  error: AutomationError,
  now: number,
  publish: (events: LiveEvent[]) => void,
): Promise<void> {
  const events = await writes
    .run((tx) => {
      tx.insert(automationRuns)
        .values({
          ruleId: error.ruleId,
          recordId: error.recordId,
          trigger: error.trigger,
          outcome: 'failed',
          detail: error.logged,
          at: now,
        })
        .run()
      return runEvents(tx, error.ruleId)
    })
    // The refusal matters more than its line in the log.
    .catch(() => [])
  publish(events)
}

/** For a route: logs the failed run of a refused change, then throws the refusal on to the caller. */
export async function keepFailedRun(
  writes: WriteQueue,
  error: unknown,
  now: number,
  publish: (events: LiveEvent[]) => void,
): Promise<never> {
  if (error instanceof AutomationError) await logFailedRun(writes, error, now, publish)
  throw error
}

/** Administrators' open run logs hear that a rule ran. */
function runEvents(tx: Tx, ruleId: number): LiveEvent[] {
  const admins = once(tx, 'automation.admins', () =>
    tx
      .select({ id: users.id })
      .from(users)
      .where(sql`${users.role} = 'admin' and ${users.active} = 1`)
      .prepare(),
  ).all()
  return admins.map((admin) => ({
    scope: 'user' as const,
    userId: admin.id,
    type: 'automation.run' as const,
    ruleId,
  }))
}
