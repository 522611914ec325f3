import { createHash, timingSafeEqual } from 'node:crypto'
import { type Clock, rawBody, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { authenticate } from '../auth/plugin.ts'
import type { Db } from '../db/client.ts'
import { NodeError } from '../errors.ts'
import { isAdmin } from '../policies/index.ts'
import { createNodeMetrics } from './registry.ts'

/**
 * Whoever sends `Authorization: Bearer <NODE_METRICS_TOKEN>` (a scraper): compared in constant time,
 * over SHA-256 digests so both sides have the same length whatever the caller sends. No token
 * configured: nobody this way.
 */
export function holdsMetricsToken(authorization: string | undefined, token: string | undefined): boolean {
  if (token === undefined || authorization === undefined) return false
  const digest = (value: string) => createHash('sha256').update(value).digest()
  return timingSafeEqual(digest(authorization), digest(`Bearer ${token}`))
}

/**
 * Counts every request as it ends, and serves GET /metrics. The figures name connections and show
 * the company's activity, so they are not public: a scraper's token, or an administrator (a session, or
 * a key with the `admin` scope). The route is declared public to the auth hook because the token is
 * not an API key; it makes the same refusals itself, 401 without a credential and 403 to others.
 */
export function installMetrics(
  app: FastifyInstance,
  deps: { db: Db; clock: Clock; sessionIdleMs: number; metricsToken: string | undefined },
): void {
  const metrics = createNodeMetrics({ db: deps.db, clock: deps.clock })
  // Called at the root, so the hook sees every route; the route pattern, not the URL, keeps the
  // label's values few (an unknown path is "unknown").
  app.addHook('onResponse', async (request, reply) => {
    metrics.requestSeconds.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unknown',
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    )
  })
  const mayRead = async (request: FastifyRequest) => {
    if (holdsMetricsToken(request.headers.authorization, deps.metricsToken)) return
    const principal = authenticate(request, deps)
    if (!principal) throw new NodeError('E_AUTH_REQUIRED')
    if (!isAdmin(principal)) throw new NodeError('E_FORBIDDEN', 'only an administrator can read metrics')
  }
  app.withTypeProvider<ZodTypeProvider>().get(
    '/metrics',
    {
      config: { access: 'public' },
      onRequest: mayRead,
      schema: {
        summary:
          'Prometheus metrics: Bearer NODE_METRICS_TOKEN, or an administrator (session or admin-scoped key)',
        response: { 200: rawBody('text/plain', 'Prometheus text exposition format') },
      },
    },
    async (_request, reply) =>
      reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics()),
  )
}
