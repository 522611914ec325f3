import type { ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import { principalOf } from '../auth/plugin.ts'
import type { Db } from '../db/client.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import type { ModelRegistry } from '../models/registry.ts'
import { catchUp } from './indexer.ts'
import { SearchResultSchema } from './presenter.ts'
import { SearchQuerySchema } from './schema.ts'
import { search } from './search.ts'

/** Full-text search over records, chatter and O'Chat messages. */
export async function searchRoutes(
  app: FastifyInstance,
  opts: { db: Db; writes: WriteQueue; registry: ModelRegistry },
) {
  const routes = app.withTypeProvider<ZodTypeProvider>()
  routes.get(
    '/api/v1/search',
    {
      config: { access: 'user', scope: 'records:read' },
      schema: {
        summary: 'Search records, chatter and O’Chat messages you may see, grouped by kind',
        description:
          'Each word must match (the last one as a word start). Chatter hits need the `chatter:read` scope, O’Chat hits `ochat:read`; a kind the key may not read counts 0.',
        querystring: SearchQuerySchema,
        response: { 200: SearchResultSchema },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      await catchUp(opts)
      return search(opts.db, { principal, query: request.query })
    },
  )
}
