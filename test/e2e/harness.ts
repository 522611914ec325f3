import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Clock } from '@ochat/shared-protocol/server'
import type { Test } from 'tap'
import { loadConfig } from '../../node/src/config.ts'
import { type Node, startNode } from '../../node/src/node.ts'
import { type Actor, buildPartner, buildUser, liveSocketEvents, until } from '../../node/test/helpers.ts'
import { loadConfig as loadRelayConfig } from '../../relay/src/config.ts'
import { startRelay } from '../../relay/src/relay.ts'
import { buildRelay, createTestDatabase, type TestRelay } from '../../relay/test/helpers.ts'

/**
 * End-to-end: a real relay (on a throwaway PostgreSQL database) and real nodes (SQLite files in their
 * own data directories), each listening on a free loopback port, talking over real HTTP and WebSockets
 * exactly as deployed. Tests drive them through their REST APIs.
 */

export const OCHAT_SECRET = 'e2e operator secret, sealed keys'

/**
 * A loopback port that nothing listens on: the kernel picks a free one, and it is released at once. For a
 * refused connection, and for a node, which must know its port before it starts (see startTestNode).
 */
export async function releasedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/**
 * Every test node registers and asks for connections from 127.0.0.1, many per file: the per-address
 * limits would refuse them. Those limits are tested on their own (relay/test/open-relay.test.ts).
 */
const ONE_ADDRESS_FOR_ALL = {
  RELAY_REGISTRATIONS_PER_ADDRESS_PER_HOUR: '100000',
  RELAY_CONNECTION_REQUESTS_PER_ADDRESS_PER_HOUR: '100000',
}

export async function startTestRelay(
  t: Test,
  options: { clock?: Clock; env?: Record<string, string> } = {},
): Promise<TestRelay> {
  return buildRelay(t, 'postgres', {
    listen: true,
    clock: options.clock ?? { now: () => Date.now() },
    env: { RELAY_ALLOW_PRIVATE_WEBHOOKS: 'true', ...ONE_ADDRESS_FOR_ALL, ...options.env },
  })
}

/**
 * Real time plus an offset that a test moves forward. The relay and the nodes share one, so a test can
 * jump past a 72 h deadline while every signature and webhook stays within the ±300 s window, and
 * timers (retries, heartbeats) keep running as deployed.
 */
export class ShiftedClock implements Clock {
  #offsetMs = 0
  now(): number {
    return Date.now() + this.#offsetMs
  }
  advance(ms: number): void {
    this.#offsetMs += ms
  }
}

/**
 * A relay that can be stopped and started again as the same deployment: the same PostgreSQL database,
 * the same key file (so nodes keep trusting it) and the same port (so nodes find it again).
 */
export type E2eRelay = {
  baseUrl: string
  /** The running process; a new object after each start. Throws while stopped. */
  readonly current: TestRelay
  stop(): Promise<void>
  start(): Promise<TestRelay>
}

export async function startRestartableRelay(
  t: Test,
  options: { clock?: Clock; env?: Record<string, string> } = {},
): Promise<E2eRelay> {
  const { url } = await createTestDatabase(t, 'postgres')
  const dataDir = mkdtempSync(join(tmpdir(), 'ochat-e2e-relay-'))
  const clock = options.clock ?? { now: () => Date.now() }
  // The first start listens where the kernel finds room; later starts take that port again.
  let port = 0
  let running: TestRelay | undefined
  const handle: E2eRelay = {
    get baseUrl() {
      return `http://127.0.0.1:${port}`
    },
    get current() {
      if (!running) throw new Error('the relay is stopped')
      return running
    },
    async stop() {
      const relay = running
      running = undefined
      await relay?.close()
    },
    async start() {
      if (running) return running
      const config = loadRelayConfig({
        RELAY_DATA_DIR: dataDir,
        DATABASE_URL: url,
        RELAY_REGISTRATION: 'open',
        RELAY_LOG_LEVEL: 'silent',
        RELAY_ALLOW_PRIVATE_WEBHOOKS: 'true',
        ...ONE_ADDRESS_FOR_ALL,
        ...options.env,
      })
      const relay = await startRelay({ config, clock })
      await relay.app.listen({ host: '127.0.0.1', port })
      const address = relay.app.server.address()
      if (address && typeof address === 'object') port = address.port
      running = Object.assign(relay, { clock, baseUrl: handle.baseUrl })
      return running
    },
  }
  t.teardown(async () => {
    await handle.stop()
    rmSync(dataDir, { recursive: true, force: true })
  })
  await handle.start()
  return handle
}

export type E2eNode = {
  node: Node
  url: string
  dataDir: string
  port: number
  admin: Actor
  /** Stops the node (its data stays) and starts it again on the same directory and port. */
  restart(): Promise<E2eNode>
  stop(): Promise<void>
}

