import { eq } from 'drizzle-orm'
import t from 'tap'
import { webhookMessages } from '../src/db/schema.ts'
import { RETRY_DELAYS_MS } from '../src/webhooks/queue.ts'
import { type Answer, settled, webhookScene } from './fixtures/webhooks.ts'
import { buildNode, buildRecord, type TestNode, until } from './helpers.ts'

/**
 * How deliveries fail and recover: the retry schedule on a fake clock, endpoints that time out,
 * redirect, hang up, answer 410 or fail for days; replay; secret rotation; a restart.
 */

const [, FIVE_SECONDS = 0, FIVE_MINUTES = 0, HALF_HOUR = 0] = RETRY_DELAYS_MS
const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

async function later(node: TestNode, ms: number): Promise<void> {
  node.clock.advance(ms)
  await settled(node)
}

/** An endpoint for every event, and one record created (its events are the first deliveries). */
async function withEndpoint(
  t: Parameters<typeof webhookScene>[0],
  answer: Answer,
  env: Record<string, string> = {},
) {
  const scene = await webhookScene(t, env)
  scene.receiver.answerWith(() => answer)
  const endpoint = await scene.admin.call('POST', '/api/v1/webhooks/endpoints', {
    url: scene.receiver.url,
    events: ['record.created'],
  })
  t.equal(endpoint.status, 201)
  const lead = await buildRecord(scene.sarah, 'lead', { name: 'Big deal' })
  await settled(scene.node)
  const messages = async () =>
    (await scene.admin.call('GET', `/api/v1/webhooks/endpoints/${endpoint.body.id}/messages`)).body.items
  return { ...scene, endpoint: endpoint.body, lead, messages }
}

t.test(
  'a failing endpoint is retried on the schedule, with the same webhook-id, until it answers',
  async (t) => {
    const { node, receiver, messages } = await withEndpoint(t, { status: 500, body: 'database is down' })
    t.equal(receiver.received.length, 1, 'the first attempt goes at once')
    let [message] = await messages()
    t.match(message, { status: 'pending', attempts: 1, lastStatusCode: 500, lastError: 'answered 500' })
    t.equal(message.nextAttemptAt, node.clock.now() + FIVE_SECONDS, 'the next one 5 s later')

    await later(node, FIVE_SECONDS - 1)
    t.equal(receiver.received.length, 1, 'not a moment before')
    await later(node, 1)
    t.equal(receiver.received.length, 2, 'then the second attempt')
    await later(node, FIVE_MINUTES)
    t.equal(receiver.received.length, 3, 'the third 5 minutes after')
    receiver.answerWith(() => ({ status: 200 }))
    await later(node, HALF_HOUR)
    t.equal(receiver.received.length, 4, 'the fourth 30 minutes after, and it succeeds')
    ;[message] = await messages()
    t.match(message, { status: 'delivered', attempts: 4, lastStatusCode: 200, lastError: null })
    const ids = new Set(receiver.received.map((delivery) => delivery.headers['webhook-id']))
    t.equal(ids.size, 1, 'every attempt carried the same webhook-id')
    const detail = await node.app.inject({ method: 'GET', url: `/api/v1/webhooks/messages/${message.id}` })
    t.equal(detail.statusCode, 401, 'the log is not public')
  },
)

t.test(
  'after the eighth failure the message is Failed; a replay sends it again with its webhook-id',
  async (t) => {
    const { node, admin, receiver, messages } = await withEndpoint(t, { status: 503 })
    for (const delay of RETRY_DELAYS_MS.slice(1)) await later(node, delay)
    t.equal(receiver.received.length, RETRY_DELAYS_MS.length, 'eight attempts in all')
    await later(node, DAY)
    t.equal(receiver.received.length, RETRY_DELAYS_MS.length, 'and no more')
    const [failed] = await messages()
    t.match(failed, { status: 'failed', attempts: 8, nextAttemptAt: null })

    receiver.answerWith(() => ({ status: 204 }))
    const replayed = await admin.call('POST', `/api/v1/webhooks/messages/${failed.id}/replay`)
    t.equal(replayed.status, 200)
    await settled(node)
    t.equal(receiver.received.length, 9, 'replayed')
    t.equal(receiver.received[8]?.headers['webhook-id'], failed.eventId, 'with the same webhook-id')
    t.match((await messages())[0], { status: 'delivered', attempts: 1 })
  },
)

t.test('replaying everything that failed since a time', async (t) => {
  const { node, admin, sarah, receiver, endpoint, messages } = await withEndpoint(t, { status: 500 })
  const since = node.clock.now() + MINUTE
  await later(node, MINUTE)
  await buildRecord(sarah, 'lead', { name: 'Second deal' })
  await settled(node)
  for (const delay of RETRY_DELAYS_MS.slice(1)) await later(node, delay)
  t.same(
    (await messages()).map((message: { status: string }) => message.status),
    ['failed', 'failed'],
  )
  receiver.answerWith(() => ({ status: 200 }))
  const replay = await admin.call('POST', `/api/v1/webhooks/endpoints/${endpoint.id}/replay`, { since })
  t.same(replay.body, { replayed: 1 }, 'only the one created since then')
  await settled(node)
  t.same(
    (await messages()).map((message: { status: string }) => message.status),
    ['delivered', 'failed'],
  )
})

