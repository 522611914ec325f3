import { LIMITS, RATE_BOUNDS, type Rate, type RelayInfo, type RelayRates } from '@ochat/shared-protocol'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../config.ts'
import type { Database } from '../db/client.ts'
import type { RelayKeys } from './relay-keys.ts'

/** Public routes: the relay's identity and key set, and health for the load balancer. */
export async function infoRoutes(
  app: FastifyInstance,
  deps: { config: Config; database: Database; relayKeys: RelayKeys },
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

  app.get('/v1/info', { config: { auth: 'public' } }, async () => info)

  app.get('/v1/rates', { config: { auth: 'public' } }, async () => rates)

  app.get('/healthz', { config: { auth: 'public' } }, async () => ({ ok: true }))

  app.get('/readyz', { config: { auth: 'public' } }, async (_request, reply) => {
    try {
      await deps.database.ping()
      return { ok: true }
    } catch {
      return reply.status(503).send({ ok: false, reason: 'error: the database does not answer' })
    }
  })
}

function bounded(burst: number, perSecond: number): Rate {
  const clamp = (value: number, bounds: { min: number; max: number }) =>
    Math.min(bounds.max, Math.max(bounds.min, value))
  return { burst: clamp(burst, RATE_BOUNDS.burst), perSecond: clamp(perSecond, RATE_BOUNDS.perSecond) }
}
