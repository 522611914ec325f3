import { fromBase64Url, verifyKeyRotation } from '@ochat/shared-protocol'
import type { FastifyInstance, preHandlerHookHandler } from 'fastify'
import { z } from 'zod'
import { currentInstance } from '../auth/plugin.ts'
import type { Clock } from '../clock.ts'
import type { Config } from '../config.ts'
import { haveConnection } from '../connections/repository.ts'
import type { Db } from '../db/client.ts'
import { announceInstanceChange } from '../delivery/lease-repository.ts'
import { parseBody, RelayError } from '../errors.ts'
import { clientAddress } from '../limits/client-address.ts'
import { presentInstance } from './presenter.ts'
import { registerInstance } from './register-instance.ts'
import { findInstance, updateInstance } from './repository.ts'

export async function instanceRoutes(
  app: FastifyInstance,
  deps: { db: Db; clock: Clock; config: Config; relayId: string; signed: preHandlerHookHandler },
): Promise<void> {
  /** Registration is self-authenticating: the body is signed by the identity key it registers. */
  app.post('/v1/instances', { config: { auth: 'self-signed' } }, async (request, reply) => {
    const { created, instance } = await registerInstance({
      db: deps.db,
      config: deps.config,
      relayId: deps.relayId,
      input: request.body,
      address: clientAddress(request, deps.config.trustProxy),
      nowMs: deps.clock.now(),
    })
    return reply.status(created ? 201 : 200).send({ instance })
  })

  app.get('/v1/instances/me', { preHandler: deps.signed }, async (request) => ({
    instance: presentInstance(currentInstance(request)),
  }))

  /** A peer's public details: only to an instance that has a connection with it, in any state. */
  app.get('/v1/instances/:id', { preHandler: deps.signed }, async (request) => {
    const { id } = parseBody(z.object({ id: z.string().max(40) }), request.params)
    const me = currentInstance(request)
    const peer = id === me.id ? me : await findInstance(deps.db, id)
    if (!peer || (peer.id !== me.id && !(await haveConnection(deps.db, me.id, peer.id))))
      throw new RelayError('E_NOT_FOUND')
    return { instance: presentInstance(peer) }
  })

  /** Key rotation (PROTOCOL.md §1.4): signed by the current key and the new one. */
  app.post('/v1/instances/me/keys', { preHandler: deps.signed }, async (request) => {
    const me = currentInstance(request)
    const current = fromBase64Url(me.identityKey)
    if (!current) throw new RelayError('E_INTERNAL')
    const verified = verifyKeyRotation(request.body, {
      relayId: deps.relayId,
      instanceId: me.id,
      currentIdentityKey: current,
      nowMs: deps.clock.now(),
    })
    if (!verified.ok) throw RelayError.fromRejection(400, verified)
    const { keys } = verified.value.rotation
    const updated = await updateInstance(deps.db, me.id, {
      identityKey: keys.identityKey,
      encryptionKey: keys.encryptionKey,
      keysRotatedAt: deps.clock.now(),
    })
    if (!updated) throw new RelayError('E_NOT_FOUND')
    // A socket authenticated with the old key must authenticate again with the new one.
    await announceInstanceChange(deps.db, me.id)
    return { instance: presentInstance(updated) }
  })
}
