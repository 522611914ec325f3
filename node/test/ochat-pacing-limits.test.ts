// The waits of O'Chat send pacing have bounds: whatever a relay publishes or asks for, a message, a Read
// receipt or a file goes again within the hour, and a message that has not reached the relay fails at its
// 72 h deadline (PROTOCOL.md §4.4; RETRY_SCHEDULE in shared-protocol).
import { RETRY_SCHEDULE } from '@ochat/shared-protocol'
import t from 'tap'
import { until } from './helpers.ts'
import {
  acceptedChannel,
  buildOchatNode,
  buildPeer,
  deliver,
  envelopeFrom,
  startFakeRelay,
} from './ochat-helpers.ts'
import {
  HOUR_MS,
  outboxRow,
  recordSubmits,
  sendWithFile,
  slowDown,
  timerDelays,
  YEARS_S,
} from './ochat-pacing-helpers.ts'

t.test(
  'a message the relay keeps asking to wait goes again within the hour, and fails at 72 h with its reason',
  async (t) => {
    const relay = await startFakeRelay(t)
    const { node, admin } = await buildOchatNode(t, relay)
    const { channelId } = await acceptedChannel(node, admin, relay, buildPeer('Globex'))
    const received = recordSubmits(relay, (ids, call) => {
      if (call === 1) return slowDown(YEARS_S)
      if (call === 3)
        return {
          status: 503,
          headers: { 'retry-after': String(YEARS_S) },
          body: { error: { code: 'E_UNAVAILABLE', message: 'Down.', reason: 'error: maintenance' } },
        }
      return {
        status: 200,
        body: {
          results: ids.map((id) => ({
            ok: false,
            id,
            code: 'E_RATE_LIMITED',
            reason: `rate-limited: retry in ${YEARS_S} s`,
          })),
        },
      }
    })
    const written = node.clock.now()
    const deadline = written + RETRY_SCHEDULE.deadlineMs
    /** Moves the clock, lets the due message go, and answers its row once the relay's answer is in. */
    const answered = async (calls: number, previousDueAt: number | null) => {
      await until(
        `answer ${calls}`,
        () => received.length === calls && outboxRow(node, id).outboxDueAt !== previousDueAt,
        5_000,
      )
      return outboxRow(node, id)
    }

    const sent = await admin.call('POST', `/api/v1/ochat/channels/${channelId}/messages`, { body: 'Hello' })
    const id = sent.body.id as number
    t.same(
      await answered(1, written),
      { status: 'pending', outboxAttempts: 0, outboxDueAt: written + HOUR_MS },
      'a 429 asking for years: due again in 1 h',
    )

    node.clock.set(written + HOUR_MS)
    node.ochat.kickOutbox()
    t.same(
      await answered(2, written + HOUR_MS),
      { status: 'pending', outboxAttempts: 0, outboxDueAt: written + 2 * HOUR_MS },
      '"retry in" years for the envelope: due again in 1 h',
    )

    node.clock.set(deadline - HOUR_MS / 2)
    node.ochat.kickOutbox()
    t.same(
      await answered(3, written + 2 * HOUR_MS),
      { status: 'retrying', outboxAttempts: 1, outboxDueAt: deadline },
      'half an hour before the deadline, a failure whose Retry-After says years is tried last at the deadline',
    )

    node.clock.set(deadline - HOUR_MS / 4)
    node.ochat.relayIsBack()
    t.same(
      await answered(4, node.clock.now()),
      { status: 'retrying', outboxAttempts: 1, outboxDueAt: deadline },
      'told to wait a quarter of an hour before the deadline: due at the deadline, not after it',
    )

    node.clock.set(deadline)
    node.ochat.kickOutbox()
    await until('Failed', () => outboxRow(node, id).status === 'failed', 5_000)
    const shown = await admin.call('GET', `/api/v1/ochat/channels/${channelId}/messages`)
    t.same(
      [shown.body.items[0].status, shown.body.items[0].reason],
      ['failed', 'error: maintenance'],
      'Failed at the deadline, with the reason of its last failure',
    )
    t.equal(received.length, 4, 'and not sent again')
  },
)

t.test('Read receipts told to wait years wait 1 h, and do not spin', async (t) => {
  const relay = await startFakeRelay(t)
  const { node, admin } = await buildOchatNode(t, relay)
  const peer = buildPeer('Globex')
  const { channelId, connectionId } = await acceptedChannel(node, admin, relay, peer)
  let calls = 0
  relay.handlers.set('POST /v1/receipts', () => {
    calls += 1
    return slowDown(YEARS_S)
  })
  t.equal((await deliver(node, relay, [envelopeFrom(peer, node, { connectionId })])).status, 200)
  const delays = timerDelays(t)
  t.equal((await admin.call('POST', `/api/v1/ochat/channels/${channelId}/read`)).status, 200)
  await until('the 1 h wait', () => delays().includes(HOUR_MS), 5_000)
  t.equal(calls, 1, 'the relay was asked once')
  t.ok(
    delays().every((delay) => delay <= 2 ** 31 - 1),
    'no timer was set past what setTimeout takes',
  )
})

t.test('a file upload told to wait years waits 1 h, its message still Pending', async (t) => {
  const relay = await startFakeRelay(t)
  const { node, admin } = await buildOchatNode(t, relay)
  const { channelId } = await acceptedChannel(node, admin, relay, buildPeer('Globex'))
  let creates = 0
  relay.handlers.set('POST /v1/blobs', () => {
    creates += 1
    return slowDown(YEARS_S)
  })
  const delays = timerDelays(t)
  const id = await sendWithFile(node, admin, channelId)
  await until('the 1 h wait', () => delays().includes(HOUR_MS), 5_000)
  t.equal(creates, 1, 'the relay was asked once')
  t.ok(
    delays().every((delay) => delay <= 2 ** 31 - 1),
    'no timer was set past what setTimeout takes',
  )
  t.equal(outboxRow(node, id).status, 'pending')
})

t.test('a file upload the relay keeps asking to wait fails its message at 72 h', async (t) => {
  const relay = await startFakeRelay(t)
  const { node, admin } = await buildOchatNode(t, relay)
  const { channelId } = await acceptedChannel(node, admin, relay, buildPeer('Globex'))
  let creates = 0
  relay.handlers.set('POST /v1/blobs', () => {
    creates += 1
    return slowDown(1)
  })
  const id = await sendWithFile(node, admin, channelId)
  await until('the first 429', () => creates === 1, 5_000)
  node.clock.advance(RETRY_SCHEDULE.deadlineMs)
  // The upload asks again 1 s later (real time), finds the deadline passed, and gives up.
  await until('Failed', () => outboxRow(node, id).status === 'failed', 5_000)
  const shown = await admin.call('GET', `/api/v1/ochat/channels/${channelId}/messages`)
  t.equal(shown.body.items[0].status, 'failed')
  t.match(shown.body.items[0].reason, /^blocked: the file "quote\.pdf" could not be uploaded/)
})
