import {
  ConnectionDecisionResponseSchema,
  ConnectionDecisionSchema,
  ConnectionListResponseSchema,
  ConnectionRequestSchema,
  ConnectionResponseSchema,
} from '@ochat/shared-protocol'
import { type Clock, refusal, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance, preValidationHookHandler } from 'fastify'
import { currentInstance } from '../auth/plugin.ts'
import type { Db } from '../db/client.ts'
import { IdParams, idBeforeBody, wellFormedId } from '../ids.ts'
import { clientAddress } from '../limits/client-address.ts'
import type { ConnectionRouteSettings } from '../settings.ts'
import { decideConnection } from './decide-connection.ts'
import { getConnection, listConnections } from './list-connections.ts'
import { requestConnection } from './request-connection.ts'

export async function connectionRoutes(
  app: FastifyInstance,
  deps: { db: Db; clock: Clock; config: ConnectionRouteSettings; signed: preValidationHookHandler },
): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>()

  routes.post(
    '/v1/connections',
    {
      preValidation: deps.signed,
      schema: {
        summary: 'Request a connection, with a message',
        body: ConnectionRequestSchema,
        response: {
          201: ConnectionResponseSchema,
          429: refusal(
            'Too many requests from this instance or address this hour, or the addressee has its share from your address (E_CONNECTION_RATE_LIMITED); it takes no more pending requests now (E_CONNECTION_REQUESTS_FULL); it rejected you less than 24 h ago (E_CONNECTION_RECENTLY_REJECTED)',
          ),
        },
      },
    },
    async (request, reply) => {
      const connection = await requestConnection({
        db: deps.db,
        config: deps.config,
        requester: currentInstance(request),
        address: clientAddress(request, deps.config.trustProxy),
        to: request.body.to,
        message: request.body.message,
        nowMs: deps.clock.now(),
      })
      return reply.status(201).send({ connection })
    },
  )

  routes.get(
    '/v1/connections',
    {
      preValidation: deps.signed,
      schema: {
        summary: "The caller's connections, both directions, with history",
        response: { 200: ConnectionListResponseSchema },
      },
    },
    async (request) => ({
      connections: await listConnections({ db: deps.db, viewer: currentInstance(request).id }),
    }),
  )

  routes.get(
    '/v1/connections/:id',
    {
      preValidation: deps.signed,
      schema: { summary: 'One connection', params: IdParams, response: { 200: ConnectionResponseSchema } },
    },
    async (request) => ({
      connection: await getConnection({
        db: deps.db,
        viewer: currentInstance(request).id,
        id: wellFormedId(request.params.id),
      }),
    }),
  )

  routes.post(
    '/v1/connections/:id/decision',
    {
      // The id before the body: a malformed one is the 404 of a connection one may not see, bad body or not.
      preValidation: [deps.signed, idBeforeBody],
      schema: {
        summary: 'Accept, reject or revoke; revoking purges queued envelopes',
        params: IdParams,
        body: ConnectionDecisionSchema,
        response: { 200: ConnectionDecisionResponseSchema },
      },
    },
    async (request) => {
      const { view, purged } = await decideConnection({
        db: deps.db,
        actor: currentInstance(request),
        connectionId: request.params.id,
        decision: request.body,
        nowMs: deps.clock.now(),
        deadlineMs: deps.config.deliveryDeadlineMs,
      })
      return { connection: view, purged }
    },
  )
}
