import { type Clock, noBody, refusal, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import { and, asc, desc, eq, lt, type SQL } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import type { z } from 'zod'
import { decodeCursor, itemsOf, PageQuerySchema, page, pageOf } from '../api/pagination.ts'
import { IdParams } from '../api/params.ts'
import { principalOf } from '../auth/plugin.ts'
import { randomToken } from '../auth/tokens.ts'
import type { Db, Tx } from '../db/client.ts'
import { automationRules, automationRuns } from '../db/schema.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import { NodeError } from '../errors.ts'
import { newEffects } from '../live/events.ts'
import type { ModelRegistry } from '../models/registry.ts'
import { findRecord } from '../records/repository.ts'
import type { Site } from './actions.ts'
import { actionProblems, meets, ruleProblems } from './conditions.ts'
import { authorOf, forgetRules, parsed, type RuleRow, runActions } from './engine.ts'
import { RuleError } from './errors.ts'
import { hookUrl } from './hook-routes.ts'
import {
  DryRunSchema,
  DryRunViewSchema,
  RuleCreateSchema,
  RuleUpdateSchema,
  RuleViewSchema,
  RunViewSchema,
  type Trigger,
} from './schema.ts'

const admin = { access: 'user', scope: 'admin', admin: true } as const
const notFound = refusal('No such rule (E_NOT_FOUND)')
const badRule = refusal('The rule does not fit its model (E_AUTOMATION_RULE)')

/** Administration → Automation: rules on a model's records, their run log, and a dry run. */
export async function automationRoutes(
  app: FastifyInstance,
  opts: { db: Db; writes: WriteQueue; clock: Clock; registry: ModelRegistry; config: Site },
) {
  const { db, writes, clock, registry } = opts
  const routes = app.withTypeProvider<ZodTypeProvider>()
  const present = (row: RuleRow): z.output<typeof RuleViewSchema> => {
    const { modelId, hookToken, checkedUntil: _, ...rule } = parsed(row)
    return {
      ...rule,
      model: registry.byId(modelId)?.name ?? '',
      hookUrl: hookToken === null ? null : hookUrl(opts.config.publicUrl, hookToken),
    }
  }
  const modelNamed = (name: string) => {
    const model = registry.byName(name)
    if (!model) throw new RuleError([`model: there is no model "${name}"`])
    return model
  }

  routes.get(
    '/api/v1/automation-rules',
    {
      config: admin,
      schema: { summary: 'Automation rules (administrators)', response: { 200: itemsOf(RuleViewSchema) } },
    },
    async () => {
      const rows = db
        .select()
        .from(automationRules)
        .orderBy(asc(automationRules.modelId), asc(automationRules.sequence), asc(automationRules.id))
        .all()
      return { items: rows.map(present) }
    },
  )

  routes.post(
    '/api/v1/automation-rules',
    {
      config: admin,
      schema: {
        summary: 'Create an automation rule (administrators): checked against its model',
        body: RuleCreateSchema,
        response: { 201: RuleViewSchema, 422: badRule },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request)
      const { model: modelName, ...body } = request.body
      const model = modelNamed(modelName)
      const now = clock.now()
      const rule = { ...body, trigger: withZone(body.trigger, principal.timeZone) }
      const row = await writes.run((tx) => {
        const problems = [...ruleProblems(model, rule), ...actionProblems(tx, model, rule.actions, registry)]
        if (problems.length > 0) throw new RuleError(problems)
        forgetRules(tx)
        return tx
          .insert(automationRules)
          .values({
            ...rule,
            ...triggerColumns(rule.trigger, null, now),
            modelId: model.id,
            createdBy: principal.userId,
            createdAt: now,
            updatedAt: now,
          })
          .returning()
          .get()
      })
      return reply.status(201).send(present(row))
    },
  )

  routes.get(
    '/api/v1/automation-rules/:id',
    {
      config: admin,
      schema: {
        summary: 'One automation rule (administrators)',
        params: IdParams,
        response: { 200: RuleViewSchema, 404: notFound },
      },
    },
    async (request) => present(ruleOf(db, request.params.id)),
  )

  routes.patch(
    '/api/v1/automation-rules/:id',
    {
      config: admin,
      schema: {
        summary:
          'Change an automation rule (administrators): a field left out is kept; its actions then run as you',
        params: IdParams,
        body: RuleUpdateSchema,
        response: { 200: RuleViewSchema, 404: notFound, 422: badRule },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const now = clock.now()
      const row = await writes.run((tx) => {
        const current = parsed(ruleOf(tx, request.params.id))
        const body = {
          ...request.body,
          ...(request.body.trigger ? { trigger: withZone(request.body.trigger, principal.timeZone) } : {}),
        }
        const next = { ...current, ...body }
        const model = registry.byId(current.modelId)
        if (!model) throw new NodeError('E_NOT_FOUND', `the model of rule ${current.id} is gone`)
        const problems = [...ruleProblems(model, next), ...actionProblems(tx, model, next.actions, registry)]
        if (problems.length > 0) throw new RuleError(problems)
        // A new trigger, or a rule switched back on, starts from now: what fell due before is not fired.
        forgetRules(tx)
        const restarts =
          JSON.stringify(next.trigger) !== JSON.stringify(current.trigger) || (next.active && !current.active)
            ? triggerColumns(next.trigger, current.hookToken, now)
            : {}
        return tx
          .update(automationRules)
          .set({
            ...body,
            ...restarts,
            createdBy: principal.userId,
            updatedAt: Math.max(now, current.updatedAt + 1),
          })
          .where(eq(automationRules.id, current.id))
          .returning()
          .get()
      })
      return present(row as RuleRow)
    },
  )

  routes.post(
    '/api/v1/automation-rules/:id/rotate-hook',
    {
      config: admin,
      schema: {
        summary:
          'A new secret URL for a webhook-triggered rule (administrators): the old one stops working at once',
        params: IdParams,
        response: { 200: RuleViewSchema, 404: notFound, 409: refusal('Not a webhook rule (E_CONFLICT)') },
      },
    },
    async (request) => {
      const row = await writes.run((tx) => {
        const rule = parsed(ruleOf(tx, request.params.id))
        if (rule.trigger.kind !== 'webhook')
          throw new NodeError('E_CONFLICT', `rule ${rule.id} is not triggered by a webhook: it has no URL`)
        return tx
          .update(automationRules)
          .set({ hookToken: randomToken() })
          .where(eq(automationRules.id, rule.id))
          .returning()
          .get() as RuleRow
      })
      return present(row)
    },
  )

  routes.delete(
    '/api/v1/automation-rules/:id',
    {
      config: admin,
      schema: {
        summary: 'Delete an automation rule and its run log (administrators)',
        params: IdParams,
        response: { 204: noBody('Deleted'), 404: notFound },
      },
    },
    async (request, reply) => {
      await writes.run((tx) => {
        const { id } = ruleOf(tx, request.params.id)
        forgetRules(tx)
        tx.delete(automationRuns).where(eq(automationRuns.ruleId, id)).run()
        tx.delete(automationRules).where(eq(automationRules.id, id)).run()
      })
      return reply.status(204).send()
    },
  )

  routes.get(
    '/api/v1/automation-rules/:id/runs',
    {
      config: admin,
      schema: {
        summary: "A rule's runs, newest first: when, on which record, what happened (administrators)",
        params: IdParams,
        querystring: PageQuerySchema,
        response: { 200: pageOf(RunViewSchema), 404: notFound },
      },
    },
    async (request) => {
      const { id } = ruleOf(db, request.params.id)
      const before = decodeCursor(request.query.cursor)
      const conditions: SQL[] = [eq(automationRuns.ruleId, id)]
      if (before !== undefined) conditions.push(lt(automationRuns.id, before))
      const rows = db
        .select()
        .from(automationRuns)
        .where(and(...conditions))
        .orderBy(desc(automationRuns.id))
        .limit(request.query.limit + 1)
        .all()
      return page(rows, request.query.limit)
    },
  )

  routes.post(
    '/api/v1/automation-rules/:id/dry-run',
    {
      config: admin,
      schema: {
        summary: 'What the rule would do to a record now, without doing it (administrators)',
        params: IdParams,
        body: DryRunSchema,
        response: { 200: DryRunViewSchema, 404: refusal('No such rule or record (E_NOT_FOUND)') },
      },
    },
    async (request) => {
      // Run for real inside the transaction, then roll it back: what it says is what it would do.
      const outcome = await writes
        .run((tx) => {
          const rule = parsed(ruleOf(tx, request.params.id))
          const record = findRecord(tx, request.body.recordId)
          const model = registry.byId(rule.modelId)
          if (!record || !model || record.modelId !== rule.modelId)
            throw new NodeError('E_NOT_FOUND', `no ${model?.name ?? ''} record ${request.body.recordId}`)
          // As if it changed now: its conditions before and after both look at the record as it is.
          const matches =
            (rule.before === null || meets(rule.before, record.values)) &&
            (rule.after === null || meets(rule.after, record.values))
          let result: { matches: boolean; effects: string[]; error: string | null }
          const principal = authorOf(tx, rule)
          try {
            if (!principal) throw new Error('its author is no longer an active administrator: save it again')
            const { said } = runActions(
              tx,
              rule,
              {
                kind: 'update',
                model,
                registry,
                record,
                before: record.values,
                site: opts.config,
                now: clock.now(),
                effects: newEffects(),
              },
              principal,
            )
            result = { matches, effects: said, error: null }
          } catch (error) {
            result = {
              matches,
              effects: [],
              error: (error as { detail?: string }).detail ?? (error as Error).message,
            }
          }
          throw new DryRun(result)
        })
        .catch((error) => {
          if (error instanceof DryRun) return error.result
          throw error
        })
      return outcome
    },
  )
}

/** Carries a dry run's answer out of the transaction it rolls back. */
class DryRun extends Error {
  constructor(readonly result: { matches: boolean; effects: string[]; error: string | null }) {
    super('dry run')
  }
}

/** A time-based trigger without a zone reads dates and days in its author's. */
function withZone(trigger: Trigger, timeZone: string): Trigger {
  return trigger.kind === 'time' && trigger.timeZone === undefined ? { ...trigger, timeZone } : trigger
}

/**
 * The columns a trigger keeps beside it: a webhook rule's secret (kept while it stays a webhook rule),
 * and where a time-based rule starts looking for what falls due.
 */
function triggerColumns(trigger: Trigger, hookToken: string | null, now: number) {
  return {
    hookToken: trigger.kind === 'webhook' ? (hookToken ?? randomToken()) : null,
    checkedUntil: trigger.kind === 'time' ? now : null,
  }
}

function ruleOf(tx: Tx, id: number): RuleRow {
  const row = tx.select().from(automationRules).where(eq(automationRules.id, id)).get()
  if (!row) throw new NodeError('E_NOT_FOUND', `no automation rule ${id}`)
  return row
}
