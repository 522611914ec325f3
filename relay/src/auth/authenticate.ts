import {
  fromBase64Url,
  type NonceStore,
  parseSignedRequestHeaders,
  verifySignedRequest,
} from '@ochat/shared-protocol'
import type { Clock } from '@ochat/shared-protocol/server'
import type { FastifyRequest } from 'fastify'
import type { Executor } from '../db/client.ts'
import { RelayError } from '../errors.ts'
import { findInstance, type InstanceRow } from '../instances/repository.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** The raw body bytes, kept by the JSON parser: signatures cover bytes, not parsed JSON. */
    rawBody?: Buffer
  }
}

export type AuthDeps = { db: Executor; clock: Clock; relayId: string; nonces: NonceStore }

/**
 * Authenticates a signed node → relay request (PROTOCOL.md §2.2) and returns the instance. Unknown
 * instance and bad signature answer alike, so nobody can probe which instances exist; a suspended
 * instance learns it is suspended only after proving who it is.
 */
export async function authenticate(request: FastifyRequest, deps: AuthDeps): Promise<InstanceRow> {
  const headers = parseSignedRequestHeaders(request.headers)
  if (!headers.ok) throw RelayError.fromRejection(401, headers)
  const instance = await findInstance(deps.db, headers.value.instanceId)
  const verified = await verifySignedRequest({
    method: request.method,
    path: request.url,
    audience: deps.relayId,
    headers: request.headers,
    body: request.rawBody ?? new Uint8Array(),
    identityKey: instance ? fromBase64Url(instance.identityKey) : undefined,
    nonces: deps.nonces,
    nowMs: deps.clock.now(),
  })
  if (!verified.ok || !instance) {
    throw RelayError.fromRejection(
      401,
      verified.ok
        ? { code: 'E_AUTH_BAD_SIGNATURE', reason: 'auth-required: signature is not valid' }
        : verified,
    )
  }
  if (instance.status === 'suspended') throw new RelayError('E_SUSPENDED')
  return instance
}
