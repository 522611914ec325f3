// PROTOCOL.md §5 and §6: delivery over the node's WebSocket, acknowledgement by signed receipt.
import { newId, signReceipt } from '@ochat/shared-protocol'
import t from 'tap'
import { buildNode, buildRelay, connect, eachDriver, register, sealFor, signed } from './helpers.ts'
import { openSocket } from './ws-client.ts'

eachDriver(
  t,
  'an envelope reaches the connected recipient; its Delivered receipt deletes the ciphertext and reaches the sender',
  async (t, driver) => {
    const relay = await buildRelay(t, driver, { listen: true })
    const acme = buildNode('Acme')
    const globex = buildNode('Globex')
    await connect(relay, acme, globex)
    const acmeSocket = await openSocket(relay, acme)
    const globexSocket = await openSocket(relay, globex)
    t.teardown(() => Promise.all([acmeSocket.close(), globexSocket.close()]))

    const envelope = sealFor(acme, globex)
    const submitted = await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes: [envelope] })
    t.match(submitted.json().results[0], { ok: true, id: envelope.header.id, seq: 1 })

    const deliver = await globexSocket.next('deliver')
    t.equal(deliver.items.length, 1)
    const [item] = deliver.items
    t.match(item, { type: 'envelope', id: envelope.header.id, seq: 1 })
    t.same(item?.type === 'envelope' && item.envelope, envelope, 'the envelope arrives byte for byte')

    const [receipt] = globexSocket.ackWithReceipts(deliver.items)
    const forwarded = await acmeSocket.next('deliver', (frame) =>
      frame.items.some((entry) => entry.type === 'receipt'),
    )
    t.match(forwarded.items[0], { type: 'receipt', id: receipt?.receipt.id })
    t.same(
      forwarded.items[0]?.type === 'receipt' && forwarded.items[0].receipt,
      receipt,
      'the signed receipt reaches the sender unchanged',
    )
    acmeSocket.send({ type: 'ack', results: [{ ok: true, id: receipt?.receipt.id }] })

    const status = (await signed(relay, acme, 'GET', `/v1/envelopes/${envelope.header.id}`)).json().envelope
    t.match(status, { status: 'delivered', seq: 1 })
    const left = await relay.database.db.query.queue.findMany()
    t.same(
      left.filter((row) => row.kind === 'envelope'),
      [],
      'no ciphertext remains on the relay',
    )
  },
)

eachDriver(t, 'a node that connects later gets its queue drained at once, in order', async (t, driver) => {
  const relay = await buildRelay(t, driver, { listen: true })
  const acme = buildNode('Acme')
  const globex = buildNode('Globex')
  await connect(relay, acme, globex)
  const envelopes = Array.from({ length: 5 }, () => sealFor(acme, globex))
  await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes })
  const globexSocket = await openSocket(relay, globex)
  t.teardown(() => globexSocket.close())
  const deliver = await globexSocket.next('deliver')
  t.same(
    deliver.items.map((item) => item.type === 'envelope' && item.seq),
    [1, 2, 3, 4, 5],
  )
})

