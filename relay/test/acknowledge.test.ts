// PROTOCOL.md §5.1 and §6.2: acknowledgements from several instances are committed together (the ack
// writer batches every socket's acks into one transaction). Each must still settle only its own items.
import { newId, type SignedReceipt, signReceipt } from '@ochat/shared-protocol'
import { sql } from 'drizzle-orm'
import t from 'tap'
import { rows } from '../src/db/client.ts'
import { acknowledgeAll } from '../src/delivery/acknowledge.ts'
import { type ClaimedItem, claimItems } from '../src/delivery/queue-repository.ts'
import { findInstance } from '../src/instances/repository.ts'
import {
  buildNode,
  buildRelay,
  connect,
  eachDriver,
  register,
  sealFor,
  signed,
  type TestNode,
} from './helpers.ts'

eachDriver(t, 'acks of two instances in one batch settle only what each was sent', async (t, driver) => {
  const relay = await buildRelay(t, driver)
  const acme = buildNode('Acme')
  const globex = buildNode('Globex')
  const initech = buildNode('Initech')
  await connect(relay, acme, globex)
  await register(relay, initech)
  const requested = await signed(relay, acme, 'POST', '/v1/connections', { to: initech.instanceId })
  await signed(relay, initech, 'POST', `/v1/connections/${requested.json().connection.id}/decision`, {
    action: 'accept',
  })
  const toGlobex = sealFor(acme, globex)
  const toInitech = sealFor(acme, initech)
  const submitted = await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes: [toGlobex, toInitech] })
  t.equal(submitted.statusCode, 200)

  const nowMs = relay.clock.now()
  const db = relay.database.db
  const instance = async (node: TestNode) => {
    const row = await findInstance(db, node.instanceId)
    if (!row) throw new Error(`${node.name} is not registered`)
    return row
  }
  const claim = async (node: TestNode) => {
    const items = await claimItems(db, {
      destination: node.instanceId,
      replicaId: 'test',
      limit: 10,
      nowMs,
      visibilityMs: 60_000,
    })
    return new Map(items.map((item): [string, ClaimedItem] => [item.itemId, item]))
  }
  const receipt = (signer: TestNode, envelopeIds: string[]): SignedReceipt =>
    signReceipt(
      {
        v: 1,
        id: newId(nowMs),
        kind: 'delivered',
        from: signer.instanceId,
        to: acme.instanceId,
        envelopeIds,
        at: nowMs,
      },
      signer.identity.secretKey,
    )
  const acks = [
    {
      recipient: await instance(globex),
      results: [{ ok: true as const, id: toGlobex.header.id }],
      receipts: [receipt(globex, [toGlobex.header.id])],
      inflight: await claim(globex),
    },
    {
      // Initech acks an id it was never sent, and signs a receipt for Globex's envelope.
      recipient: await instance(initech),
      results: [{ ok: true as const, id: toGlobex.header.id }],
      receipts: [receipt(initech, [toGlobex.header.id])],
      inflight: await claim(initech),
    },
  ]
  const results = await db.transaction((tx) => acknowledgeAll(tx, { acks, nowMs, deadlineMs: 60_000 }))
  t.same(results[0]?.delivered, [toGlobex.header.id], 'Globex’s own receipt delivers its envelope')
  t.same(results[1]?.delivered, [], 'Initech delivers nothing')
  t.match(
    results[1]?.receipts[0],
    { ok: false, code: 'E_RECEIPT_UNKNOWN_ENVELOPE', reason: /^invalid: / },
    'Initech’s receipt is refused',
  )

  const statuses = await rows<{ id: string; status: string }>(db, sql`select id::text, status from envelopes`)
  t.same(
    Object.fromEntries(statuses.map((row) => [row.id, row.status])),
    { [toGlobex.header.id]: 'delivered', [toInitech.header.id]: 'queued' },
    'only Globex’s envelope is delivered',
  )
  const names = new Map([acme, globex, initech].map((node) => [node.instanceId, node.name]))
  const queued = await rows<{ destination: string; kind: string }>(
    db,
    sql`select destination, kind from queue`,
  )
  t.same(
    queued.map((row) => `${names.get(row.destination)}: ${row.kind}`).sort(),
    ['Acme: receipt', 'Initech: envelope'],
    'Initech’s ciphertext is still queued; only Globex’s receipt goes to Acme',
  )
})
