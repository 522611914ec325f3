// PROTOCOL.md §6: a node socket's window. At most 256 deliveries go unacknowledged; what does not fit
// waits in the queue and goes as acks free room, whichever path it came by (handed over at commit or
// claimed by the drainer).
import t, { type Test } from 'tap'
import { Drainer, type DrainTarget } from '../src/delivery/drainer.ts'
import { buildNode, buildRelay, connect, type Driver, eachDriver, sealFor, signed } from './helpers.ts'
import { openSocket } from './ws-client.ts'

eachDriver(
  t,
  'at most 256 unacknowledged deliveries per socket; acks let more through',
  async (t, driver) => {
    const { relay, acme, globex } = await connectedPair(t, driver)
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
  'receipts for a sender whose window is full wait in the queue: never more than 256 unacknowledged',
  async (t, driver) => {
    const { relay, acme, globex } = await connectedPair(t, driver)
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
  'envelopes for a recipient whose window is full wait in the queue and arrive as acks free room',
  async (t, driver) => {
    const { relay, acme, globex } = await connectedPair(t, driver)
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

/** A listening relay, with bursts large enough for a full window, and two connected nodes. */
async function connectedPair(t: Test, driver: Driver) {
  const relay = await buildRelay(t, driver, {
    listen: true,
    env: { RELAY_RATE_CONNECTION_BURST: '1000', RELAY_RATE_INSTANCE_BURST: '1000' },
  })
  const acme = buildNode('Acme')
  const globex = buildNode('Globex')
  await connect(relay, acme, globex)
  return { relay, acme, globex }
}
