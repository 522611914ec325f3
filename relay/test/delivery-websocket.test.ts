// PROTOCOL.md §5 and §6: delivery over the node's WebSocket, acknowledgement by signed receipt.
import { newId, signReceipt } from '@ochat/shared-protocol'
import t from 'tap'
import { Drainer, type DrainTarget } from '../src/delivery/drainer.ts'
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
  'at most 256 unacknowledged deliveries per socket; acks let more through',
  async (t, driver) => {
    const relay = await buildRelay(t, driver, {
      listen: true,
      env: { RELAY_RATE_CONNECTION_BURST: '1000', RELAY_RATE_INSTANCE_BURST: '1000' },
    })
    const acme = buildNode('Acme')
    const globex = buildNode('Globex')
    await connect(relay, acme, globex)
    const envelopes = Array.from({ length: 300 }, () => sealFor(acme, globex))
    t.equal((await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes })).statusCode, 200)
    const globexSocket = await openSocket(relay, globex)
    t.teardown(() => globexSocket.close())
    const first = await globexSocket.next('deliver')
    t.equal(first.items.length, 256)
    await t.rejects(
      globexSocket.next('deliver', () => true, 300),
      'nothing more before an ack',
    )
    globexSocket.ackWithReceipts(first.items)
    const second = await globexSocket.next('deliver')
    t.equal(second.items.length, 44)
  },
)

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
    t.match(refused.json().results[0], { ok: false, reason: /was not sent to you/ })
    const impersonated = await signed(relay, initech, 'POST', '/v1/receipts', { receipts: [read] })
    t.match(
      impersonated.json().results[0],
      { ok: false, reason: /^invalid: receipt must be from/ },
      'cannot pass on another instance’s receipt',
    )
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
    await t.rejects(acmeSocket.next('deliver', hasReceipt, 300), 'not sent twice to the same socket')

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
  'receipts for a sender whose window is full wait in the queue: never more than 256 unacknowledged',
  async (t, driver) => {
    const relay = await buildRelay(t, driver, {
      listen: true,
      env: { RELAY_RATE_CONNECTION_BURST: '1000', RELAY_RATE_INSTANCE_BURST: '1000' },
    })
    const acme = buildNode('Acme')
    const globex = buildNode('Globex')
    await connect(relay, acme, globex)
    const acmeSocket = await openSocket(relay, acme)
    const globexSocket = await openSocket(relay, globex)
    t.teardown(() => Promise.all([acmeSocket.close(), globexSocket.close()]))

    // Acme's window fills with 256 envelopes from Globex, left unacknowledged.
    const incoming = Array.from({ length: 256 }, () => sealFor(globex, acme))
    await signed(relay, globex, 'POST', '/v1/envelopes', { envelopes: incoming })
    const full = await acmeSocket.next('deliver')
    t.equal(full.items.length, 256)

    const envelope = sealFor(acme, globex)
    await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes: [envelope] })
    const [receipt] = globexSocket.ackWithReceipts((await globexSocket.next('deliver')).items)
    const hasReceipt = (frame: { items: { type: string; id: string }[] }) =>
      frame.items.some((item) => item.type === 'receipt' && item.id === receipt?.receipt.id)
    await t.rejects(acmeSocket.next('deliver', hasReceipt, 300), 'no room: the receipt waits')

    acmeSocket.send({
      type: 'ack',
      results: full.items.slice(0, 1).map((item) => ({ ok: true, id: item.id })),
    })
    const later = await acmeSocket.next('deliver', hasReceipt)
    t.equal(later.items.length, 1, 'one place freed, one item sent')
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
    await t.rejects(globexSocket.next('deliver', hasEnvelope, 300), 'not sent twice')

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

