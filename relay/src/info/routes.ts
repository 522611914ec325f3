import { LIMITS, type RelayInfo } from '@ochat/shared-protocol'
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
      // Published so nodes pace their submits to these buckets (envelopes/rate-limiter.ts).
      submitRates: {
        connection: {
          burst: deps.config.rate.connectionBurst,
          perSecond: deps.config.rate.connectionPerSecond,
        },
        instance: { burst: deps.config.rate.instanceBurst, perSecond: deps.config.rate.instancePerSecond },
      },
    },
  }

  app.get('/v1/info', { config: { auth: 'public' } }, async () => info)

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