/** A node listening on a free port, with an admin holding an API key. */
export async function startTestNode(
  t: Test,
  options: {
    company: string
    clock?: Clock
    env?: Record<string, string>
    dataDir?: string
    port?: number
    admin?: Actor
  },
): Promise<E2eNode> {
  const dataDir =
    options.dataDir ?? mkdtempSync(join(tmpdir(), `ochat-e2e-${options.company.toLowerCase()}-`))
  const clock = options.clock ?? { now: () => Date.now() }
  const { node, port } = await listeningNode({ ...options, dataDir, clock })
  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    await node.close()
  }
  if (!options.dataDir)
    t.teardown(async () => {
      await stop()
      rmSync(dataDir, { recursive: true, force: true })
    })
  else t.teardown(stop)
  const admin =
    options.admin ??
    (await buildUser(Object.assign(node, { clock }) as never, {
      role: 'admin',
      name: `${options.company} Admin`,
    }))
  // The admin's API key lives in the database: after a restart the same key works, through the new app.
  const rebound: Actor = { ...admin, call: callThrough(node, admin.secret) }
  const self: E2eNode = {
    node,
    url: `http://127.0.0.1:${port}`,
    dataDir,
    port,
    admin: rebound,
    stop,
    restart: async () => {
      await stop()
      return startTestNode(t, { ...options, dataDir, port, admin: rebound })
    },
  }
  return self
}

/**
 * A node's port is configuration (its public URL, and the webhook URL it registers, name it), so it is
 * chosen before the node starts. Another process may take a released port in between: the node then
 * starts again on another. A restart (`port` given) takes its own port again.
 */
async function listeningNode(options: {
  company: string
  clock: Clock
  dataDir: string
  env?: Record<string, string>
  port?: number
}): Promise<{ node: Node; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await releasedPort())
    const config = loadConfig({
      NODE_DATA_DIR: options.dataDir,
      NODE_LOG_LEVEL: 'silent',
      NODE_HOST: '127.0.0.1',
      NODE_PORT: String(port),
      NODE_COMPANY: options.company,
      NODE_OCHAT_SECRET: OCHAT_SECRET,
      NODE_OCHAT_SYNC_MS: '500',
      ...options.env,
    })
    const node = await startNode({ config, clock: options.clock, listen: false })
    try {
      node.url = await node.app.listen({ host: config.host, port: config.port })
      return { node, port }
    } catch (error) {
      await node.close()
      const taken = (error as NodeJS.ErrnoException).code === 'EADDRINUSE'
      if (!taken || options.port !== undefined || attempt === 5) throw error
    }
  }
}

function callThrough(node: Node, secret: string): Actor['call'] {
  return async (method, url, payload) => {
    const response = await node.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${secret}` },
      ...(payload !== undefined ? { payload: payload as object } : {}),
    })
    let body: unknown
    try {
      body = response.body ? JSON.parse(response.body) : undefined
    } catch {
      body = response.body
    }
    // biome-ignore lint/suspicious/noExplicitAny: tests read response bodies loosely and assert on them
    return { status: response.statusCode, body: body as any, response }
  }
}

/** Registers a node with the relay through its API (`webhookUrl: null`: it receives over its WebSocket only). */
export async function register(
  node: E2eNode,
  relay: { baseUrl: string },
  options: { webhookUrl?: null } = {},
) {
  const answer = await node.admin.call('POST', '/api/v1/ochat/registration', {
    relayUrl: relay.baseUrl,
    ...options,
  })
  if (answer.status !== 201)
    throw new Error(`registration failed: ${answer.status} ${JSON.stringify(answer.body)}`)
  return answer.body as { instanceId: string }
}

/** Both nodes registered and connected, each with the other filed under a contact; answers both channel ids. */
export async function connectNodes(
  a: E2eNode,
  b: E2eNode,
  relay: { baseUrl: string },
  options: { b?: { webhookUrl?: null } } = {},
) {
  const aId = (await register(a, relay)).instanceId
  const bId = (await register(b, relay, options.b)).instanceId
  const bAtA = buildPartner(a.node as never, {
    name: `${b.node.config.company} contact`,
    companyName: b.node.config.company,
  })
  const aAtB = buildPartner(b.node as never, {
    name: `${a.node.config.company} contact`,
    companyName: a.node.config.company,
  })
  const requested = await a.admin.call('POST', '/api/v1/ochat/connections', {
    instanceId: bId,
    message: `Hello from ${a.node.config.company}`,
    contactPartnerId: bAtA.id,
  })
  if (requested.status !== 201) throw new Error(`request failed: ${JSON.stringify(requested.body)}`)
  const connectionId = requested.body.id as string
  await b.admin.call('POST', '/api/v1/ochat/connections/sync')
  const accepted = await b.admin.call('POST', `/api/v1/ochat/connections/${connectionId}/accept`, {
    contactPartnerId: aAtB.id,
  })
  if (accepted.status !== 200) throw new Error(`accept failed: ${JSON.stringify(accepted.body)}`)
  const synced = await a.admin.call('POST', '/api/v1/ochat/connections/sync')
  const atA = (synced.body.items as { id: string; channelId: number }[]).find((c) => c.id === connectionId)
  return {
    connectionId,
    aInstanceId: aId,
    bInstanceId: bId,
    channelAtA: atA?.channelId as number,
    channelAtB: accepted.body.channelId as number,
  }
}

export { until }

/** The node's live socket, as a UI client holds it: every event, in order. */
export function liveEvents(t: Test, node: E2eNode) {
  return liveSocketEvents(t, node.url, node.admin.secret)
}
