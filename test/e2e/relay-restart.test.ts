import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { loadConfig } from '../../relay/src/config.ts'
import { type Relay, startRelay } from '../../relay/src/relay.ts'
import { createTestDatabase } from '../../relay/test/helpers.ts'
import { startBalancer } from './balancer.ts'
import { connectNodes, type E2eNode, startTestNode, until } from './harness.ts'

/**
 * A rolling restart: two relay replicas over one PostgreSQL database behind a TCP balancer, each
 * stopped (SIGTERM's path: 1012 to its sockets) and started again in turn while messages flow both
 * ways. Each node's socket is back on the other replica within a second, and every message sent is
 * stored once at its recipient and Delivered at its sender.
 */

// biome-ignore lint/suspicious/noExplicitAny: message views are asserted field by field
type Message = any
type Side = 'acme' | 'globex'

type Replica = { name: string; port: number; relay: Relay | undefined; start(): Promise<void> }

async function replicas(t: Test): Promise<Replica[]> {
  const { url } = await createTestDatabase(t, 'postgres')
  // One deployment: the same key file (nodes pin its keys) and blob directory for both replicas.
  const dataDir = mkdtempSync(join(tmpdir(), 'ochat-e2e-replicas-'))
  const make = (name: string): Replica => {
    const replica: Replica = {
      name,
      port: 0,
      relay: undefined,
      async start() {
        const config = loadConfig({
          RELAY_DATA_DIR: dataDir,
          DATABASE_URL: url ?? '',
          RELAY_REPLICA_ID: name,
          RELAY_REGISTRATION: 'open',
          RELAY_LOG_LEVEL: 'silent',
          RELAY_ALLOW_PRIVATE_WEBHOOKS: 'true',
          RELAY_REGISTRATIONS_PER_ADDRESS_PER_HOUR: '100000',
          RELAY_CONNECTION_REQUESTS_PER_ADDRESS_PER_HOUR: '100000',
          RELAY_POLL_INTERVAL_MS: '200',
          RELAY_RETRY_SCALE: '0.01',
        })
        const relay = await startRelay({ config })
        await relay.app.listen({ host: '127.0.0.1', port: replica.port })
        const address = relay.app.server.address()
        if (address && typeof address === 'object') replica.port = address.port
        replica.relay = relay
      },
    }
    return replica
  }
  const all = [make('replica-a'), make('replica-b')]
  for (const replica of all) await replica.start()
  t.teardown(async () => {
    for (const replica of all) await replica.relay?.close()
    rmSync(dataDir, { recursive: true, force: true })
  })
  return all
}

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

t.test('a rolling relay restart: sockets move at once, no message lost or twice', async (t) => {
  const pool = await replicas(t)
  const balancer = await startBalancer(t, () => pool.map((replica) => replica.port))
  const relay = { baseUrl: balancer.url }
  // Production reconnect delays (retry scale 1): a node told 1012 must not wait for them.
  const nodes: Record<Side, E2eNode> = {
    acme: await startTestNode(t, { company: 'Acme' }),
    globex: await startTestNode(t, { company: 'Globex' }),
  }
  const { channelAtA, channelAtB, aInstanceId, bInstanceId } = await connectNodes(
    nodes.acme,
    nodes.globex,
    relay,
  )
  const instance: Record<Side, string> = { acme: aInstanceId, globex: bInstanceId }
  const channel: Record<Side, number> = { acme: channelAtA, globex: channelAtB }
  const holder = (side: Side) => pool.find((replica) => replica.relay?.hub.get(instance[side]))
  await until('both sockets up', () => holder('acme') && holder('globex'))

  const sent: Record<Side, { id: number; body: string }[]> = { acme: [], globex: [] }
  let flowing = true
  const pump = async (side: Side) => {
    let n = 0
    while (flowing) {
      const body = `${side} #${++n}`
      const answer = await nodes[side].admin.call(
        'POST',
        `/api/v1/ochat/channels/${channel[side]}/messages`,
        {
          body,
        },
      )
      if (answer.status !== 201) throw new Error(`send failed: ${JSON.stringify(answer.body)}`)
      sent[side].push({ id: answer.body.id, body: `<p>${body}</p>` })
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  const pumps = Promise.all([pump('acme'), pump('globex')])
  const settle = () => {
    const target = { acme: sent.acme.length + 3, globex: sent.globex.length + 3 }
    return until('three more messages from each side', () =>
      sent.acme.length >= target.acme && sent.globex.length >= target.globex ? true : undefined,
    )
  }

  // Each replica in turn: stopped as on SIGTERM, its nodes measured back on the other, started again.
  const moves: number[] = []
  for (const replica of [...pool]) {
    await settle()
    const held = (['acme', 'globex'] as Side[]).filter((side) => holder(side) === replica)
    const stoppedAt = Date.now()
    const stopping = replica.relay?.close()
    for (const side of held) {
      await until(
        `${side} back on another replica`,
        () => {
          const now = holder(side)
          return now && now !== replica
        },
        10_000,
      )
      moves.push(Date.now() - stoppedAt)
    }
    await stopping
    await settle()
    await replica.start()
  }
  await settle()
  flowing = false
  await pumps

  t.ok(moves.length >= 2, `every socket moved (${moves.length} moves)`)
  // About a second, with room for a loaded machine: a backoff would add 0.4 s to 30 s per attempt.
  t.ok(
    moves.every((ms) => ms < 1_500),
    `each node was back on the other replica about a second after its replica began to stop: ${moves.join(', ')} ms`,
  )
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
    t.equal(delivered.length, sent[from].length, `${from}: every message sent is Delivered`)
    const arrived = (await messages(nodes[to], channel[to])).filter((row) => row.direction === 'in')
    const bodies = arrived.map((row: Message) => row.html)
    const lost = sent[from].filter((row) => !bodies.includes(row.body)).length
    const twice = arrived.length - new Set(bodies).size
    t.comment(
      `${from} → ${to}: sent ${sent[from].length}, received ${arrived.length}, lost ${lost}, twice ${twice}`,
    )
    t.equal(lost, 0, `${to} lost none of ${from}'s messages`)
    t.equal(twice, 0, `${to} stored none twice`)
    t.equal(arrived.length, sent[from].length)
  }
})
