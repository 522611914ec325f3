import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import type { Db } from '../../db/client.ts'
import { parseWith } from '../../errors.ts'
import type { Ochat } from '../runtime.ts'
import { identityRow } from './instance.ts'

export const RegisterBody = z.strictObject({
  relayUrl: z.url({ protocol: /^https?$/ }).max(2000),
  /** One-time token from the relay's operator, when the relay registers by invitation. */
  inviteToken: z.string().min(16).max(200).optional(),
  /** The name peers see; this node's company name by default. */
  name: z.string().trim().min(1).max(200).optional(),
  /** Where the relay POSTs deliveries when the socket is down; null: WebSocket only. */
  webhookUrl: z
    .url({ protocol: /^https?$/ })
    .max(2000)
    .nullable()
    .optional(),
})

export const RegistrationViewSchema = z.object({
  /** off (no operator secret), locked (the secret does not open the keys), unregistered, or registered. */
  state: z.enum(['off', 'locked', 'unregistered', 'registered']),
  /** For registered nodes: valid, suspended by the relay's operator, or unreachable (with the last error). */
  status: z.enum(['valid', 'suspended', 'unreachable']).nullable(),
  reason: z.string().nullable(),
  lastError: z.string().nullable(),
  lastContactAt: z.int().nullable(),
  instanceId: z.string().nullable(),
  name: z.string().nullable(),
  relayUrl: z.string().nullable(),
  relayId: z.string().nullable(),
  relayName: z.string().nullable(),
  webhookUrl: z.string().nullable(),
  /** The socket to the relay: ready, connecting, down, suspended or off. */
  socket: z.string(),
  keys: z.object({ identityKey: z.string(), encryptionKey: z.string() }).nullable(),
  /**
   * A key rotation whose outcome is not known yet (the relay's answer was lost): the node asks the
   * relay which keys it holds every 30 s and goes on with those.
   */
  rotationPending: z.boolean(),
  registeredAt: z.int().nullable(),
})

export function presentRegistration(db: Db, ochat: Ochat): z.infer<typeof RegistrationViewSchema> {
  const state = ochat.state
  const row = identityRow(db)
  return {
    state: state.kind === 'ready' ? 'registered' : state.kind,
    status: row?.relayStatus ?? null,
    reason: state.kind === 'off' || state.kind === 'locked' ? state.reason : null,
    lastError: row?.lastError ?? null,
    lastContactAt: row?.lastContactAt ?? null,
    instanceId: row?.instanceId ?? null,
    name: row?.name ?? null,
    relayUrl: row?.relayUrl ?? null,
    relayId: row?.relayId ?? null,
    relayName: row?.relayName ?? null,
    webhookUrl: row?.webhookUrl ?? null,
    socket: ochat.socketState,
    keys: row ? { identityKey: row.identityPublicKey, encryptionKey: row.encryptionPublicKey } : null,
    rotationPending: row?.pendingSecretKeys != null,
    registeredAt: row?.registeredAt ?? null,
  }
}

/** This node's registration with a relay: its status for everyone, registering for admins. */
export async function registrationRoutes(
  app: FastifyInstance,
  opts: { db: Db; ochat: Ochat; company: string },
) {
  const { db, ochat } = opts
  app.get('/api/v1/ochat/registration', { config: { access: 'user', scope: 'ochat:read' } }, async () =>
    presentRegistration(db, ochat),
  )

  app.post(
    '/api/v1/ochat/registration',
    { config: { access: 'user', scope: 'admin', admin: true } },
    async (request, reply) => {
      const body = parseWith(RegisterBody, request.body)
      await ochat.register({
        relayUrl: body.relayUrl,
        name: body.name ?? opts.company,
        inviteToken: body.inviteToken,
        webhookUrl: body.webhookUrl,
      })
      return reply.status(201).send(presentRegistration(db, ochat))
    },
  )

  /**
   * New identity and encryption keys (e.g. after a suspected leak), announced to the relay; the
   * instance id stays. Every peer's channel pauses until its admin verifies the new safety code.
   */
  app.post(
    '/api/v1/ochat/registration/rotate-keys',
    { config: { access: 'user', scope: 'admin', admin: true } },
    async () => {
      await ochat.rotateKeys()
      return presentRegistration(db, ochat)
    },
  )

  /** Asks the relay now: valid, suspended or unreachable. */
  app.post(
    '/api/v1/ochat/registration/check',
    { config: { access: 'user', scope: 'ochat:read' } },
    async () => {
      ochat.instance()
      await ochat.checkRegistration()
      return presentRegistration(db, ochat)
    },
  )
}
