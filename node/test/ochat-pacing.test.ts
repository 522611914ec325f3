// PROTOCOL.md §4.4 rate limits, from the sender's side: the outbox paces its submits to the buckets the
// relay publishes, and a `rate-limited:` answer makes a message wait, not fail: no attempt is counted and
// the user keeps seeing it Pending.
import { RateSchema } from '@ochat/shared-protocol'
import { ManualClock } from '@ochat/shared-protocol/server'
import t from 'tap'
import { SubmitPacer } from '../src/ochat/delivery/pacing.ts'
import { until } from './helpers.ts'
import {
  acceptedChannel,
  buildOchatNode,
  buildPeer,
  deliver,
  envelopeFrom,
  startFakeRelay,
} from './ochat-helpers.ts'
import { accepted, outboxRow, publishRates, recordSubmits, sendWithFile } from './ochat-pacing-helpers.ts'

t.test(
  'the pacer mirrors the relay buckets: per recipient, per instance, and emptied when told',
  async (t) => {
    const clock = new ManualClock(Date.parse('2026-11-25T10:00:00Z'))
    const pacer = new SubmitPacer({ now: () => clock.now() })
    t.same(pacer.rates, {
      connection: { burst: 60, perSecond: 10 },
      instance: { burst: 2000, perSecond: 200 },
    })
    pacer.useRates({ connection: { burst: 3, perSecond: 2 }, instance: { burst: 5, perSecond: 100 } })

    t.same(
      pacer.plan(['a', 'a', 'a', 'a', 'a']),
      [{ ok: true }, { ok: true }, { ok: true }, { ok: false, waitMs: 500 }, { ok: false, waitMs: 1000 }],
      'a burst of 3 goes, then one every 500 ms, each behind the one before',
    )
    t.same(
      pacer.plan(['b', 'b', 'b']),
      [{ ok: true }, { ok: true }, { ok: false, waitMs: 10 }],
      'another recipient has its own bucket, but the instance bucket (5) is shared',
    )
    clock.advance(500)
    t.same(pacer.plan(['a', 'a']), [{ ok: true }, { ok: false, waitMs: 500 }], 'refilled at 2 per second')

    clock.advance(10_000)
    pacer.limited('a')
    t.same(pacer.plan(['a', 'b']), [{ ok: false, waitMs: 500 }, { ok: true }], 'told to wait, only "a" waits')

    pacer.useRates(undefined)
    clock.advance(60_000)
    t.equal(pacer.plan(Array.from({ length: 61 }, () => 'c')).filter((slot) => slot.ok).length, 60)
  },
)

t.test('a relay cannot publish rates that park messages for years or disable the pacing', async (t) => {
  for (const perSecond of [1e-9, 5e-324, 0, 1e6, Number.POSITIVE_INFINITY])
    t.notOk(RateSchema.safeParse({ burst: 60, perSecond }).success, `perSecond ${perSecond} is refused`)
  for (const burst of [0, 1e9]) t.notOk(RateSchema.safeParse({ burst, perSecond: 10 }).success)
  for (const rate of [
    { burst: 60, perSecond: 10 },
    { burst: 2000, perSecond: 200 },
    { burst: 1, perSecond: 0.01 },
  ])
    t.ok(RateSchema.safeParse(rate).success, 'the relay defaults and the slowest allowed rate pass')

  // Rates that did not come through the schema are clamped by the pacer itself.
  const clock = new ManualClock(Date.parse('2026-11-25T10:00:00Z'))
  const pacer = new SubmitPacer({ now: () => clock.now() })
  pacer.useRates({ connection: { burst: 1, perSecond: 5e-324 }, instance: { burst: 0, perSecond: 1e-9 } })
  t.same(
    pacer.plan(['a', 'a']),
    [{ ok: true }, { ok: false, waitMs: 100_000 }],
    'the second envelope waits 100 s (0.01 per second), not for ever',
  )
})

