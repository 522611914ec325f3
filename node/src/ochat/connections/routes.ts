import type { Clock, ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import { itemsOf } from '../../api/pagination.ts'
import { principalOf } from '../../auth/plugin.ts'
import type { Db } from '../../db/client.ts'
import type { WriteQueue } from '../../db/write-queue.ts'
import { NodeError } from '../../errors.ts'
import { seesAllConnections, visibleConnection, visibleConnectionStates } from '../../policies/index.ts'
import { addEmailContact } from '../email/add-contact.ts'
import { EmailPartnerError } from '../email/errors.ts'
import { revokeEmailContact } from '../email/revoke-contact.ts'
import type { Ochat } from '../runtime.ts'
import { decideConnection, requestConnection, setConnectionContact, verifyKeys } from './commands.ts'
import { ConnectionViewSchema, presentConnections } from './presenter.ts'
import {
  type ConnectionRow,
  channelIdsOf,
  contactNames,
  findConnection,
  listConnections,
  waitingByChannel,
} from './repository.ts'
import {
  ConnectionListQuery,
  ConnectionParams,
  ConnectionRequestBody,
  ContactBody,
  DecisionBody,
  EmailContactBody,
  VerifyBody,
} from './schema.ts'

const DECISION_SUMMARIES = {
  accept: 'Accept an incoming request (a contact is required): both sides get a channel',
  reject: 'Reject an incoming request',
  revoke: 'Revoke: nothing flows any more, queued messages are purged',
} as const

/**
 * Connections with other companies. Admins see every connection with its safety code and decide on
 * requests; other users see the accepted ones (to write to them) and nothing else, as if the rest did
 * not exist.
 */
export async function connectionRoutes(
  app: FastifyInstance,
  opts: { db: Db; ochat: Ochat; writes: WriteQueue; clock: Clock },
) {
  const { db, ochat } = opts
  const routes = app.withTypeProvider<ZodTypeProvider>()
  const read = { access: 'user', scope: 'ochat:read' } as const
  const admin = { access: 'user', scope: 'admin', admin: true } as const

  function present(rows: ConnectionRow[], asAdmin: boolean) {
    const instance = ochat.instance()
    const channelIds = channelIdsOf(
      db,
      rows.map((row) => row.id),
    )
    return presentConnections(rows, {
      instance,
      admin: asAdmin,
      contactNames: contactNames(
        db,
        rows.flatMap((row) => (row.contactPartnerId === null ? [] : [row.contactPartnerId])),
      ),
      channelIds,
      waiting: waitingByChannel(
        db,
        rows.flatMap((row) => {
          const id = channelIds.get(row.id)
          return id === undefined ? [] : [{ id, byEmail: row.transport === 'email' }]
        }),
      ),
    })
  }

  /** Whether this is an email partner's connection (an admin's route: hidden ones are not a concern). */
  function emailPartner(id: string): boolean {
    return findConnection(db, id)?.transport === 'email'
  }

  function presentOne(row: ConnectionRow, asAdmin: boolean) {
    const [view] = present([row], asAdmin)
    if (!view) throw new NodeError('E_INTERNAL')
    return view
  }

  routes.get(
    '/api/v1/ochat/connections',
    {
      config: read,
      schema: {
        summary:
          'Connections with other companies (administrators see all, with safety codes; users the accepted ones)',
        querystring: ConnectionListQuery,
        response: { 200: itemsOf(ConnectionViewSchema) },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const states = visibleConnectionStates(principal, request.query.state)
      return { items: present(listConnections(db, { states }), seesAllConnections(principal)) }
    },
  )

  routes.get(
    '/api/v1/ochat/connections/:id',
    {
      config: read,
      schema: {
        summary: 'One connection',
        params: ConnectionParams,
        response: { 200: ConnectionViewSchema },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const row = visibleConnection(principal, findConnection(db, request.params.id))
      return presentOne(row, seesAllConnections(principal))
    },
  )

  /** Reads the relay's view now (new requests, decisions by the other side, key changes). */
  routes.post(
    '/api/v1/ochat/connections/sync',
    {
      config: admin,
      schema: {
        summary:
          "Read every connection from the relay now (new requests, the other side's decisions, key changes)",
        response: { 200: itemsOf(ConnectionViewSchema) },
      },
    },
    async () => {
      ochat.instance()
      await ochat.syncConnections().catch((error) => {
        throw error instanceof NodeError
          ? error
          : new NodeError('E_OCHAT_RELAY_UNREACHABLE', (error as Error).message)
      })
      return { items: present(listConnections(db), true) }
    },
  )

  /** A partner company without a node: its channel goes by plain email, and says so. */
  routes.post(
    '/api/v1/ochat/connections/email',
    {
      config: admin,
      schema: {
        summary:
          'Add a partner company without a node, reached by email (not end-to-end encrypted): it gets a channel at once',
        body: EmailContactBody,
        response: { 201: ConnectionViewSchema },
      },
    },
    async (request, reply) => {
      ochat.instance()
      const row = await addEmailContact({
        ochat,
        writes: opts.writes,
        email: request.body.email,
        name: request.body.name,
        contactPartnerId: request.body.contactPartnerId,
        by: principalOf(request).name,
        nowMs: opts.clock.now(),
      })
      return reply.status(201).send(presentOne(row, true))
    },
  )

  routes.post(
    '/api/v1/ochat/connections',
    {
      config: admin,
      schema: {
        summary: 'Request a connection by instance id, with a message and the contact it is filed under',
        body: ConnectionRequestBody,
        response: { 201: ConnectionViewSchema },
      },
    },
    async (request, reply) => {
      const { body } = request
      const row = await requestConnection({
        ochat,
        writes: opts.writes,
        db,
        instanceId: body.instanceId,
        message: body.message,
        contactPartnerId: body.contactPartnerId,
        nowMs: opts.clock.now(),
      })
      return reply.status(201).send(presentOne(row, true))
    },
  )

  for (const action of ['accept', 'reject', 'revoke'] as const) {
    routes.post(
      `/api/v1/ochat/connections/:id/${action}`,
      {
        config: admin,
        schema: {
          summary: DECISION_SUMMARIES[action],
          params: ConnectionParams,
          // No body at all is a decision without a note.
          body: DecisionBody.nullable().transform((body) => body ?? {}),
          response: { 200: ConnectionViewSchema },
        },
      },
      async (request) => {
        const byEmail = emailPartner(request.params.id)
        if (byEmail && action !== 'revoke')
          throw new EmailPartnerError('E_OCHAT_NOT_FOR_EMAIL', `an email partner cannot be ${action}ed`)
        const row = byEmail
          ? await revokeEmailContact({
              ochat,
              writes: opts.writes,
              id: request.params.id,
              by: principalOf(request).name,
              note: request.body.note,
              nowMs: opts.clock.now(),
            })
          : await decideConnection({
              ochat,
              writes: opts.writes,
              db,
              id: request.params.id,
              action,
              note: request.body.note,
              contactPartnerId: request.body.contactPartnerId,
              nowMs: opts.clock.now(),
            })
        return presentOne(row, true)
      },
    )
  }

  /** Sets the contact of a connection (e.g. one accepted before contacts were filed). */
  routes.post(
    '/api/v1/ochat/connections/:id/contact',
    {
      config: admin,
      schema: {
        summary: 'File the other company under another contact',
        params: ConnectionParams,
        body: ContactBody,
        response: { 200: ConnectionViewSchema },
      },
    },
    async (request) => {
      const row = await setConnectionContact({
        ochat,
        writes: opts.writes,
        id: request.params.id,
        contactPartnerId: request.body.contactPartnerId,
      })
      return presentOne(row, true)
    },
  )

  /** After comparing the new safety code with the other company: pin the new keys, resume the channel. */
  routes.post(
    '/api/v1/ochat/connections/:id/verify',
    {
      config: admin,
      schema: {
        summary:
          "After comparing the new safety code with the other company: pin the peer's new keys and resume",
        params: ConnectionParams,
        body: VerifyBody,
        response: { 200: ConnectionViewSchema },
      },
    },
    async (request) => {
      if (emailPartner(request.params.id))
        throw new EmailPartnerError('E_OCHAT_NOT_FOR_EMAIL', 'an email partner has no keys to verify')
      const row = await verifyKeys({
        ochat,
        writes: opts.writes,
        id: request.params.id,
        safetyCode: request.body.safetyCode,
        userId: principalOf(request).userId,
        nowMs: opts.clock.now(),
      })
      return presentOne(row, true)
    },
  )
}
