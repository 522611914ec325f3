import { type Clock, refusal, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import { eq } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { Db } from '../db/client.ts'
import { automationRules } from '../db/schema.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import { NodeError } from '../errors.ts'
import { newEffects } from '../live/events.ts'
import type { LiveHub } from '../live/hub.ts'
import type { ModelRegistry } from '../models/registry.ts'
import { findRecord } from '../records/repository.ts'
import type { Site } from './actions.ts'
import { keepFailedRun, parsed, runRule } from './engine.ts'

/** Where integrators call a webhook-triggered rule. */
export function hookUrl(publicUrl: string, token: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/api/v1/automation-hooks/${token}`
}

const HookParams = z.strictObject({ token: z.string().min(1).max(100) })
const HookBodySchema = z.strictObject({
  recordId: z.int().positive().meta({ description: 'The record of the rule’s model to run it on' }),
})
const HookAnswerSchema = z.object({
  ran: z.boolean().meta({ description: 'False when the record does not meet the rule’s conditions' }),
})

/**
 * The secret URL of a webhook-triggered rule. The token is the authority, as a signed link is: an
 * unknown token, a rule switched off and a record the rule cannot see all get the same 404, so the URL
 * tells a caller without it nothing. The rule runs as it would on a write: its actions in one
 * transaction, a failure refused whole (422, naming the rule) and kept in the rule's run log.
 */
export async function automationHookRoutes(
  app: FastifyInstance,
  opts: { db: Db; writes: WriteQueue; clock: Clock; registry: ModelRegistry; live: LiveHub; config: Site },
) {
  const { writes, clock, registry, live } = opts
  const routes = app.withTypeProvider<ZodTypeProvider>()
  const notFound = () => new NodeError('E_NOT_FOUND', 'no such automation hook, or no such record for it')

  routes.post(
    '/api/v1/automation-hooks/:token',
    {
      config: { access: 'public' },
      schema: {
        summary: 'Run a webhook-triggered automation rule on a record (its secret URL is the authority)',
        params: HookParams,
        body: HookBodySchema,
        response: {
          200: HookAnswerSchema,
          404: refusal('No such hook or record (E_NOT_FOUND)'),
          422: refusal('The rule failed: nothing of it was saved (E_AUTOMATION_FAILED)'),
        },
      },
    },
    async (request) => {
      const effects = newEffects()
      const now = clock.now()
      const ran = await writes
        .run((tx) => {
          const row = tx
            .select()
            .from(automationRules)
            .where(eq(automationRules.hookToken, request.params.token))
            .get()
          if (!row?.active) throw notFound()
          const rule = parsed(row)
          const record = findRecord(tx, request.body.recordId)
          const model = registry.byId(rule.modelId)
          if (!record || !model || record.modelId !== rule.modelId) throw notFound()
          return runRule(tx, rule, {
            kind: 'webhook',
            model,
            registry,
            record,
            before: null,
            site: opts.config,
            now,
            effects,
          })
        })
        .catch((error) => keepFailedRun(writes, error, now, (events) => live.publish({ events })))
      live.publish(effects)
      return { ran }
    },
  )
}
