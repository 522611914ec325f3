import t, { type Test } from 'tap'
import type { TestRelay } from '../../relay/test/helpers.ts'
import {
  connectNodes,
  type E2eNode,
  liveEvents,
  ShiftedClock,
  startRestartableRelay,
  startTestNode,
  startTestRelay,
  until,
} from './harness.ts'

/**
 * Faults a company would notice: the other company's server is down for a while, the relay is down,
 * the other server stays down past the relay's deadline. Each time the sender sees why and when the
 * next attempt is, and nothing is lost once things are back.
 */

// biome-ignore lint/suspicious/noExplicitAny: message views are asserted field by field
type Message = any

async function message(node: E2eNode, channelId: number, id: number): Promise<Message> {
  const page = await node.admin.call('GET', `/api/v1/ochat/channels/${channelId}/messages?limit=200`)
  if (page.status !== 200) throw new Error(`GET messages: ${page.status} ${JSON.stringify(page.body)}`)
  return (page.body.items as Message[]).find((item) => item.id === id)
}

async function incoming(node: E2eNode, channelId: number): Promise<Message[]> {
  const page = await node.admin.call('GET', `/api/v1/ochat/channels/${channelId}/messages?limit=200`)
  return (page.body.items as Message[]).filter((item) => item.direction === 'in')
}

/**
 * Retries come sooner by configuration, not by waiting: the servers that retry here run every retry delay
 * at this fraction of the protocol's (5 s → 50 ms, 30 s → 300 ms), and a node's socket reconnects
 * within 0.3 s instead of 30 s. The schedule's shape, and when each attempt happens, are unchanged.
 */
const SCALE = 0.01
const FAST_RELAY = { RELAY_RETRY_SCALE: String(SCALE) }
const FAST_NODE = { NODE_OCHAT_RETRY_SCALE: String(SCALE) }

/** The statuses a message went through, as the UI heard them; a status heard again in a row counts once. */
function statusesOf(events: Message[], messageId: number): string[] {
  return events
    .filter((event) => event.type === 'ochat.message' && event.messageId === messageId)
    .map((event) => event.status)
    .filter((status, index, all) => index === 0 || status !== all[index - 1])
}

/** Each Retrying the UI heard for a message, in order: one per failed attempt. */
function retryingEvents(events: Message[], messageId: number): Message[] {
  return events.filter(
    (event) => event.type === 'ochat.message' && event.messageId === messageId && event.status === 'retrying',
  )
}

/** The protocol's delays after the first failures (PROTOCOL.md §7): 5 s, 30 s, 2 min, 10 min. */
const SCHEDULE_MS = [5_000, 30_000, 120_000, 600_000]

/**
 * Waits for a message's first `count` Retrying events, the UI's view of as many failed attempts, and
 * checks that each announced the next attempt on the schedule, scaled, and that `who` made that attempt
 * no sooner than announced. Answers the events.
 */
async function retriesOnSchedule(
  t: Test,
  props: { events: Message[]; messageId: number; count: number; who: string },
): Promise<Message[]> {
  const heard: Message[] = await until(`${props.count} Retrying events`, () => {
    const found = retryingEvents(props.events, props.messageId)
    return found.length >= props.count && found.slice(0, props.count)
  })
  t.same(
    heard.map((event) => event.nextAttemptAt - event.at),
    SCHEDULE_MS.slice(0, props.count).map((ms) => Math.round(ms * SCALE)),
    `${props.who}: the next attempt is 5 s after the first failure, then 30 s, … (0, 5 s, 30 s, …), scaled`,
  )
  t.ok(
    heard.slice(1).every((event, index) => event.at >= heard[index]?.nextAttemptAt),
    `${props.who} tried again at the time it announced, not before`,
  )
  return heard
}

