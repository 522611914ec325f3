import t from 'tap'
import { connectNodes, type E2eNode, startRestartableRelay, startTestNode, until } from './harness.ts'

/**
 * Restarting each process mid-conversation loses nothing and sends nothing twice: messages
 * flow both ways while the relay, then Acme, then Globex are stopped and started again on their data.
 * Every message sent ends Delivered at its sender and is stored exactly once at its recipient, and
 * each direction's sequence numbers have no gaps.
 */

// biome-ignore lint/suspicious/noExplicitAny: message views are asserted field by field
type Message = any

type Side = 'acme' | 'globex'

async function messages(node: E2eNode, channelId: number): Promise<Message[]> {
  const all: Message[] = []
  let cursor: string | undefined
  do {
    const page = await node.admin.call(
      'GET',
      `/api/v1/ochat/channels/${channelId}/messages?limit=200${cursor ? `&cursor=${cursor}` : ''}`,
    )
    if (page.status !== 200) throw new Error(`GET messages: ${page.status} ${JSON.stringify(page.body)}`)
    all.push(...page.body.items)
    cursor = page.body.nextCursor ?? undefined
  } while (cursor)
  return all
}

t.test('restarting the relay, then each node, while messages flow both ways loses nothing', async (t) => {
  // Retries and socket reconnects at a hundredth of their delays: what a restart left waiting goes on
  // in milliseconds, not after the protocol's 5 s, 30 s, … (RELAY_RETRY_SCALE, NODE_OCHAT_RETRY_SCALE).
  const relay = await startRestartableRelay(t, {
    env: { RELAY_POLL_INTERVAL_MS: '200', RELAY_RETRY_SCALE: '0.01' },
  })
  const nodes: Record<Side, E2eNode> = {
    acme: await startTestNode(t, { company: 'Acme', env: { NODE_OCHAT_RETRY_SCALE: '0.01' } }),
    globex: await startTestNode(t, { company: 'Globex', env: { NODE_OCHAT_RETRY_SCALE: '0.01' } }),
  }
  const { channelAtA, channelAtB } = await connectNodes(nodes.acme, nodes.globex, relay)
  const channel: Record<Side, number> = { acme: channelAtA, globex: channelAtB }
  const sent: Record<Side, { id: number; body: string }[]> = { acme: [], globex: [] }

  // Each side sends a message every 100 ms while it is up; a stopped node sends nothing.
  const up: Record<Side, boolean> = { acme: true, globex: true }
  const idle: Record<Side, Promise<void>> = { acme: Promise.resolve(), globex: Promise.resolve() }
  let flowing = true
  const pump = async (side: Side) => {
    let n = 0
    while (flowing) {
      if (up[side]) {
        const body = `${side} #${++n}`
        const sending = nodes[side].admin
          .call('POST', `/api/v1/ochat/channels/${channel[side]}/messages`, { body })
          .then((answer) => {
            if (answer.status !== 201) throw new Error(`send failed: ${JSON.stringify(answer.body)}`)
            sent[side].push({ id: answer.body.id, body: `<p>${body}</p>` })
          })
        idle[side] = sending
        await sending
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  const pumps = Promise.all([pump('acme'), pump('globex')])
  // Between two steps, each side gets three more messages accepted (not a fixed time, which a busy
  // machine could fill with none).
  const settle = () => {
    const target = { acme: sent.acme.length + 3, globex: sent.globex.length + 3 }
    return until('three more messages from each side', () =>
      sent.acme.length >= target.acme && sent.globex.length >= target.globex ? true : undefined,
    )
  }
  const restartNode = async (side: Side) => {
    up[side] = false
    await idle[side]
    nodes[side] = await nodes[side].restart()
    up[side] = true
  }

  await settle()
  await relay.stop()
  await settle()
  await relay.start()
  await settle()
  await restartNode('acme')
  await settle()
  await restartNode('globex')
  await settle()
  flowing = false
  await pumps

  t.ok(sent.acme.length >= 10 && sent.globex.length >= 10, 'both sides sent throughout')
  for (const [from, to] of [
    ['acme', 'globex'],
    ['globex', 'acme'],
  ] as [Side, Side][]) {
    const delivered = await until(
      `every message from ${from} Delivered`,
      async () => {
        const out = (await messages(nodes[from], channel[from])).filter((row) => row.direction === 'out')
        return out.length === sent[from].length && out.every((row) => row.status === 'delivered') && out
      },
      30_000,
    )
    t.same(
      delivered.map((row: Message) => row.id).sort((a: number, b: number) => a - b),
      sent[from].map((row) => row.id).sort((a, b) => a - b),
      `${from}: every message sent is Delivered`,
    )
    const arrived = (await messages(nodes[to], channel[to])).filter((row) => row.direction === 'in')
    t.equal(
      arrived.length,
      sent[from].length,
      `${to} stored each message from ${from} once: none lost, none twice`,
    )
    t.same(
      arrived.map((row: Message) => row.html).sort(),
      sent[from].map((row) => row.body).sort(),
      `${to} has exactly what ${from} sent`,
    )
    t.equal(new Set(arrived.map((row: Message) => row.envelopeId)).size, arrived.length, 'no envelope twice')
    const seqs = (rows: Message[]) => rows.map((row) => row.seq).sort((a: number, b: number) => a - b)
    const expected = Array.from({ length: sent[from].length }, (_, index) => index + 1)
    // A Delivered receipt can overtake the relay's answer to a submit cut by a restart: the sender
    // learns that message's sequence number a moment later, from its resubmit.
    const numbered = await until(
      `the sequence number of every message from ${from}`,
      async () => {
        const out = (await messages(nodes[from], channel[from])).filter((row) => row.direction === 'out')
        return out.every((row) => row.seq !== null && row.status === 'delivered') && out
      },
      5_000,
    )
    t.same(seqs(numbered), expected, `${from}'s sequence numbers run 1…${expected.length} without a gap`)
    t.same(seqs(arrived), expected, `and ${to} received the same ones`)
  }
})