t.test('timeouts, redirects and hang-ups are failures the log explains', async (t) => {
  for (const [answer, reason] of [
    ['hang', /no answer within 0\.3 s/],
    [
      { status: 302, location: 'http://127.0.0.1:9/elsewhere' },
      /302, a redirect to http:\/\/127\.0\.0\.1:9\/elsewhere: redirects are not followed/,
    ],
    ['close', /closed/],
  ] as const) {
    const { receiver, messages } = await withEndpoint(t, answer, { NODE_WEBHOOK_TIMEOUT_MS: '300' })
    t.equal(receiver.received.length, 1)
    const [message] = await messages()
    t.equal(message.status, 'pending', `${JSON.stringify(answer)}: retried later`)
    t.match(message.lastError, reason, `${JSON.stringify(answer)}: ${message.lastError}`)
  }
})

t.test('410 Gone disables the endpoint at once; resuming it sends what waited', async (t) => {
  const { node, admin, sarah, receiver, endpoint, messages } = await withEndpoint(t, { status: 410 })
  const shown = await admin.call('GET', `/api/v1/webhooks/endpoints/${endpoint.id}`)
  t.match(shown.body, { enabled: false, disabledReason: 'the endpoint answered 410 Gone' })
  await buildRecord(sarah, 'lead', { name: 'Second deal' })
  await later(node, HOUR)
  t.equal(receiver.received.length, 1, 'nothing more goes to a disabled endpoint')
  t.match(
    await messages(),
    [
      { status: 'pending', attempts: 0 },
      { status: 'pending', attempts: 1 },
    ],
    'what happens meanwhile waits',
  )

  receiver.answerWith(() => ({ status: 200 }))
  const resumed = await admin.call('PATCH', `/api/v1/webhooks/endpoints/${endpoint.id}`, { enabled: true })
  t.match(resumed.body, { enabled: true, disabledAt: null, failingSince: null })
  await settled(node)
  t.equal(receiver.received.length, 3, 'the messages that waited go')
  t.match(await messages(), [{ status: 'delivered' }, { status: 'delivered' }])
})

t.test('an endpoint that fails for five days is disabled, and administrators hear of it', async (t) => {
  const { node, admin, sarah, receiver, endpoint } = await withEndpoint(t, { status: 500 })
  const events: unknown[] = []
  node.webhooks.kick()
  const original = node.inbound.deps.live.publish.bind(node.inbound.deps.live)
  node.inbound.deps.live.publish = (effects) => {
    events.push(...effects.events)
    original(effects)
  }
  // A new failing message every 8 hours keeps the endpoint failing, with no quiet spell.
  for (let step = 1; step <= 14; step++) {
    await later(node, 8 * HOUR)
    await buildRecord(sarah, 'lead', { name: `Deal ${step}` })
    await settled(node)
  }
  t.match(
    (await admin.call('GET', `/api/v1/webhooks/endpoints/${endpoint.id}`)).body,
    { enabled: true },
    'still enabled after 4 days and 16 hours of failures',
  )
  await later(node, 8 * HOUR)
  const shown = await admin.call('GET', `/api/v1/webhooks/endpoints/${endpoint.id}`)
  t.match(shown.body, {
    enabled: false,
    disabledReason: /^every delivery failed for 5 days; the last: answered 500/,
  })
  // Told within a quarter of a second, coalesced.
  await until(
    'the administrators’ pages are told',
    () => events.some((event) => (event as { type: string }).type === 'webhooks.changed'),
    2_000,
  )
  t.pass('the administrators’ pages are told')
  const before = receiver.received.length
  await later(node, DAY)
  t.equal(receiver.received.length, before, 'nothing goes to it any more')
})

t.test('a rotated secret: both sign for 24 hours, then only the new one', async (t) => {
  const { node, admin, sarah, receiver, endpoint } = await withEndpoint(t, { status: 200 })
  const rotated = await admin.call('POST', `/api/v1/webhooks/endpoints/${endpoint.id}/rotate-secret`)
  t.equal(rotated.status, 200)
  t.not(rotated.body.secret, endpoint.secret)
  t.equal(rotated.body.previousSecretUntil, node.clock.now() + DAY)
  await buildRecord(sarah, 'lead', { name: 'Second deal' })
  await settled(node)
  const signatures = (index: number) =>
    String(receiver.received[index]?.headers['webhook-signature']).split(' ')
  t.equal(signatures(1).length, 2, 'during the overlap, two signatures')
  await later(node, DAY)
  await buildRecord(sarah, 'lead', { name: 'Third deal' })
  await settled(node)
  t.equal(signatures(2).length, 1, 'after it, one')
})

