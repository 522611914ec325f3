import { rawBody, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import type { DeliveryMetrics } from '../delivery/metrics.ts'
import { authorize, mayReadMetrics } from '../policies.ts'

/**
 * GET /metrics for Prometheus. Queue figures name instances, so it is not public: it needs
 * `Authorization: Bearer <RELAY_METRICS_TOKEN>`, and is off while no token is configured.
 */
export async function opsRoutes(
  app: FastifyInstance,
  deps: { metrics: DeliveryMetrics; metricsToken: string | undefined },
): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/metrics',
    {
      config: { auth: 'metrics-token' },
      schema: {
        summary: 'Prometheus metrics (bearer token; off while RELAY_METRICS_TOKEN is unset)',
        response: { 200: rawBody('text/plain', 'Prometheus text exposition format') },
      },
    },
    async (request, reply) => {
      authorize(mayReadMetrics(request.headers.authorization, deps.metricsToken))
      return reply
        .header('content-type', deps.metrics.registry.contentType)
        .send(await deps.metrics.registry.metrics())
    },
  )
}
