import { ConnectionDecisionSchema, ConnectionRequestSchema, IdSchema } from '@ochat/shared-protocol'
import type { FastifyInstance, preHandlerHookHandler } from 'fastify'
import { z } from 'zod'
import { currentInstance } from '../auth/plugin.ts'
import type { Clock } from '../clock.ts'
import type { Config } from '../config.ts'
import type { Db } from '../db/client.ts'
import { parseBody, RelayError } from '../errors.ts'
import { clientAddress } from '../limits/client-address.ts'
import { decideConnection } from './decide-connection.ts'
import { getConnection, listConnections } from './list-connections.ts'
import { requestConnection } from './request-connection.ts'

const ParamsSchema = z.object({ id: z.string() })

function connectionId(params: unknown): string {
  const { id } = parseBody(ParamsSchema, params)
  // A malformed id cannot name a connection: the same 404 as someone else's.
  if (!IdSchema.safeParse(id).success) throw new RelayError('E_NOT_FOUND')
  return id
}

export async function connectionRoutes(
  app: FastifyInstance,
  deps: { db: Db; clock: Clock; config: Config; signed: preHandlerHookHandler },
): Promise<void> {
  app.post('/v1/connections', { preHandler: deps.signed }, async (request, reply) => {
    const body = parseBody(ConnectionRequestSchema, request.body)
    const connection = await requestConnection({
      db: deps.db,
      config: deps.config,
      requester: currentInstance(request),
      address: clientAddress(request, deps.config.trustProxy),
      to: body.to,
      message: body.message,
      nowMs: deps.clock.now(),
    })
    return reply.status(201).send({ connection })
  })

  app.get('/v1/connections', { preHandler: deps.signed }, async (request) => ({
    connections: await listConnections({ db: deps.db, viewer: currentInstance(request).id }),
  }))

  app.get('/v1/connections/:id', { preHandler: deps.signed }, async (request) => ({
    connection: await getConnection({
      db: deps.db,
      viewer: currentInstance(request).id,
      id: connectionId(request.params),
    }),
  }))

  app.post('/v1/connections/:id/decision', { preHandler: deps.signed }, async (request) => {
    const id = connectionId(request.params)
    const decision = parseBody(ConnectionDecisionSchema, request.body)
    const { view, purged } = await decideConnection({
      db: deps.db,
      actor: currentInstance(request),
      connectionId: id,
      decision,
      nowMs: deps.clock.now(),
      deadlineMs: deps.config.deliveryDeadlineMs,
    })
    return { connection: view, purged }
  })
}