eachDriver(
  t,
  'envelopes for a recipient whose window is full wait in the queue and arrive as acks free room',
  async (t, driver) => {
    const relay = await buildRelay(t, driver, {
      listen: true,
      env: { RELAY_RATE_CONNECTION_BURST: '1000', RELAY_RATE_INSTANCE_BURST: '1000' },
    })
    const acme = buildNode('Acme')
    const globex = buildNode('Globex')
    await connect(relay, acme, globex)
    const globexSocket = await openSocket(relay, globex)
    t.teardown(() => globexSocket.close())

    // Globex's window fills with 256 envelopes handed over directly, left unacknowledged.
    const first = Array.from({ length: 256 }, () => sealFor(acme, globex))
    await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes: first })
    const full = await globexSocket.next('deliver')
    t.equal(full.items.length, 256)

    const more = Array.from({ length: 2 }, () => sealFor(acme, globex))
    await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes: more })
    const isMore = (frame: { items: { type: string; id: string }[] }) =>
      frame.items.some((item) => more.some((envelope) => envelope.header.id === item.id))
    await t.rejects(globexSocket.next('deliver', isMore, 300), 'no room: the envelopes wait')
    const waiting = (await relay.database.db.query.queue.findMany()).filter((row) =>
      more.some((envelope) => envelope.header.id === row.itemId),
    )
    t.same(
      waiting.map((row) => row.claimedBy),
      [null, null],
      'queued unclaimed',
    )

    globexSocket.ackWithReceipts(full.items.slice(0, 1))
    const later = await globexSocket.next('deliver', isMore)
    t.same(
      later.items.map((item) => item.id),
      [more[0]?.header.id],
      'one place freed, one envelope sent',
    )
    globexSocket.ackWithReceipts(full.items.slice(1, 2))
    const last = await globexSocket.next('deliver', isMore)
    t.same(
      last.items.map((item) => item.id),
      [more[1]?.header.id],
    )
  },
)

eachDriver(
  t,
  'a claim never overfills a window that envelopes handed over at commit filled meanwhile: what does not fit waits in the queue',
  async (t, driver) => {
    const relay = await buildRelay(t, driver, { listen: true })
    const acme = buildNode('Acme')
    const globex = buildNode('Globex')
    await connect(relay, acme, globex)
    // Two envelopes wait in the queue: Globex has no socket yet.
    const waiting = [sealFor(acme, globex), sealFor(acme, globex)]
    await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes: waiting })

    // Globex's socket, as the drainer sees it: a window of 256. While the claim for it is running, a
    // batch of 256 envelopes commits and is handed to the socket, as envelope-writer.ts does.
    const window = new SocketWindow(globex.instanceId)
    let handedOver = false
    // (A microtask: it runs as soon as the drainer has started the claim and waits for it, on either driver.)
    window.onFirstRoomCheck = () =>
      queueMicrotask(() => {
        handedOver = window.room() >= 256
        if (handedOver) window.take(Array.from({ length: 256 }, (_, n) => ({ itemId: `handed-${n}` })))
      })
    const drainer = new Drainer({
      db: relay.database.relaxed,
      clock: relay.clock,
      config: relay.config,
      log: relay.app.log,
    })
    await drainer.request(window)

    t.ok(handedOver, 'the batch is handed over at commit without waiting for the claim')
    t.equal(window.most, 256, 'never more than 256 unacknowledged')
    t.notOk(
      window.received.some((id) => waiting.some((envelope) => envelope.header.id === id)),
      'the claimed envelopes did not fit, so they were not sent',
    )
    const queued = (await relay.database.db.query.queue.findMany()).filter((row) =>
      waiting.some((envelope) => envelope.header.id === row.itemId),
    )
    t.same(
      queued.map((row) => [row.claimedBy, row.claimedUntil]),
      [
        [null, null],
        [null, null],
      ],
      'they are back in the queue, unclaimed, for the next claim',
    )
    t.ok(window.owed, 'and the socket is owed them: its next ack claims again')
  },
)

/** The part of a socket the drainer uses: a window of 256 unacknowledged items (socket-session.ts). */
class SocketWindow implements DrainTarget {
  readonly closed = false
  owed = true
  received: string[] = []
  most = 0
  onFirstRoomCheck: (() => void) | undefined

  constructor(readonly destination: string) {}

  room(): number {
    this.onFirstRoomCheck?.()
    this.onFirstRoomCheck = undefined
    return 256 - this.received.length
  }

  take(items: { itemId: string }[]): void {
    this.received.push(...items.map((item) => item.itemId))
    this.most = Math.max(this.most, this.received.length)
  }
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
