import type { Test } from 'tap'
import t from 'tap'
import {
  connectNodes,
  type E2eNode,
  liveEvents,
  ShiftedClock,
  startTestNode,
  startTestRelay,
  until,
} from './harness.ts'

/**
 * The relay's rate limits (PROTOCOL.md §4.4) as a sender meets them: a burst far over the relay's
 * bucket, and a backlog built up while the recipient is away, leave at the rate the relay takes them.
 * Being told to wait is not a failure, so no message ever shows Retrying for it.
 */

// biome-ignore lint/suspicious/noExplicitAny: live events are asserted field by field
type Event = any

/** Outgoing messages of a node by status, and how many ever went Retrying (the column keeps the time). */
function outgoing(node: E2eNode): { byStatus: Record<string, number>; everRetrying: number } {
  const rows = node.node.database.sqlite
    .prepare(
      `select status, count(*) as n, sum(retrying_at is not null) as retried
       from ochat_messages where direction = 'out' group by status`,
    )
    .all() as { status: string; n: number; retried: number }[]
  return {
    byStatus: Object.fromEntries(rows.map((row) => [row.status, row.n])),
    everRetrying: rows.reduce((sum, row) => sum + row.retried, 0),
  }
}

/** Every status each message went through, as the UI heard it live, in order. */
function statusesSeen(events: Event[]): Map<number, string[]> {
  const seen = new Map<number, string[]>()
  for (const event of events)
    if (event.type === 'ochat.message')
      seen.set(event.messageId, [...(seen.get(event.messageId) ?? []), event.status])
  return seen
}

/** The most messages shown Retrying at one moment, replaying the live events in order. */
function mostRetryingAtOnce(events: Event[]): number {
  const current = new Map<number, string>()
  let most = 0
  for (const event of events) {
    if (event.type !== 'ochat.message') continue
    current.set(event.messageId, event.status)
    most = Math.max(most, [...current.values()].filter((status) => status === 'retrying').length)
  }
  return most
}

async function postMany(t: Test, node: E2eNode, channelId: number, count: number, label: string) {
  const answers = await Promise.all(
    Array.from({ length: count }, (_, index) =>
      node.admin.call('POST', `/api/v1/ochat/channels/${channelId}/messages`, {
        body: `${label} ${index + 1}`,
      }),
    ),
  )
  t.ok(
    answers.every((answer) => answer.status === 201),
    `${count} messages accepted`,
  )
  return answers.map((answer) => answer.body.id as number)
}

t.test(
  'a burst of 300 messages to one channel, default limits: all Delivered within 40 s, none Retrying',
  async (t) => {
    const relay = await startTestRelay(t)
    const rates = await relay.app.inject({ method: 'GET', url: '/v1/rates' })
    t.same(
      rates.json().submit,
      { connection: { burst: 60, perSecond: 10 }, instance: { burst: 2000, perSecond: 200 } },
      'the relay publishes its default limits',
    )
    const acme = await startTestNode(t, { company: 'Acme' })
    const globex = await startTestNode(t, { company: 'Globex' })
    const { channelAtA, channelAtB } = await connectNodes(acme, globex, relay)
    const events = await liveEvents(t, acme)

    const started = Date.now()
    await postMany(t, acme, channelAtA, 300, 'Order line')
    t.comment(`300 messages posted in ${Date.now() - started} ms`)
    await until('all 300 Delivered', () => outgoing(acme).byStatus.delivered === 300, 40_000)
    const elapsed = Date.now() - started
    t.comment(
      `all 300 Delivered ${elapsed} ms after the first POST; most Retrying at once: ${mostRetryingAtOnce(events)}`,
    )
    t.ok(elapsed < 40_000, 'within 40 s')
    t.equal(outgoing(acme).everRetrying, 0, 'no message was ever Retrying')
    t.equal(mostRetryingAtOnce(events), 0, 'and the UI never heard Retrying')
    const stored = globex.node.database.sqlite
      .prepare("select count(*) as n from ochat_messages where direction = 'in' and channel_id = ?")
      .get(channelAtB) as { n: number }
    t.equal(stored.n, 300, 'Globex stored each once')
  },
)

t.test(
  'a recipient offline for 24 hours: everything is delivered when it returns, and every status shown was true',
  async (t) => {
    // One clock for the three processes: a day passes for all of them, and signatures stay fresh.
    const clock = new ShiftedClock()
    // Small buckets, so the backlog is far over the burst and still drains in about a second.
    const relay = await startTestRelay(t, {
      clock,
      env: { RELAY_RATE_CONNECTION_BURST: '5', RELAY_RATE_CONNECTION_PER_S: '20' },
    })
    const rates = await relay.app.inject({ method: 'GET', url: '/v1/rates' })
    t.same(rates.json().submit.connection, { burst: 5, perSecond: 20 }, 'and publishes them')
    const acme = await startTestNode(t, { company: 'Acme', clock })
    let globex = await startTestNode(t, { company: 'Globex', clock })
    // Globex takes deliveries over its socket only: while it is away the relay just keeps them.
    const { channelAtA, channelAtB } = await connectNodes(acme, globex, relay, { b: { webhookUrl: null } })
    const events = await liveEvents(t, acme)
    await globex.stop()

    const first = await postMany(t, acme, channelAtA, 30, 'Before the day off')
    await until('the first 30 Sent (stored by the relay)', () => outgoing(acme).byStatus.sent === 30, 10_000)
    clock.advance(12 * 3_600_000)
    const second = await postMany(t, acme, channelAtA, 10, 'Half a day later')
    await until('all 40 Sent', () => outgoing(acme).byStatus.sent === 40, 10_000)
    clock.advance(12 * 3_600_000)
    await relay.runJobs()
    t.same(
      outgoing(acme),
      { byStatus: { sent: 40 }, everRetrying: 0 },
      'a day later: all Sent, none Retrying or Failed',
    )

    globex = await globex.restart()
    await until('all 40 Delivered', () => outgoing(acme).byStatus.delivered === 40, 20_000)
    const stored = globex.node.database.sqlite
      .prepare("select count(*) as n from ochat_messages where direction = 'in' and channel_id = ?")
      .get(channelAtB) as { n: number }
    t.equal(stored.n, 40, 'Globex stored each once')
    await until('every Delivered event', () =>
      [...first, ...second].every((id) => statusesSeen(events).get(id)?.includes('delivered')),
    )
    const seen = statusesSeen(events)
    t.ok(
      [...first, ...second].every((id) => JSON.stringify(seen.get(id)) === '["pending","sent","delivered"]'),
      'each message was shown Pending, then Sent while the relay held it, then Delivered',
    )
  },
)
