import t from 'tap'
import { twoCompanies } from './fixtures/ochat-pair.ts'
import { until } from './helpers.ts'

/**
 * The Connections page's queue per partner: what a partner has yet to receive from us (in our outbox,
 * retrying, or held by the relay until the partner's node takes it), and since when. It empties as the
 * partner's node comes back and takes its messages.
 */

t.test(
  'a partner that is offline shows what waits for it and since when; it empties when the partner is back',
  async (t) => {
    const { acme, globex, channelAtAcme } = await twoCompanies(t)
    const connectionOf = async () => {
      const list = await acme.admin.call('GET', '/api/v1/ochat/connections')
      t.equal(list.status, 200)
      return list.body.items[0]
    }
    t.same((await connectionOf()).waiting, { count: 0, oldestAt: null }, 'nothing waits at first')

    await globex.stop()
    const sent: { id: number; createdAt: number }[] = []
    for (const body of ['First', 'Second', 'Third']) {
      const answer = await acme.admin.call('POST', `/api/v1/ochat/channels/${channelAtAcme}/messages`, {
        body,
      })
      t.equal(answer.status, 201)
      sent.push(answer.body)
    }
    // Stored by the relay, which cannot reach Globex: Sent, then Retrying.
    await until('the relay holds all three', async () => {
      const page = await acme.admin.call('GET', `/api/v1/ochat/channels/${channelAtAcme}/messages`)
      return page.body.items.every((item: { status: string }) => ['sent', 'retrying'].includes(item.status))
    })
    const waiting = (await connectionOf()).waiting
    t.equal(waiting.count, 3, 'three messages wait for Globex')
    t.equal(
      waiting.oldestAt,
      Math.min(...sent.map((message) => message.createdAt)),
      'since the first was written',
    )
    const member = await acme.admin.call('GET', `/api/v1/ochat/connections/${(await connectionOf()).id}`)
    t.same(member.body.waiting, waiting, 'the connection alone says the same')

    await globex.restart()
    await until('Globex took them', async () =>
      (await connectionOf()).waiting.count === 0 ? true : undefined,
    )
    t.same((await connectionOf()).waiting, { count: 0, oldestAt: null }, 'nothing waits once Globex has them')
  },
)

t.test('the count reads only what waits, through its own index', async (t) => {
  const { acme } = await twoCompanies(t)
  const plan = acme.node.database.sqlite
    .prepare(
      `explain query plan select channel_id, status, count(*), min(created_at) from ochat_messages
       where channel_id in (1, 2) and direction = 'out' and status in ('pending', 'sent', 'retrying')
       group by channel_id, status`,
    )
    .all() as { detail: string }[]
  t.match(plan.map((step) => step.detail).join('\n'), /ochat_messages_waiting/)
})