/** Deliveries the relay made by path ("ws" or "webhook") with outcome delivered. */
async function delivered(relay: TestRelay, path: 'ws' | 'webhook'): Promise<number> {
  const metric = await relay.metrics.deliveries.get()
  return metric.values
    .filter((value) => value.labels.path === path && value.labels.outcome === 'delivered')
    .reduce((sum, value) => sum + value.value, 0)
}

t.test(
  'the recipient is down for a while: Retrying with the next attempt, then Delivered by WebSocket',
  async (t) => {
    // The protocol's own delays, unscaled: the next attempt is 5 s away, longer than Globex takes to
    // come back, so what carries the message then is Globex's socket, not that attempt.
    const relay = await startTestRelay(t, { env: { RELAY_POLL_INTERVAL_MS: '200' } })
    const acme = await startTestNode(t, { company: 'Acme' })
    let globex = await startTestNode(t, { company: 'Globex' })
    const { channelAtA, channelAtB } = await connectNodes(acme, globex, relay)
    const events = await liveEvents(t, acme)

    await globex.stop()
    const sent = await acme.admin.call('POST', `/api/v1/ochat/channels/${channelAtA}/messages`, {
      body: 'Are you there?',
    })
    t.equal(sent.status, 201)
    const retrying = await until('Retrying at Acme', async () => {
      const row = await message(acme, channelAtA, sent.body.id)
      return row.status === 'retrying' && row
    })
    t.equal(retrying.reason, "error: the recipient's webhook cannot be reached", 'the relay says why')
    t.ok(retrying.times.sent, 'the relay had stored it (Sent) before it tried to deliver')
    t.equal(
      retrying.nextAttemptAt - retrying.times.retrying,
      5_000,
      'the next attempt is 5 s after the first failure (0, 5 s, 30 s, …)',
    )
    t.match(retrying.nextStep, /offline/, 'and what to check')
    const live = await until('the Retrying event', () =>
      events.find((event) => event.messageId === sent.body.id && event.status === 'retrying'),
    )
    t.equal(
      live?.nextAttemptAt,
      retrying.nextAttemptAt,
      'the UI heard Retrying live, with the next attempt time',
    )
    t.equal(live?.reason, retrying.reason, 'and the reason')

    const webhooksBefore = await delivered(relay, 'webhook')
    globex = await globex.restart()
    const done = await until('Delivered at Acme', async () => {
      const row = await message(acme, channelAtA, sent.body.id)
      return row.status === 'delivered' && row
    })
    t.equal(done.reason, null, 'a delivered message shows no error')
    t.equal(done.nextAttemptAt, null)
    const arrived = await incoming(globex, channelAtB)
    t.equal(arrived.length, 1, 'Globex stored it once')
    t.equal(arrived[0].html, '<p>Are you there?</p>')
    t.ok((await delivered(relay, 'ws')) >= 1, 'it went over the WebSocket Globex opened when it came back')
    t.equal(await delivered(relay, 'webhook'), webhooksBefore, 'not by webhook')
    await until('the Delivered event', () => statusesOf(events, sent.body.id).includes('delivered'))
    t.same(statusesOf(events, sent.body.id), ['pending', 'sent', 'retrying', 'delivered'])
  },
)

