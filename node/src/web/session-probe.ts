import type { Clock, ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { authenticate } from '../auth/plugin.ts'
import type { Db } from '../db/client.ts'
import { UserViewSchema } from '../people/presenter.ts'
import { userView } from '../people/session-routes.ts'

/** Like the session view, with `user: null` (and no token) when nobody is logged in. */
const SessionProbeSchema = z.object({ csrfToken: z.string().nullable(), user: UserViewSchema.nullable() })

/**
 * `GET /api/v1/session/probe`: the UI asks at every page load whether someone is logged in. Logged out
 * is the expected answer there, not a failure: a 401 would be logged by the browser as an error on
 * every visit. `GET /api/v1/session` keeps its 401 for API clients.
 */
export async function sessionProbeRoutes(
  app: FastifyInstance,
  deps: { db: Db; clock: Clock; sessionIdleMs: number },
) {
  const routes = app.withTypeProvider<ZodTypeProvider>()
  routes.get(
    '/api/v1/session/probe',
    {
      // Public so that no credential is refused; the handler checks the one given like any route.
      config: { access: 'public' },
      schema: {
        summary:
          'Who is logged in, if anyone: 200 with `user: null` when not (GET /api/v1/session answers 401 then)',
        response: { 200: SessionProbeSchema },
      },
    },
    async (request) => {
      const principal = authenticate(request, deps)
      if (!principal) return { csrfToken: null, user: null }
      return { csrfToken: principal.csrfToken ?? null, user: userView(deps.db, principal.userId) }
    },
  )
}