t.test('a backlog leaves at the rate the relay publishes, each message Pending until its turn', async (t) => {
  const relay = await startFakeRelay(t)
  publishRates(relay, {
    connection: { burst: 2, perSecond: 1 },
    instance: { burst: 2000, perSecond: 200 },
  })
  const { node, admin } = await buildOchatNode(t, relay)
  await node.ochat.checkRegistration()
  const { channelId } = await acceptedChannel(node, admin, relay, buildPeer('Globex'))
  const received = recordSubmits(relay, accepted)

  const posted = await Promise.all(
    Array.from({ length: 5 }, (_, index) =>
      admin.call('POST', `/api/v1/ochat/channels/${channelId}/messages`, { body: `Line ${index}` }),
    ),
  )
  const ids = posted.map((answer) => answer.body.id as number)
  await until('two Sent', () => ids.filter((id) => outboxRow(node, id).status === 'sent').length === 2, 5_000)
  const waiting = ids.map((id) => outboxRow(node, id)).filter((row) => row.status !== 'sent')
  t.equal(received.flat().length, 2, 'the relay got the burst of 2, nothing more')
  t.same(
    waiting.map((row) => row.status),
    ['pending', 'pending', 'pending'],
    'the others are Pending, not Retrying',
  )
  t.same(
    waiting.map((row) => row.outboxAttempts),
    [0, 0, 0],
    'and no attempt is counted',
  )
  t.same(
    waiting.map((row) => (row.outboxDueAt ?? 0) - node.clock.now()).sort((a, b) => a - b),
    [1000, 2000, 3000],
    'they are due one per second, as the bucket refills',
  )

  node.clock.advance(1000)
  node.ochat.kickOutbox()
  await until(
    'a third Sent',
    () => ids.filter((id) => outboxRow(node, id).status === 'sent').length === 3,
    5_000,
  )
  t.equal(received.flat().length, 3, 'one more left after a second')
})

t.test('when the relay is back, Retrying messages go at its rate, not all at once', async (t) => {
  const relay = await startFakeRelay(t)
  publishRates(relay, {
    connection: { burst: 2, perSecond: 1 },
    instance: { burst: 2000, perSecond: 200 },
  })
  const { node, admin } = await buildOchatNode(t, relay)
  await node.ochat.checkRegistration()
  const { channelId } = await acceptedChannel(node, admin, relay, buildPeer('Globex'))
  let down = true
  const received = recordSubmits(relay, (ids) =>
    down
      ? {
          status: 503,
          body: { error: { code: 'E_UNAVAILABLE', message: 'Down.', reason: 'error: maintenance' } },
        }
      : accepted(ids),
  )

  // One a second, within the rate: each reaches the relay, which is down, and goes Retrying.
  const ids: number[] = []
  for (let index = 0; index < 4; index++) {
    const sent = await admin.call('POST', `/api/v1/ochat/channels/${channelId}/messages`, {
      body: `No ${index}`,
    })
    ids.push(sent.body.id)
    await until('Retrying', () => outboxRow(node, sent.body.id).status === 'retrying', 5_000)
    node.clock.advance(1000)
  }
  t.equal(received.length, 4)

  down = false
  node.ochat.relayIsBack()
  await until('two Sent', () => ids.filter((id) => outboxRow(node, id).status === 'sent').length === 2, 5_000)
  t.same(received[4]?.length, 2, 'the relay got a burst of 2, not the 4 at once')
  const waiting = ids.map((id) => outboxRow(node, id)).filter((row) => row.status !== 'sent')
  t.same(
    waiting.map((row) => [row.status, row.outboxAttempts, (row.outboxDueAt ?? 0) - node.clock.now()]),
    [
      ['retrying', 1, 1000],
      ['retrying', 1, 2000],
    ],
    'the others wait their turn, Retrying from the real failure, with no attempt added',
  )
})