t.test(
  'the recipient is down for a while: Retrying, then Delivered by webhook to a node without a socket',
  async (t) => {
    const relay = await startTestRelay(t, { env: { RELAY_POLL_INTERVAL_MS: '200', ...FAST_RELAY } })
    const acme = await startTestNode(t, { company: 'Acme', env: FAST_NODE })
    let globex = await startTestNode(t, {
      company: 'Globex',
      env: { NODE_OCHAT_WEBSOCKET: 'false', ...FAST_NODE },
    })
    const { channelAtA, channelAtB } = await connectNodes(acme, globex, relay)
    const registration = await globex.admin.call('GET', '/api/v1/ochat/registration')
    t.equal(registration.body.socket, 'off', 'Globex keeps no socket to the relay')
    const events = await liveEvents(t, acme)

    await globex.stop()
    const sent = await acme.admin.call('POST', `/api/v1/ochat/channels/${channelAtA}/messages`, {
      body: 'Webhook only?',
    })
    const [first] = await retriesOnSchedule(t, {
      events,
      messageId: sent.body.id,
      count: 2,
      who: 'the relay',
    })
    t.equal(first?.reason, "error: the recipient's webhook cannot be reached")

    globex = await globex.restart()
    const done = await until(
      'Delivered at Acme',
      async () => {
        const row = await message(acme, channelAtA, sent.body.id)
        return row.status === 'delivered' && row
      },
      20_000,
    )
    const last = retryingEvents(events, sent.body.id).at(-1)
    t.ok(done.times.delivered >= last?.nextAttemptAt, 'the relay tried again at the time it announced')
    t.ok((await delivered(relay, 'webhook')) >= 1, 'by webhook')
    t.equal(await delivered(relay, 'ws'), 0, 'never over a socket')
    const arrived = await incoming(globex, channelAtB)
    t.equal(arrived.length, 1, 'Globex stored it once')
    await until('the Delivered event', () => statusesOf(events, sent.body.id).includes('delivered'))
    t.same(statusesOf(events, sent.body.id), ['pending', 'sent', 'retrying', 'delivered'])

    const reply = await globex.admin.call('POST', `/api/v1/ochat/channels/${channelAtB}/messages`, {
      body: 'Yes, by webhook.',
    })
    t.equal(reply.status, 201)
    await until('the reply Delivered at Globex', async () => {
      const row = await message(globex, channelAtB, reply.body.id)
      return row.status === 'delivered'
    })
  },
)

t.test(
  'the relay is down when a node sends: Pending, then Retrying in the outbox, then Delivered',
  async (t) => {
    const relay = await startRestartableRelay(t, { env: { RELAY_POLL_INTERVAL_MS: '200', ...FAST_RELAY } })
    const acme = await startTestNode(t, { company: 'Acme', env: FAST_NODE })
    const globex = await startTestNode(t, { company: 'Globex', env: FAST_NODE })
    const { channelAtA, channelAtB } = await connectNodes(acme, globex, relay)
    const events = await liveEvents(t, acme)

    await relay.stop()
    const sent = await acme.admin.call('POST', `/api/v1/ochat/channels/${channelAtA}/messages`, {
      body: 'Sent while the relay is down',
    })
    t.equal(sent.status, 201)
    t.equal(sent.body.status, 'pending', 'Pending: in the outbox, the relay not reached yet')
    // The outbox's own schedule, the same as the relay's.
    const [first] = await retriesOnSchedule(t, {
      events,
      messageId: sent.body.id,
      count: 2,
      who: "Acme's outbox",
    })
    t.match(first?.reason, /^error: cannot reach the relay at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED$/)
    const retrying = await until('Retrying at Acme', async () => {
      const row = await message(acme, channelAtA, sent.body.id)
      return row.status === 'retrying' && row
    })
    t.equal(retrying.reason, first?.reason, 'the message shows why')
    t.equal(retrying.times.sent, null, 'never Sent: the relay does not have it')
    t.match(retrying.nextStep, /internet connection and the relay URL/)
    const registration = await until('the registration shows the relay unreachable', async () => {
      const view = await acme.admin.call('GET', '/api/v1/ochat/registration')
      return view.body.status === 'unreachable' && view.body
    })
    // Refused connections, or a 503 from a request that came in while the relay was shutting down.
    t.match(registration.lastError, /cannot reach the relay|relay is unavailable/, 'with the last error')

    await relay.start()
    // Acme finds the relay again at its next socket reconnect (backoff 0.5 s doubling up to 30 s, here
    // scaled to at most 0.3 s) or at the outbox's next attempt, whichever comes first.
    const done = await until('Delivered at Acme', async () => {
      const row = await message(acme, channelAtA, sent.body.id)
      return row.status === 'delivered' && row
    })
    t.ok(done.times.sent, 'Sent once the relay was back')
    const arrived = await incoming(globex, channelAtB)
    t.equal(arrived.length, 1)
    t.equal(arrived[0].html, '<p>Sent while the relay is down</p>')
    await until('the Delivered event', () => statusesOf(events, sent.body.id).includes('delivered'))
    t.same(statusesOf(events, sent.body.id), ['pending', 'retrying', 'sent', 'delivered'])
    await until('the registration valid again', async () => {
      const again = await acme.admin.call('GET', '/api/v1/ochat/registration')
      return again.body.status === 'valid'
    })
  },
)

