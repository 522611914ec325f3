import {
  LIMITS,
  RATE_BOUNDS,
  type Rate,
  ReasonSchema,
  type RelayInfo,
  RelayInfoSchema,
  type RelayRates,
  RelayRatesSchema,
} from '@ochat/shared-protocol'
import { noBody, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { InfoSettings } from '../settings.ts'
import type { Readiness } from './readiness.ts'
import type { RelayKeys } from './relay-keys.ts'

/** What /healthz and /readyz answer while the relay can serve. */
const HealthySchema = z.strictObject({ ok: z.literal(true) })

/** Public routes: the relay's identity and key set, and health for the load balancer. */
export async function infoRoutes(
  app: FastifyInstance,
  deps: { config: InfoSettings; readiness: Readiness; relayKeys: RelayKeys },
): Promise<void> {
  const info: RelayInfo = {
    v: 1,
    relayId: deps.relayKeys.relayId,
    name: deps.config.name,
    registration: deps.config.registration,
    keySet: deps.relayKeys.keySet,
    limits: {
      envelopeBytes: LIMITS.envelopeCiphertextBytes,
      bulkRecipients: LIMITS.bulkRecipients,
      attachmentBytes: LIMITS.attachmentBytes,
      attachmentsPerMessage: LIMITS.attachmentsPerMessage,
      messageAttachmentBytes: LIMITS.messageAttachmentBytes,
      clockSkewSeconds: LIMITS.clockSkewSeconds,
    },
  }
  // Published so nodes pace their submits to the buckets they will meet (envelopes/rate-limiter.ts),
  // within the bounds nodes accept: past 100,000 a bucket is as good as none to a sender, and below
  // 0.01/s a node that sends too soon is only told to wait.
  const rate = deps.config.rate
  const rates: RelayRates = {
    v: 1,
    submit: {
      connection: bounded(rate.connectionBurst, rate.connectionPerSecond),
      instance: bounded(rate.instanceBurst, rate.instancePerSecond),
    },
  }

  const routes = app.withTypeProvider<ZodTypeProvider>()

  // The address the relay prints at start is what people open first: send them to the API document
  // rather than to a 404.
  routes.get(
    '/',
    {
      config: { auth: 'public' },
      schema: {
        summary: 'Redirects to /docs, the API document (a viewer page in a browser)',
        response: { 302: noBody('To /docs') },
      },
    },
    async (_request, reply) => reply.redirect('/docs', 302),
  )

  routes.get(
    '/v1/info',
    {
      config: { auth: 'public' },
      schema: {
        summary: "The relay's id, policy, limits and signed key set",
        response: { 200: RelayInfoSchema },
      },
    },
    async () => info,
  )

  routes.get(
    '/v1/rates',
    {
      config: { auth: 'public' },
      schema: {
        summary: 'The token buckets an envelope submit meets, for senders to pace to',
        response: { 200: RelayRatesSchema },
      },
    },
    async () => rates,
  )

  routes.get(
    '/healthz',
    { config: { auth: 'public' }, schema: { summary: 'Liveness', response: { 200: HealthySchema } } },
    async () => ({ ok: true as const }),
  )

  routes.get(
    '/readyz',
    {
      config: { auth: 'public' },
      schema: {
        summary:
          'Readiness: the database answers and is migrated, the socket lease heartbeat runs, the relay is not shutting down',
        response: {
          200: HealthySchema,
          503: z
            .strictObject({ ok: z.literal(false), reason: ReasonSchema })
            .meta({ description: 'Not ready; the reason says which check failed' }),
        },
      },
    },
    async (_request, reply) => {
      const answer = await deps.readiness.check()
      return answer.ok ? answer : reply.status(503).send(answer)
    },
  )
}

function bounded(burst: number, perSecond: number): Rate {
  const clamp = (value: number, bounds: { min: number; max: number }) =>
    Math.min(bounds.max, Math.max(bounds.min, value))
  return { burst: clamp(burst, RATE_BOUNDS.burst), perSecond: clamp(perSecond, RATE_BOUNDS.perSecond) }
}
