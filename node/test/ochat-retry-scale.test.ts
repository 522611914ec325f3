// PROTOCOL.md §7: the outbox retries the relay on the shared schedule (0, 5 s, 30 s, …).
// NODE_OCHAT_RETRY_SCALE shortens every delay of it for tests and staging; the 72 h deadline stays.
import t from 'tap'
import { until } from './helpers.ts'
import { acceptedChannel, buildOchatNode, buildPeer, startFakeRelay } from './ochat-helpers.ts'
import { outboxRow, recordSubmits } from './ochat-pacing-helpers.ts'

const down = {
  status: 503,
  body: { error: { code: 'E_UNAVAILABLE', message: 'Down.', reason: 'error: maintenance' } },
}

for (const { scale, env } of [
  { scale: 1, env: {} },
  { scale: 0.01, env: { NODE_OCHAT_RETRY_SCALE: '0.01' } },
]) {
  t.test(`with a retry scale of ${scale}, the next attempts are 5 s and 30 s × ${scale} away`, async (t) => {
    const relay = await startFakeRelay(t)
    const { node, admin } = await buildOchatNode(t, relay, { env })
    const { channelId } = await acceptedChannel(node, admin, relay, buildPeer('Globex'))
    const received = recordSubmits(relay, () => down)

    const sent = await admin.call('POST', `/api/v1/ochat/channels/${channelId}/messages`, { body: 'Hello' })
    const id = sent.body.id as number
    await until('Retrying', () => outboxRow(node, id).status === 'retrying', 5_000)
    const failedAt = node.clock.now()
    t.same(
      outboxRow(node, id),
      { status: 'retrying', outboxAttempts: 1, outboxDueAt: failedAt + 5_000 * scale },
      'one failed attempt: due again 5 s later, scaled',
    )
    const shown = await admin.call('GET', `/api/v1/ochat/channels/${channelId}/messages`)
    t.equal(shown.body.items[0].nextAttemptAt, failedAt + 5_000 * scale, 'and the user is told so')

    // At the announced time the outbox tries again, and the relay is still down.
    node.clock.advance(5_000 * scale)
    node.ochat.kickOutbox()
    await until('the second attempt', () => outboxRow(node, id).outboxAttempts === 2, 5_000)
    t.equal(received.length, 2, 'the relay was asked twice')
    t.equal(
      outboxRow(node, id).outboxDueAt,
      node.clock.now() + 30_000 * scale,
      'two failed attempts: due again 30 s later, scaled',
    )
  })
}