t.test('the recipient is down past the deadline: Failed with the reason, then Retry works', async (t) => {
  // One clock for the three processes: 72 h pass for all of them, and signatures stay fresh.
  const clock = new ShiftedClock()
  const relay = await startTestRelay(t, { clock })
  const acme = await startTestNode(t, { company: 'Acme', clock })
  let globex = await startTestNode(t, { company: 'Globex', clock })
  const { channelAtA, channelAtB } = await connectNodes(acme, globex, relay)
  const events = await liveEvents(t, acme)

  await globex.stop()
  const sent = await acme.admin.call('POST', `/api/v1/ochat/channels/${channelAtA}/messages`, {
    body: 'Before the long weekend',
  })
  await until(
    'Retrying at Acme',
    async () => (await message(acme, channelAtA, sent.body.id)).status === 'retrying',
  )

  clock.advance(relay.config.deliveryDeadlineMs + 60_000)
  await relay.runJobs()
  const failed = await until('Failed at Acme', async () => {
    const row = await message(acme, channelAtA, sent.body.id)
    return row.status === 'failed' && row
  })
  t.equal(
    failed.reason,
    "error: not delivered within 72 h; last error: the recipient's webhook cannot be reached",
    'the reason says how long was tried and the last error',
  )
  t.ok(failed.times.failed, 'Failed has its time')
  t.equal(failed.nextAttemptAt, null, 'no attempt is scheduled any more')
  t.match(failed.nextStep, /offline/, 'what to check')
  t.match(failed.nextStep, /retry/i, 'and that it can be retried')
  t.notMatch(failed.nextStep, /retries until the deadline/, 'not that it is still being retried')
  await until('the Failed event', () => statusesOf(events, sent.body.id).includes('failed'))
  t.equal(events.find((e) => e.messageId === sent.body.id && e.status === 'failed')?.reason, failed.reason)

  globex = await globex.restart()
  // "Once the recipient is up": its socket to the relay is back (until then the relay would go by
  // webhook, which its breaker holds back after 72 h of failures).
  await until('Globex connected again', async () => {
    const status = await globex.admin.call('GET', '/api/v1/ochat/registration')
    return status.body.socket === 'ready'
  })
  const retried = await acme.admin.call('POST', `/api/v1/ochat/messages/${sent.body.id}/retry`)
  t.equal(retried.status, 200, 'Retry is allowed on a Failed message')
  t.equal(retried.body.status, 'pending', 'it is back in the outbox')
  const notAgain = await acme.admin.call('POST', `/api/v1/ochat/messages/${sent.body.id}/retry`)
  t.equal(notAgain.status, 409, 'only a Failed message can be retried')
  t.equal(notAgain.body.error.code, 'E_OCHAT_NOT_RETRYABLE')
  const done = await until('Delivered at Acme after the retry', async () => {
    const row = await message(acme, channelAtA, sent.body.id)
    return row.status === 'delivered' && row
  })
  t.equal(done.reason, null)
  const arrived = await incoming(globex, channelAtB)
  t.equal(arrived.length, 1, 'Globex has it once')
  t.equal(arrived[0].html, '<p>Before the long weekend</p>')
})
