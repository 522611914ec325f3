import type { Clock } from '@ochat/shared-protocol/server'
import { and, asc, eq, sql } from 'drizzle-orm'
import type { FastifyBaseLogger } from 'fastify'
import type { Database, Tx } from '../db/client.ts'
import { once } from '../db/raw.ts'
import { automationFirings, automationQueue, automationRules } from '../db/schema.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import { type Effects, newEffects } from '../live/events.ts'
import type { ModelRegistry } from '../models/registry.ts'
import { findRecord } from '../records/repository.ts'
import type { Site } from './actions.ts'
import { parsed, type Rule, runRulesApart } from './engine.ts'
import { type Cursor, type Due, dueCandidates, type TimeTrigger } from './time-trigger.ts'

export type AutomationRunnerDeps = {
  database: Pick<Database, 'db'>
  writes: WriteQueue
  /** What is due is decided by it, so tests move time instead of waiting. */
  clock: Clock
  registry: ModelRegistry
  site: Site
  log: Pick<FastifyBaseLogger, 'error'>
  /** After each commit: live events, which also kick the mail sender and the webhook dispatcher. */
  publish: (effects: Effects) => void
  /** How often time-based rules are looked at, in ms; a minute by default. */
  everyMs?: number
}

/** Candidates read at once for a time-based rule; each firing is its own write (the queue batches them). */
const PAGE = 500

/**
 * Runs the rules that do not run inside a request's transaction: those triggered by something that
 * already happened (a message that came in, an O'Chat message that failed: automation_queue) and the
 * time-based ones, whose moment comes by itself. Nothing is kept in memory: the queue rows, each rule's
 * `checkedUntil` and the firings table are the state, so a restart neither loses nor repeats a run, and
 * a node that was down fires at its next pass what fell due meanwhile.
 */
export class AutomationRunner {
  readonly #deps: AutomationRunnerDeps
  readonly #timer: NodeJS.Timeout
  #running: Promise<number> | null = null
  #again = false
  #closed = false

  constructor(deps: AutomationRunnerDeps) {
    this.#deps = deps
    this.#timer = setInterval(() => void this.tick(), deps.everyMs ?? 60_000)
    this.#timer.unref()
  }

  /**
   * After a commit that may have queued events: run their rules now rather than at the next minute.
   * Time-based rules wait for the minute: a write per rule on every commit would cost more than it tells.
   */
  kick(): void {
    if (this.#closed) return
    if (this.#running) this.#again = true
    else void this.#start(false)
  }

  /**
   * One pass: queued events, then time-based rules due by now. Answers how many rules ran (and, for
   * time-based rules, how many values were handled). A tick asked while one runs waits for it and
   * then runs once more, so what its caller just wrote is seen.
   */
  async tick(): Promise<number> {
    if (this.#closed) return 0
    if (this.#running) {
      this.#again = true
      await this.#running
    }
    return this.#start(true)
  }

  #start(withTime: boolean): Promise<number> {
    if (this.#running) return this.#running
    this.#running = this.#passes(withTime).finally(() => {
      this.#running = null
    })
    return this.#running
  }

  /** Stops the timer and waits for a pass under way. */
  async close(): Promise<void> {
    this.#closed = true
    clearInterval(this.#timer)
    await this.#running
  }

  async #passes(withTime: boolean): Promise<number> {
    let done = 0
    do {
      this.#again = false
      try {
        done += await this.#queuePass()
        if (withTime) done += await this.#timePass(this.#deps.clock.now())
      } catch (error) {
        this.#deps.log.error({ err: error }, 'automation: a pass failed')
      }
    } while (this.#again && !this.#closed)
    return done
  }

  /** Runs the rules of each queued event, oldest first, each event in its own transaction. */
  async #queuePass(): Promise<number> {
    const { database, writes, clock, registry, site } = this.#deps
    let ran = 0
    for (;;) {
      const items = database.db
        .select()
        .from(automationQueue)
        .orderBy(asc(automationQueue.id))
        .limit(PAGE)
        .all()
      if (items.length === 0) return ran
      await Promise.all(
        items.map(async (item) => {
          const now = clock.now()
          const effects = newEffects()
          const outcome = await writes
            .run((tx) => {
              tx.delete(automationQueue).where(eq(automationQueue.id, item.id)).run()
              const record = findRecord(tx, item.recordId)
              const model = record && registry.byId(record.modelId)
              if (!record || !model) return 0
              return runRulesApart(tx, {
                kind: item.kind,
                ...(item.via ? { via: item.via } : {}),
                model,
                registry,
                record,
                before: null,
                site,
                now,
                effects,
              })
            })
            .catch((error) => {
              // Left queued: the next pass tries it again.
              this.#deps.log.error({ err: error, recordId: item.recordId }, 'automation: an event failed')
              return 0
            })
          this.#deps.publish(effects)
          ran += outcome
        }),
      )
    }
  }

  /** Fires what fell due for each active time-based rule since it last looked. */
  async #timePass(now: number): Promise<number> {
    const rows = this.#deps.database.db
      .select()
      .from(automationRules)
      .where(
        and(
          eq(automationRules.active, true),
          sql`json_extract(${automationRules.trigger}, '$.kind') = 'time'`,
        ),
      )
      .all()
    let handled = 0
    for (const row of rows) handled += await this.#fireRule(parsed(row), now)
    return handled
  }