t.test('a rate-limited answer is not an attempt: the message waits as the relay said, Pending', async (t) => {
  const relay = await startFakeRelay(t)
  const { node, admin } = await buildOchatNode(t, relay)
  const { channelId } = await acceptedChannel(node, admin, relay, buildPeer('Globex'))
  const received = recordSubmits(relay, (ids, call) => {
    if (call === 1)
      return {
        status: 200,
        body: {
          results: ids.map((id) => ({
            ok: false,
            id,
            code: 'E_RATE_LIMITED',
            reason: 'rate-limited: retry in 2 s',
          })),
        },
      }
    if (call === 2)
      return {
        status: 429,
        headers: { 'retry-after': '3' },
        body: {
          error: {
            code: 'E_RATE_LIMITED',
            message: 'Too many envelopes; retry after the delay given.',
            reason: 'rate-limited: retry in 3 s',
          },
        },
      }
    return accepted(ids)
  })

  const sent = await admin.call('POST', `/api/v1/ochat/channels/${channelId}/messages`, { body: 'Hello' })
  const id = sent.body.id as number
  await until('the first answer', () => outboxRow(node, id).outboxDueAt !== node.clock.now(), 5_000)
  t.same(
    outboxRow(node, id),
    { status: 'pending', outboxAttempts: 0, outboxDueAt: node.clock.now() + 2000 },
    'per envelope: still Pending, no attempt counted, due in the 2 s the relay gave',
  )

  node.clock.advance(2000)
  node.ochat.kickOutbox()
  await until(
    'the second answer',
    () => received.length === 2 && outboxRow(node, id).outboxDueAt !== node.clock.now(),
  )
  t.same(
    outboxRow(node, id),
    { status: 'pending', outboxAttempts: 0, outboxDueAt: node.clock.now() + 3000 },
    'a 429 for the whole submit: the same, for its Retry-After',
  )

  node.clock.advance(3000)
  node.ochat.kickOutbox()
  await until('Sent', () => outboxRow(node, id).status === 'sent', 5_000)
  const shown = await admin.call('GET', `/api/v1/ochat/channels/${channelId}/messages`)
  t.equal(shown.body.items[0].status, 'sent')
  t.equal(shown.body.items[0].reason, null, 'no error was ever shown for it')
})

t.test(
  'Read receipts told to slow down (429) go again after the Retry-After, not the failure delay',
  async (t) => {
    const relay = await startFakeRelay(t)
    const { node, admin } = await buildOchatNode(t, relay)
    const peer = buildPeer('Globex')
    const { channelId, connectionId } = await acceptedChannel(node, admin, relay, peer)
    let calls = 0
    relay.handlers.set('POST /v1/receipts', () => {
      calls += 1
      if (calls > 1) return { status: 200, body: { results: [] } }
      return {
        status: 429,
        headers: { 'retry-after': '1' },
        body: {
          error: { code: 'E_RATE_LIMITED', message: 'Slow down.', reason: 'rate-limited: retry in 1 s' },
        },
      }
    })
    t.equal((await deliver(node, relay, [envelopeFrom(peer, node, { connectionId })])).status, 200)
    t.equal((await admin.call('POST', `/api/v1/ochat/channels/${channelId}/read`)).status, 200)
    await until('the first Read receipt, refused', () => calls >= 1, 5_000)
    // The failure delay is 30 s; the relay asked for 1 s.
    await until('the Read receipt sent again', () => calls >= 2, 5_000)
    await until('marked sent', () => {
      const row = node.database.sqlite
        .prepare("select read_receipt as r from ochat_messages where direction = 'in'")
        .get() as { r: string }
      return row.r === 'sent'
    })
    t.pass('the Read receipt left once the relay allowed it')
  },
)

t.test(
  'a file upload told to slow down (429) waits as asked; its message stays Pending, then goes',
  async (t) => {
    const relay = await startFakeRelay(t)
    const { node, admin } = await buildOchatNode(t, relay)
    const { channelId } = await acceptedChannel(node, admin, relay, buildPeer('Globex'))
    const blobId = '019a9a2c-6c00-7000-8000-000000000002'
    let creates = 0
    relay.handlers.set('POST /v1/blobs', () => {
      creates += 1
      if (creates === 1)
        return {
          status: 429,
          headers: { 'retry-after': '1' },
          body: {
            error: { code: 'E_RATE_LIMITED', message: 'Slow down.', reason: 'rate-limited: retry in 1 s' },
          },
        }
      return { status: 201, body: { blobId, uploadUrl: `/v1/blobs/${blobId}`, uploadToken: 'token' } }
    })
    relay.handlers.set(`PUT /v1/blobs/${blobId}`, () => ({ status: 200, body: { blob: { blobId } } }))
    await sendWithFile(node, admin, channelId)
    const seen = new Set<string>()
    await until(
      'Sent',
      async () => {
        const status = (await admin.call('GET', `/api/v1/ochat/channels/${channelId}/messages`)).body.items[0]
          .status
        seen.add(status)
        return status === 'sent'
      },
      5_000,
    )
    t.equal(creates, 2, 'the upload was asked for again')
    t.same([...seen], ['pending', 'sent'], 'never Retrying for being told to wait')
  },
)
