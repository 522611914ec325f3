import { InstanceIdSchema, LIMITS, plainText } from '@ochat/shared-protocol'
import { eq, inArray } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { principalOf } from '../../auth/plugin.ts'
import { isAdmin } from '../../auth/principal.ts'
import type { Clock } from '../../clock.ts'
import type { Db } from '../../db/client.ts'
import { ochatChannels, ochatConnections, partners } from '../../db/schema.ts'
import type { WriteQueue } from '../../db/write-queue.ts'
import { NodeError, parseWith } from '../../errors.ts'
import type { Ochat } from '../runtime.ts'
import { decideConnection, requestConnection, verifyKeys } from './commands.ts'
import { presentConnection } from './presenter.ts'
import { allConnections, type ConnectionRow, findConnection } from './repository.ts'

export const ConnectionParams = z.object({ id: z.uuid() })
export const ConnectionRequestBody = z.strictObject({
  instanceId: InstanceIdSchema,
  /** As the relay takes it (PROTOCOL.md §3.1): no control characters but line breaks. */
  message: plainText(LIMITS.connectionMessageChars).default(''),
  /** The contact (an external partner) the other company is filed under. */
  contactPartnerId: z.int().positive(),
})
export const DecisionBody = z.strictObject({
  note: plainText(500).optional(),
  /** Accept: the contact the other company is filed under (required unless set when requested). */
  contactPartnerId: z.int().positive().optional(),
})
export const VerifyBody = z.strictObject({ safetyCode: z.string().min(60).max(100) })
export const ConnectionListQuery = z.object({
  state: z.enum(['pending', 'accepted', 'rejected', 'revoked']).optional(),
})

/**
 * Connections with other companies. Admins see every connection with its safety code and decide on
 * requests; other users see the accepted ones (to write to them) and nothing else, as if the rest did
 * not exist (invariant 11).
 */
