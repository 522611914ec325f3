import type { FastifyInstance } from 'fastify'
import type { DeliveryMetrics } from '../delivery/metrics.ts'
import { RelayError } from '../errors.ts'

/**
 * GET /metrics for Prometheus. Queue figures name instances, so it is not public: with
 * RELAY_METRICS_TOKEN set it needs `Authorization: Bearer <token>`; without it, only local callers.
 */
export async function opsRoutes(
  app: FastifyInstance,
  deps: { metrics: DeliveryMetrics; metricsToken: string | undefined },
): Promise<void> {
  app.get('/metrics', async (request, reply) => {
    const allowed = deps.metricsToken
      ? request.headers.authorization === `Bearer ${deps.metricsToken}`
      : ['127.0.0.1', '::1', '::ffff:127.0.0.1'].includes(request.ip)
    if (!allowed) throw new RelayError('E_NOT_FOUND')
    return reply
      .header('content-type', deps.metrics.registry.contentType)
      .send(await deps.metrics.registry.metrics())
  })
}