t.test(
  'a delivery under way when the node stops goes after the restart, with the same webhook-id',
  async (t) => {
    const first = await webhookScene(t, { NODE_WEBHOOK_TIMEOUT_MS: '60000' })
    first.receiver.answerWith(() => 'hang')
    await first.admin.call('POST', '/api/v1/webhooks/endpoints', {
      url: first.receiver.url,
      events: ['record.created'],
    })
    await buildRecord(first.sarah, 'lead', { name: 'Big deal' })
    first.node.webhooks.kick()
    while (first.receiver.received.length === 0) await new Promise((resolve) => setTimeout(resolve, 10))
    // A crash: the claim is on disk, the answer never came.
    const claimed = first.node.database.db.select().from(webhookMessages).all()
    t.match(claimed, [{ status: 'delivering' }])
    const restarted = await buildNode(t, {
      dataDir: first.node.dataDir,
      env: { NODE_WEBHOOK_ALLOWLIST: '127.0.0.1' },
    })
    first.receiver.answerWith(() => ({ status: 200 }))
    await settled(restarted)
    t.equal(first.receiver.received.length, 2, 'sent again by the restarted node')
    t.equal(
      first.receiver.received[1]?.headers['webhook-id'],
      claimed[0]?.eventId,
      'with the same webhook-id',
    )
    const row = restarted.database.db
      .select()
      .from(webhookMessages)
      .where(eq(webhookMessages.id, claimed[0]?.id ?? 0))
      .get()
    t.equal(row?.status, 'delivered')
  },
)

t.test(
  'one failure after days of nothing to send starts a new run: the endpoint stays enabled',
  async (t) => {
    const { node, admin, sarah, receiver, endpoint } = await withEndpoint(t, { status: 502 })
    // Its one message uses up its retries within the first day; then nothing happens for four days.
    await later(node, DAY)
    await later(node, DAY)
    await later(node, 4 * DAY)
    await buildRecord(sarah, 'lead', { name: 'Second deal' })
    await settled(node)
    const shown = await admin.call('GET', `/api/v1/webhooks/endpoints/${endpoint.id}`)
    t.match(
      shown.body,
      { enabled: true, failingSince: node.clock.now() },
      'the failing run began with this failure',
    )
    t.ok(receiver.received.length > 2)
  },
)

t.test('a slow endpoint with a backlog does not hold up another', async (t) => {
  const { admin, sarah, receiver } = await webhookScene(t, { NODE_WEBHOOK_TIMEOUT_MS: '2000' })
  receiver.answerWith((request) => (request.path.endsWith('?slow') ? 'hang' : { status: 204 }))
  const slow = await admin.call('POST', '/api/v1/webhooks/endpoints', {
    url: `${receiver.url}?slow`,
    events: ['record.created'],
    concurrency: 1,
  })
  t.equal(slow.status, 201)
  for (let i = 0; i < 30; i++) await buildRecord(sarah, 'lead', { name: `Backlog ${i}` })
  const fast = await admin.call('POST', '/api/v1/webhooks/endpoints', {
    url: `${receiver.url}?fast`,
    events: ['record.created'],
  })
  t.equal(fast.status, 201)
  await buildRecord(sarah, 'lead', { name: 'After the backlog' })
  const started = performance.now()
  await until(
    'the other endpoint’s delivery',
    () => receiver.received.some((delivery) => delivery.path.endsWith('?fast')),
    1_500,
  )
  t.ok(performance.now() - started < 1_500, 'delivered while the slow endpoint still hangs')
  t.equal(
    receiver.received.filter((delivery) => delivery.path.endsWith('?slow')).length,
    1,
    'the slow endpoint has one call at a time',
  )
})

t.test('finished deliveries are pruned after 30 days; waiting ones stay whatever their age', async (t) => {
  const { node, admin, sarah, receiver, endpoint, messages } = await withEndpoint(t, { status: 204 })
  t.match(await messages(), [{ status: 'delivered' }])
  const paused = await admin.call('PATCH', `/api/v1/webhooks/endpoints/${endpoint.id}`, { enabled: false })
  t.equal(paused.status, 200)
  await buildRecord(sarah, 'lead', { name: 'While paused' })
  await later(node, 29 * DAY)
  await node.housekeeping.sweep()
  t.equal((await messages()).length, 2, 'kept for 30 days')
  await later(node, 2 * DAY)
  await node.housekeeping.sweep()
  t.match(await messages(), [{ status: 'pending' }], 'the delivered one is gone, the waiting one stays')
  const attempts = node.database.sqlite.prepare('select count(*) as n from webhook_attempts').get() as {
    n: number
  }
  t.equal(attempts.n, 0, 'with its attempts')
  t.equal(receiver.received.length, 1)
})