eachDriver(
  t,
  'Read receipts reach the sender; receipts for envelopes the signer did not receive are refused',
  async (t, driver) => {
    const relay = await buildRelay(t, driver, { listen: true })
    const acme = buildNode('Acme')
    const globex = buildNode('Globex')
    const initech = buildNode('Initech')
    await connect(relay, acme, globex)
    await connect(relay, acme, initech)
    const envelope = sealFor(acme, globex)
    await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes: [envelope] })
    const globexSocket = await openSocket(relay, globex)
    t.teardown(() => globexSocket.close())
    globexSocket.ackWithReceipts((await globexSocket.next('deliver')).items)

    const read = signReceipt(
      {
        v: 1,
        id: newId(),
        kind: 'read',
        from: globex.instanceId,
        to: acme.instanceId,
        envelopeIds: [envelope.header.id],
        at: relay.clock.now(),
      },
      globex.identity.secretKey,
    )
    const accepted = await signed(relay, globex, 'POST', '/v1/receipts', { receipts: [read] })
    t.same(accepted.json().results, [{ id: read.receipt.id, ok: true }])
    t.ok(
      (await signed(relay, acme, 'GET', `/v1/envelopes/${envelope.header.id}`)).json().envelope.readAt,
      'read time recorded',
    )

    const meddling = signReceipt(
      {
        v: 1,
        id: newId(),
        kind: 'read',
        from: initech.instanceId,
        to: acme.instanceId,
        envelopeIds: [envelope.header.id],
        at: relay.clock.now(),
      },
      initech.identity.secretKey,
    )
    const refused = await signed(relay, initech, 'POST', '/v1/receipts', { receipts: [meddling] })
    t.equal(refused.statusCode, 200, 'a refused receipt is a result, not a failed request')
    t.same(refused.json().results, [
      {
        id: meddling.receipt.id,
        ok: false,
        code: 'E_RECEIPT_UNKNOWN_ENVELOPE',
        reason: `invalid: envelope ${envelope.header.id} was not sent to you by ${acme.instanceId}`,
      },
    ])
    const impersonated = await signed(relay, initech, 'POST', '/v1/receipts', { receipts: [read] })
    t.match(
      impersonated.json().results[0],
      { ok: false, code: 'E_RECEIPT_MISADDRESSED', reason: /^invalid: receipt must be from/ },
      'cannot pass on another instance’s receipt',
    )
    const forged = signReceipt({ ...read.receipt, id: newId() }, initech.identity.secretKey)
    t.match(
      (await signed(relay, globex, 'POST', '/v1/receipts', { receipts: [forged] })).json().results[0],
      { ok: false, code: 'E_RECEIPT_BAD_SIGNATURE', reason: /^invalid: receipt signature/ },
      'a receipt in Globex’s name signed by another key',
    )
  },
)

eachDriver(
  t,
  'receipts refused on the socket are answered with an error frame carrying the refusal’s code',
  async (t, driver) => {
    const relay = await buildRelay(t, driver, { listen: true })
    const acme = buildNode('Acme')
    const globex = buildNode('Globex')
    const initech = buildNode('Initech')
    await connect(relay, acme, globex)
    await register(relay, initech)
    const envelope = sealFor(acme, globex)
    await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes: [envelope] })
    const globexSocket = await openSocket(relay, globex)
    t.teardown(() => globexSocket.close())
    globexSocket.ackWithReceipts((await globexSocket.next('deliver')).items)

    const receipt = (to: string, envelopeIds: string[]) =>
      signReceipt(
        {
          v: 1,
          id: newId(),
          kind: 'read',
          from: globex.instanceId,
          to,
          envelopeIds,
          at: relay.clock.now(),
        },
        globex.identity.secretKey,
      )
    const stray = receipt(acme.instanceId, [newId()])
    globexSocket.send({ type: 'receipt', receipts: [stray] })
    t.match(await globexSocket.next('error'), {
      error: {
        code: 'E_RECEIPT_UNKNOWN_ENVELOPE',
        message: `Receipt ${stray.receipt.id} was refused.`,
        reason: /^invalid: envelope .* was not sent to you/,
      },
    })
    const unconnected = receipt(initech.instanceId, [envelope.header.id])
    globexSocket.send({ type: 'receipt', receipts: [unconnected] })
    t.match(await globexSocket.next('error'), {
      error: { code: 'E_CONNECTION_NOT_ACCEPTED', reason: /^blocked: no accepted connection/ },
    })
  },
)

eachDriver(
  t,
  'socket authentication: a bad answer closes with 4401, nothing but auth before it',
  async (t, driver) => {
    const relay = await buildRelay(t, driver, { listen: true })
    const acme = buildNode('Acme')
    await register(relay, acme)
    const malformed = await openSocket(relay, acme, { authenticate: false })
    malformed.send({ type: 'receipt', receipts: [] })
    t.match(
      await malformed.next('error'),
      { error: { code: 'E_INVALID_FRAME' } },
      'a malformed frame is answered…',
    )
    t.equal((await malformed.closed()).code, 4401, '…and before authentication it ends the socket')
    const early = await openSocket(relay, acme, { authenticate: false })
    early.send({ type: 'ping', at: 1 })
    t.ok(await early.next('pong'))
    early.send({ type: 'submit', requestId: newId(), envelopes: [sealFor(acme, buildNode())] })
    t.match(await early.next('error'), { error: { code: 'E_AUTH_REQUIRED' } })
    t.equal((await early.closed()).code, 4401)

    const impostor = await openSocket(relay, acme, { authenticate: false })
    const stranger = buildNode()
    impostor.answerChallenge(stranger)
    t.match(await impostor.next('error'), { error: { code: 'E_SOCKET_AUTH_FAILED' } })
    t.equal((await impostor.closed()).code, 4401)
  },
)

