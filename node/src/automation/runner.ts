import type { Clock } from '@ochat/shared-protocol/server'
import { and, asc, desc, eq, gt, sql } from 'drizzle-orm'
import type { FastifyBaseLogger } from 'fastify'
import type { Database, Tx } from '../db/client.ts'
import { once } from '../db/raw.ts'
import { automationFirings, automationQueue, automationRules, automationRuns } from '../db/schema.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import { type Effects, newEffects } from '../live/events.ts'
import type { ModelRegistry } from '../models/registry.ts'
import { findRecord } from '../records/repository.ts'
import type { Site } from './actions.ts'
import { authorOf, logRun, parsed, type Rule, runRulesApart } from './engine.ts'
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
 * How far behind where it stopped a time-based rule's next pass looks again: a value stamped just
 * before a pass but committed after it (a mail being filed while the pass ran) is still found. Each
 * (rule, record, value) fires once, so looking twice fires nothing twice.
 */
export const GRACE_MS = 15 * 60_000
const AUTHOR_GONE =
  'its author is no longer an active administrator: its moments wait until an administrator saves it again'

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
  /** Queued events whose run failed (a database error): tried again at the next minute, not at every commit. */
  readonly #failed = new Set<number>()

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
   * One pass: queued events, then time-based rules due by now. Answers how many rules ran. A tick
   * asked while a pass runs waits for it and then runs once more, so what its caller wrote is seen.
   */
  async tick(): Promise<number> {
    if (this.#closed) return 0
    if (this.#running) {
      this.#again = true
      await this.#running
    }
    if (this.#closed) return 0
    this.#failed.clear()
    return this.#start(true)
  }

  #start(withTime: boolean): Promise<number> {
    if (this.#running) return this.#running
    this.#running = this.#passes(withTime).finally(() => {
      this.#running = null
    })
    return this.#running
  }

  /** Stops the timer and waits for the passes under way, a tick that was waiting included. */
  async close(): Promise<void> {
    this.#closed = true
    clearInterval(this.#timer)
    while (this.#running) await this.#running
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
    let after = 0
    while (!this.#closed) {
      const rows = once(database.db, 'automation.queued', () =>
        database.db
          .select()
          .from(automationQueue)
          .where(gt(automationQueue.id, sql.placeholder('after')))
          .orderBy(asc(automationQueue.id))
          .limit(PAGE)
          .prepare(),
      ).all({ after })
      if (rows.length === 0) return ran
      after = rows.at(-1)?.id ?? after
      const items = rows.filter((item) => !this.#failed.has(item.id))
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
              // Still queued (its delete was rolled back too): the next minute tries it again.
              this.#failed.add(item.id)
              this.#deps.log.error({ err: error, recordId: item.recordId }, 'automation: an event failed')
              return 0
            })
          this.#deps.publish(effects)
          ran += outcome
        }),
      )
    }
    return ran
  }

  /** Fires what fell due for each active time-based rule since it last looked; one rule's trouble stops only it. */
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
    for (const row of rows) {
      if (this.#closed) break
      try {
        handled += await this.#fireRule(parsed(row), now)
      } catch (error) {
        // It looks again from where it stopped at the next minute; the other rules go on.
        this.#deps.log.error({ err: error, ruleId: row.id }, 'automation: a time-based rule failed')
      }
    }
    return handled
  }

  async #fireRule(rule: Rule, now: number): Promise<number> {
    const { database, writes, registry } = this.#deps
    const model = registry.byId(rule.modelId)
    const from = rule.checkedUntil ?? rule.updatedAt
    if (!model || now <= from) return 0
    if (!authorOf(database.db, rule)) {
      await this.#authorGone(rule, now)
      return 0
    }
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
      handled += outcomes.filter((outcome) => outcome === 'fired').length
      // Switched off, changed or deleted meanwhile: it stops here; its next pass sees it as it is.
      if (outcomes.includes('stale') || this.#closed) return handled
    } while (after !== null)
    // Unless the rule was saved meanwhile (its new trigger starts from its save).
    await writes.run((tx) =>
      tx
        .update(automationRules)
        .set({ checkedUntil: Math.max(from, now - GRACE_MS) })
        .where(and(eq(automationRules.id, rule.id), eq(automationRules.updatedAt, rule.updatedAt)))
        .run(),
    )
    return handled
  }

  /** One firing of the rule as this pass read it; stale when the rule was switched off or saved since. */
  async #fire(rule: Rule, due: Due, now: number): Promise<'fired' | 'seen' | 'stale'> {
    const { writes, registry, site } = this.#deps
    const effects = newEffects()
    const outcome = await writes.run((tx) => {
      const current = once(tx, 'automation.ruleState', () =>
        tx
          .select({ active: automationRules.active, updatedAt: automationRules.updatedAt })
          .from(automationRules)
          .where(eq(automationRules.id, sql.placeholder('id')))
          .prepare(),
      ).get({ id: rule.id })
      if (!current?.active || current.updatedAt !== rule.updatedAt) return 'stale'
      // Handled even when the rule fails: the failure is logged, the value not tried again.
      if (!markFired(tx, rule.id, due, now)) return 'seen'
      const record = findRecord(tx, due.recordId)
      const model = registry.byId(rule.modelId)
      if (!record || !model) return 'seen'
      runRulesApart(tx, { kind: 'time', model, registry, record, before: null, site, now, effects }, [rule])
      // Its own writes (or other rules') move the record's updatedAt: not a new moment for this rule.
      const after = (rule.trigger as TimeTrigger).field === 'updatedAt' && findRecord(tx, due.recordId)
      if (after && String(after.updatedAt) !== due.value)
        markFired(tx, rule.id, { recordId: due.recordId, value: String(after.updatedAt) }, now)
      return 'fired'
    })
    this.#deps.publish(effects)
    return outcome
  }

  /** Says once in the rule's log that its author can no longer run it; its moments wait. */
  async #authorGone(rule: Rule, now: number): Promise<void> {
    const effects = newEffects()
    await this.#deps.writes.run((tx) => {
      const last = tx
        .select({ outcome: automationRuns.outcome, detail: automationRuns.detail })
        .from(automationRuns)
        .where(eq(automationRuns.ruleId, rule.id))
        .orderBy(desc(automationRuns.id))
        .limit(1)
        .get()
      if (last?.outcome !== 'skipped' || last.detail !== AUTHOR_GONE)
        logRun(tx, rule, { record: null, now, effects }, 'skipped', AUTHOR_GONE)
    })
    this.#deps.publish(effects)
  }
}

/** Marks a value handled for a rule; false when a pass got to it first. */
function markFired(tx: Tx, ruleId: number, due: Pick<Due, 'recordId' | 'value'>, now: number): boolean {
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
