import { signRequest } from '@ochat/shared-protocol'
import { sql } from 'drizzle-orm'
import type { Test } from 'tap'
import { operationsOf, type Pools } from '../../test/fuzz/generate.ts'
import type { Target } from '../../test/fuzz/run.ts'
import { rows } from '../src/db/client.ts'
import {
  buildNode,
  buildRelay,
  connect,
  DRIVERS,
  type Driver,
  register,
  sealFor,
  signed,
  type TestNode,
} from './helpers.ts'

/**
 * What a refused request must leave as it was. Not counted: nonces (a signed request's nonce is spent
 * whatever the answer, or a refused request could be replayed), rate windows and delivery leases.
 */
const COUNTED = [
  'instances',
  'invites',
  'connections',
  'connection_history',
  'envelopes',
  'queue',
  'blobs',
  'blob_grants',
]

const METRICS_TOKEN = 'fuzz-metrics-token-0123456789'

/**
 * A relay with two connected instances, a third that asked one of them, an envelope queued and a blob
 * declared; requests are signed for real by the instance they claim to come from (over the exact bytes
 * sent), or sent unsigned, with a signature by the wrong key, or by an instance the relay does not know.
 * On PostgreSQL, unless the run tests PGlite only (`pnpm test:fast`).
 */
export async function relayTarget(t: Test, driver: Driver = DRIVERS[0] ?? 'postgres') {
  const relay = await buildRelay(t, driver, { env: { RELAY_METRICS_TOKEN: METRICS_TOKEN } })
  const acme = buildNode('Acme')
  const globex = buildNode('Globex')
  const initech = buildNode('Initech')
  const stranger = buildNode('Stranger')
  const connectionId = await connect(relay, acme, globex)
  await register(relay, initech)
  const pending = (await signed(relay, initech, 'POST', '/v1/connections', { to: acme.instanceId })).json()
  const envelope = sealFor(acme, globex, {}, relay.clock.now())
  await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes: [envelope] })
  const blob = (await signed(relay, acme, 'POST', '/v1/blobs', { size: 10 })).json()
  const document = (await relay.app.inject({ method: 'GET', url: '/docs' })).json()

  const instances = [acme, globex, initech, stranger].map((node) => node.instanceId)
  const ids = [connectionId, pending.connection?.id, envelope.header.id, blob.blobId, ...instances].filter(
    (id): id is string => typeof id === 'string',
  )
  const pools: Pools = {
    params: { id: ids },
    ids,
    principals: ['acme', 'globex', 'initech', 'stranger', 'unsigned', 'wrong-key', 'upload-token', 'metrics'],
  }
  const signers: Record<string, { node: TestNode; key: TestNode }> = {
    acme: { node: acme, key: acme },
    globex: { node: globex, key: globex },
    initech: { node: initech, key: initech },
    stranger: { node: stranger, key: stranger },
    'wrong-key': { node: acme, key: globex },
  }
  const counts = async () => {
    const [row] = await rows<Record<string, string>>(
      relay.database.db,
      sql.raw(`select ${COUNTED.map((name) => `(select count(*) from ${name}) as ${name}`).join(', ')}`),
    )
    return Object.fromEntries(Object.entries(row ?? {}).map(([name, n]) => [name, Number(n)]))
  }
  const target: Target = {
    name: 'relay',
    async send(request) {
      const signer = signers[request.as]
      const body = request.payload ?? ''
      const credentials = signer
        ? signRequest({
            method: request.method,
            path: request.url,
            audience: relay.relayKeys.relayId,
            instanceId: signer.node.instanceId,
            identitySecretKey: signer.key.identity.secretKey,
            body,
            timestamp: Math.floor(relay.clock.now() / 1000),
          })
        : request.as === 'upload-token'
          ? { authorization: `Bearer ${blob.uploadToken}` }
          : request.as === 'metrics'
            ? { authorization: `Bearer ${METRICS_TOKEN}` }
            : {}
      const response = await relay.app.inject({
        method: request.method as 'GET',
        url: request.url,
        headers: { ...request.headers, ...credentials },
        ...(request.payload !== undefined ? { payload: request.payload } : {}),
      })
      return { status: response.statusCode, headers: response.headers, body: response.body }
    },
    counts,
  }
  return { relay, target, pools, operations: operationsOf(document) }
}