eachDriver(
  t,
  'submitting over the socket answers per envelope after the durable write',
  async (t, driver) => {
    const relay = await buildRelay(t, driver, { listen: true })
    const acme = buildNode('Acme')
    const globex = buildNode('Globex')
    await connect(relay, acme, globex)
    const socket = await openSocket(relay, acme)
    t.teardown(() => socket.close())
    const requestId = newId()
    const good = sealFor(acme, globex)
    const spoofed = sealFor(globex, acme)
    socket.send({ type: 'submit', requestId, envelopes: [good, spoofed] })
    const submitted = await socket.next('submitted')
    t.equal(submitted.requestId, requestId)
    t.match(submitted.results, [
      { ok: true, id: good.header.id, seq: 1 },
      { ok: false, id: spoofed.header.id, code: 'E_ENVELOPE_FROM_MISMATCH', reason: /^blocked: / },
    ])
  },
)

eachDriver(t, 'a second socket for the same instance replaces the first (4409)', async (t, driver) => {
  const relay = await buildRelay(t, driver, { listen: true })
  const acme = buildNode('Acme')
  await register(relay, acme)
  const first = await openSocket(relay, acme)
  const second = await openSocket(relay, acme)
  t.teardown(() => second.close())
  t.equal((await first.closed()).code, 4409)
})

eachDriver(
  t,
  'a receipt handed straight to the sender’s socket goes once; if that socket closes before acking, the next one gets it',
  async (t, driver) => {
    const relay = await buildRelay(t, driver, { listen: true })
    const acme = buildNode('Acme')
    const globex = buildNode('Globex')
    await connect(relay, acme, globex)
    const acmeSocket = await openSocket(relay, acme)
    const globexSocket = await openSocket(relay, globex)
    t.teardown(() => globexSocket.close())

    const envelope = sealFor(acme, globex)
    await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes: [envelope] })
    const [receipt] = globexSocket.ackWithReceipts((await globexSocket.next('deliver')).items)
    const hasReceipt = (frame: { items: { type: string; id: string }[] }) =>
      frame.items.some((item) => item.type === 'receipt' && item.id === receipt?.receipt.id)
    const first = await acmeSocket.next('deliver', hasReceipt)
    t.equal(first.items.length, 1)
    const [row] = (await relay.database.db.query.queue.findMany()).filter((entry) => entry.kind === 'receipt')
    t.match(
      row,
      { destination: acme.instanceId, claimedBy: relay.config.replicaId, attempts: 1 },
      'the receipt is queued, claimed for the sender’s socket, until the sender acks it',
    )

    // Wake-ups and the poll find nothing to send again: the item is claimed for the socket that has it.
    await relay.runJobs()
    await acmeSocket.settle()
    t.notOk(
      acmeSocket.frames.some((frame) => frame.type === 'deliver' && hasReceipt(frame)),
      'not sent twice to the same socket',
    )

    // The sender's socket goes without acking: the receipt is not lost.
    await acmeSocket.close()
    const again = await openSocket(relay, acme)
    t.teardown(() => again.close())
    const redelivered = await again.next('deliver', hasReceipt)
    t.same(
      redelivered.items.map((item) => item.id),
      [receipt?.receipt.id],
    )
    again.send({ type: 'ack', results: [{ ok: true, id: receipt?.receipt.id }] })
    await waitFor(async () => (await relay.database.db.query.queue.findMany()).length === 0)
    t.pass('acked, the receipt leaves the queue')
  },
)

