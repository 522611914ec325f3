import type { FastifyInstance } from 'fastify'
import type { DeliveryMetrics } from '../delivery/metrics.ts'
import { RelayError } from '../errors.ts'

/**
 * GET /metrics for Prometheus. Queue figures name instances, so it is not public: it needs
 * `Authorization: Bearer <RELAY_METRICS_TOKEN>`, and is off while no token is configured.
 */
export async function opsRoutes(
  app: FastifyInstance,
  deps: { metrics: DeliveryMetrics; metricsToken: string | undefined },
): Promise<void> {
  app.get('/metrics', { config: { auth: 'metrics-token' } }, async (request, reply) => {
    // Deny by default: without RELAY_METRICS_TOKEN there is no /metrics (behind a proxy every caller
    // could look local, so the caller's address proves nothing).
    const allowed =
      deps.metricsToken !== undefined && request.headers.authorization === `Bearer ${deps.metricsToken}`
    if (!allowed) throw new RelayError('E_NOT_FOUND')
    return reply
      .header('content-type', deps.metrics.registry.contentType)
      .send(await deps.metrics.registry.metrics())
  })
}