  async #fireRule(rule: Rule, now: number): Promise<number> {
    const { database, writes, registry } = this.#deps
    const model = registry.byId(rule.modelId)
    const from = rule.checkedUntil ?? rule.updatedAt
    if (!model || now <= from) return 0
    const trigger = rule.trigger as TimeTrigger
    let after: Cursor | null = null
    let handled = 0
    do {
      const page = dueCandidates(database.db, {
        ruleId: rule.id,
        trigger,
        model,
        from,
        to: now,
        after,
        limit: PAGE,
      })
      after = page.next
      const outcomes = await Promise.all(page.items.map((due) => this.#fire(rule, due, now)))
      handled += outcomes.filter(Boolean).length
    } while (after !== null)
    // Unless the rule was saved meanwhile (its new trigger starts from its save).
    await writes.run((tx) =>
      tx
        .update(automationRules)
        .set({ checkedUntil: now })
        .where(and(eq(automationRules.id, rule.id), eq(automationRules.updatedAt, rule.updatedAt)))
        .run(),
    )
    return handled
  }

  /** One firing; answers whether it was handled now (not by an earlier pass). */
  async #fire(rule: Rule, due: Due, now: number): Promise<boolean> {
    const { writes, registry, site } = this.#deps
    const effects = newEffects()
    const handled = await writes.run((tx) => {
      // Handled even when the rule fails: the failure is logged, the value not tried again.
      if (!markFired(tx, rule.id, due, now)) return false
      const record = findRecord(tx, due.recordId)
      const model = registry.byId(rule.modelId)
      if (record && model)
        runRulesApart(tx, { kind: 'time', model, registry, record, before: null, site, now, effects }, [rule])
      return true
    })
    this.#deps.publish(effects)
    return handled
  }
}

/** Marks a value handled for a rule; false when a pass got to it first. */
function markFired(tx: Tx, ruleId: number, due: Due, now: number): boolean {
  const result = tx
    .insert(automationFirings)
    .values({ ruleId, recordId: due.recordId, value: due.value, at: now })
    .onConflictDoNothing()
    .run()
  return result.changes > 0
}

/**
 * Queues an event for the rules that run after the fact, in the transaction of the event: only when
 * the record's model has an active rule waiting for that kind, so with none it costs one indexed read.
 */
export function queueRuleEvent(
  tx: Tx,
  input: {
    kind: 'message_received' | 'ochat_failed'
    recordId: number
    via?: 'email' | 'ochat'
    now: number
  },
): void {
  const wanted = once(tx, 'automation.wantsEvent', (sqlite) =>
    sqlite.prepare(
      `select 1 from records c join automation_rules r on r.model_id = c.model_id
       where c.id = ? and r.active = 1 and json_extract(r."trigger", '$.kind') = ? limit 1`,
    ),
  ).get(input.recordId, input.kind)
  if (!wanted) return
  tx.insert(automationQueue)
    .values({ kind: input.kind, recordId: input.recordId, via: input.via ?? null, at: input.now })
    .run()
}