eachDriver(
  t,
  'an envelope for a recipient whose socket is here is handed to it at commit: once, acked normally, and the sender gets its receipt',
  async (t, driver) => {
    const relay = await buildRelay(t, driver, { listen: true })
    const acme = buildNode('Acme')
    const globex = buildNode('Globex')
    const connectionId = await connect(relay, acme, globex)
    const acmeSocket = await openSocket(relay, acme)
    const globexSocket = await openSocket(relay, globex)
    t.teardown(() => Promise.all([acmeSocket.close(), globexSocket.close()]))

    const envelope = sealFor(acme, globex)
    const submitted = await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes: [envelope] })
    t.match(submitted.json().results[0], { ok: true, id: envelope.header.id, seq: 1 })
    // Answered after the commit, which inserted the item claimed for Globex's socket: no wake-up, no claim.
    const [row] = (await relay.database.db.query.queue.findMany()).filter(
      (entry) => entry.kind === 'envelope',
    )
    t.match(
      row,
      {
        destination: globex.instanceId,
        itemId: envelope.header.id,
        claimedBy: relay.config.replicaId,
        attempts: 1,
      },
      'the envelope is queued, claimed for the recipient’s socket, until the recipient acks it',
    )

    const hasEnvelope = (frame: { items: { type: string; id: string }[] }) =>
      frame.items.some((item) => item.type === 'envelope' && item.id === envelope.header.id)
    const deliver = await globexSocket.next('deliver', hasEnvelope)
    t.equal(deliver.items.length, 1)
    const [item] = deliver.items
    t.match(item, { type: 'envelope', id: envelope.header.id, connectionId, seq: 1, receivedAt: Number })
    t.same(item?.type === 'envelope' && item.envelope, envelope, 'the envelope arrives byte for byte')

    // Wake-ups and the poll find nothing to send again: the item is claimed for the socket that has it.
    await relay.runJobs()
    await globexSocket.settle()
    t.notOk(
      globexSocket.frames.some((frame) => frame.type === 'deliver' && hasEnvelope(frame)),
      'not sent twice',
    )

    const [receipt] = globexSocket.ackWithReceipts(deliver.items)
    const forwarded = await acmeSocket.next('deliver', (frame) =>
      frame.items.some((entry) => entry.type === 'receipt' && entry.id === receipt?.receipt.id),
    )
    t.same(
      forwarded.items[0]?.type === 'receipt' && forwarded.items[0].receipt,
      receipt,
      'the sender gets its Delivered receipt',
    )
    acmeSocket.send({ type: 'ack', results: [{ ok: true, id: receipt?.receipt.id }] })
    await waitFor(async () => (await relay.database.db.query.queue.findMany()).length === 0)
    const status = (await signed(relay, acme, 'GET', `/v1/envelopes/${envelope.header.id}`)).json().envelope
    t.match(status, { status: 'delivered', seq: 1 }, 'acked, the envelope is delivered and leaves the queue')
  },
)

eachDriver(
  t,
  'an envelope handed straight to the recipient’s socket comes back on its next socket if that one closes before acking',
  async (t, driver) => {
    const relay = await buildRelay(t, driver, { listen: true })
    const acme = buildNode('Acme')
    const globex = buildNode('Globex')
    await connect(relay, acme, globex)
    const acmeSocket = await openSocket(relay, acme)
    const globexSocket = await openSocket(relay, globex)
    t.teardown(() => acmeSocket.close())

    const envelope = sealFor(acme, globex)
    await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes: [envelope] })
    const hasEnvelope = (frame: { items: { type: string; id: string }[] }) =>
      frame.items.some((item) => item.type === 'envelope' && item.id === envelope.header.id)
    await globexSocket.next('deliver', hasEnvelope)

    await globexSocket.close()
    const again = await openSocket(relay, globex)
    t.teardown(() => again.close())
    const redelivered = await again.next('deliver', hasEnvelope)
    t.same(
      redelivered.items.map((item) => item.id),
      [envelope.header.id],
    )
    const [receipt] = again.ackWithReceipts(redelivered.items)
    await acmeSocket.next('deliver', (frame) =>
      frame.items.some((entry) => entry.type === 'receipt' && entry.id === receipt?.receipt.id),
    )
    const status = (await signed(relay, acme, 'GET', `/v1/envelopes/${envelope.header.id}`)).json().envelope
    t.match(status, { status: 'delivered' }, 'delivered once acked on the next socket')
  },
)

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