export async function connectionRoutes(
  app: FastifyInstance,
  opts: { db: Db; ochat: Ochat; writes: WriteQueue; clock: Clock },
) {
  const { db, ochat } = opts

  function present(rows: ConnectionRow[], admin: boolean) {
    const instance = ochat.instance()
    const contactIds = rows.flatMap((row) => (row.contactPartnerId === null ? [] : [row.contactPartnerId]))
    const names = new Map(
      contactIds.length === 0
        ? []
        : db
            .select({ id: partners.id, name: partners.name })
            .from(partners)
            .where(inArray(partners.id, contactIds))
            .all()
            .map((p) => [p.id, p.name]),
    )
    const channels = new Map(
      rows.length === 0
        ? []
        : db
            .select({ id: ochatChannels.id, connectionId: ochatChannels.connectionId })
            .from(ochatChannels)
            .where(
              inArray(
                ochatChannels.connectionId,
                rows.map((row) => row.id),
              ),
            )
            .all()
            .map((c) => [c.connectionId, c.id]),
    )
    return rows.map((row) =>
      presentConnection(row, {
        instance,
        admin,
        contactName: row.contactPartnerId === null ? null : (names.get(row.contactPartnerId) ?? null),
        channelId: channels.get(row.id) ?? null,
      }),
    )
  }

  function visible(id: string, admin: boolean): ConnectionRow {
    const row = findConnection(db, id)
    if (!row || (!admin && row.state !== 'accepted')) throw new NodeError('E_NOT_FOUND')
    return row
  }

  app.get(
    '/api/v1/ochat/connections',
    { config: { access: 'user', scope: 'ochat:read' } },
    async (request) => {
      const admin = isAdmin(principalOf(request))
      const query = parseWith(ConnectionListQuery, request.query, 'E_INVALID_PARAMS')
      const rows = allConnections(db)
        .filter((row) => (admin || row.state === 'accepted') && (!query.state || row.state === query.state))
        .sort((a, b) => b.updatedAt - a.updatedAt)
      return { items: present(rows, admin) }
    },
  )

  app.get(
    '/api/v1/ochat/connections/:id',
    { config: { access: 'user', scope: 'ochat:read' } },
    async (request) => {
      const admin = isAdmin(principalOf(request))
      const { id } = parseWith(ConnectionParams, request.params, 'E_INVALID_PARAMS')
      const [view] = present([visible(id, admin)], admin)
      return view
    },
  )

  /** Reads the relay's view now (new requests, decisions by the other side, key changes). */
  app.post(
    '/api/v1/ochat/connections/sync',
    { config: { access: 'user', scope: 'admin', admin: true } },
    async () => {
      ochat.instance()
      await ochat.syncConnections().catch((error) => {
        throw error instanceof NodeError
          ? error
          : new NodeError('E_OCHAT_RELAY_UNREACHABLE', (error as Error).message)
      })
      return {
        items: present(
          allConnections(db).sort((a, b) => b.updatedAt - a.updatedAt),
          true,
        ),
      }
    },
  )

  app.post(
    '/api/v1/ochat/connections',
    { config: { access: 'user', scope: 'admin', admin: true } },
    async (request, reply) => {
      const body = parseWith(ConnectionRequestBody, request.body)
      const row = await requestConnection({
        ochat,
        writes: opts.writes,
        db,
        instanceId: body.instanceId,
        message: body.message,
        contactPartnerId: body.contactPartnerId,
        nowMs: opts.clock.now(),
      })
      return reply.status(201).send(present([row], true)[0])
    },
  )

  for (const action of ['accept', 'reject', 'revoke'] as const) {
    app.post(
      `/api/v1/ochat/connections/:id/${action}`,
      { config: { access: 'user', scope: 'admin', admin: true } },
      async (request) => {
        const { id } = parseWith(ConnectionParams, request.params, 'E_INVALID_PARAMS')
        const body = parseWith(DecisionBody, request.body ?? {})
        const row = await decideConnection({
          ochat,
          writes: opts.writes,
          db,
          id,
          action,
          note: body.note,
          contactPartnerId: body.contactPartnerId,
          nowMs: opts.clock.now(),
        })
        return present([row], true)[0]
      },
    )
  }

  /** Sets the contact of a connection (e.g. one accepted before contacts were filed). */
  app.post(
    '/api/v1/ochat/connections/:id/contact',
    { config: { access: 'user', scope: 'admin', admin: true } },
    async (request) => {
      const { id } = parseWith(ConnectionParams, request.params, 'E_INVALID_PARAMS')
      const body = parseWith(z.strictObject({ contactPartnerId: z.int().positive() }), request.body)
      visible(id, true)
      const partner = db.select().from(partners).where(eq(partners.id, body.contactPartnerId)).get()
      if (!partner?.active || partner.internal)
        throw new NodeError(
          'E_OCHAT_CONTACT_REQUIRED',
          `contactPartnerId: no external contact ${body.contactPartnerId}`,
        )
      await opts.writes.run((tx) =>
        tx
          .update(ochatConnections)
          .set({ contactPartnerId: partner.id })
          .where(eq(ochatConnections.id, id))
          .run(),
      )
      ochat.afterConnections({ changed: true, keyChanges: [], newChannels: [], opened: false })
      return present([visible(id, true)], true)[0]
    },
  )

  /** After comparing the new safety code with the other company: pin the new keys, resume the channel. */
  app.post(
    '/api/v1/ochat/connections/:id/verify',
    { config: { access: 'user', scope: 'admin', admin: true } },
    async (request) => {
      const { id } = parseWith(ConnectionParams, request.params, 'E_INVALID_PARAMS')
      const body = parseWith(VerifyBody, request.body)
      const row = await verifyKeys({
        ochat,
        writes: opts.writes,
        id,
        safetyCode: body.safetyCode,
        userId: principalOf(request).userId,
        nowMs: opts.clock.now(),
      })
      return present([row], true)[0]
    },
  )
}
