import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Clock, ManualClock } from '@ochat/shared-protocol/server'
import type { Test } from 'tap'
import WebSocket from 'ws'
import { hashPassword } from '../src/auth/passwords.ts'
import { SCOPES, type Scope } from '../src/auth/scopes.ts'
import { randomToken, sha256 } from '../src/auth/tokens.ts'
import { loadConfig } from '../src/config.ts'
import { openDatabase } from '../src/db/client.ts'
import { apiKeys, partners } from '../src/db/schema.ts'
import { type Node, startNode } from '../src/node.ts'
import { createUser } from '../src/people/create-user.ts'

/**
 * Real storage only: every test node gets a fresh data directory with a real SQLite file, removed
 * after the test. Only the clock may be faked.
 */
export type TestNode = Node & { clock: ManualClock; dataDir: string }

export async function buildNode(
  t: Test,
  options: {
    env?: Record<string, string>
    clock?: ManualClock
    dataDir?: string
    listen?: boolean
    /** Where the node logs (with `env.NODE_LOG_LEVEL`); nowhere by default. */
    logStream?: NodeJS.WritableStream
  } = {},
): Promise<TestNode> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'ochat-node-'))
  const clock = options.clock ?? new ManualClock(Date.parse('2026-11-25T10:00:00Z'))
  const config = loadConfig({
    NODE_DATA_DIR: dataDir,
    NODE_LOG_LEVEL: 'silent',
    NODE_PORT: '0',
    NODE_COMPANY: 'Acme',
    ...options.env,
  })
  // A new node starts from a copy of a database the same migrations made once for this file.
  if (!existsSync(config.databaseFile)) {
    mkdirSync(dataDir, { recursive: true })
    copyFileSync(migratedTemplate(), config.databaseFile)
  }
  const node = await startNode({
    config,
    clock: clock as Clock,
    listen: options.listen ?? false,
    ...(options.logStream ? { logStream: options.logStream } : {}),
  })
  t.teardown(async () => {
    await node.close()
    if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true })
  })
  return Object.assign(node, { clock, dataDir })
}

let template: string | undefined

/**
 * An empty database with every migration applied, made once per test file: migrating costs more than
 * the rest of a node's start, and the node still runs its migrations on the copy (none left to apply).
 */
function migratedTemplate(): string {
  if (template) return template
  const dir = mkdtempSync(join(tmpdir(), 'ochat-node-template-'))
  const file = join(dir, 'node.sqlite')
  // Closing the only connection folds the write-ahead log into the file: the file alone is whole.
  openDatabase(file).close()
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
  template = file
  return file
}

/**
 * scrypt is slow on purpose: at the cost every password gets (PASSWORD_COST), one hash or one login
 * takes 0.3–0.7 s of CPU on a two-core CI machine, and the suite logs in hundreds of times. Users
 * made here share one hash, made at a cost of N = 2^10: a login verifies with the cost stored in the
 * hash, through the same code. Users made through the API (people.test.ts) and by `pnpm start` get
 * the real cost, and passwords.test.ts checks it.
 */
export const TEST_PASSWORD = 'correct horse battery'
let testHash: Promise<string> | undefined
export function testPasswordHash(): Promise<string> {
  testHash ??= hashPassword(TEST_PASSWORD, { N: 2 ** 10, r: 8, p: 1 })
  return testHash
}

/** A user with an API key holding every scope (or the ones given), and helpers to call the API as them. */
export type Actor = Awaited<ReturnType<typeof buildUser>>

export async function buildUser(
  node: Node,
  overrides: {
    login?: string
    name?: string
    email?: string | null
    role?: 'admin' | 'user'
    notification?: 'inbox' | 'email'
    timeZone?: string
    scopes?: Scope[]
  } = {},
) {
  const login = overrides.login ?? `user-${randomToken(4)}`
  const { user, partner } = await createUser({
    db: node.database.db,
    user: {
      login,
      password: TEST_PASSWORD,
      name: overrides.name ?? login,
      email: overrides.email === undefined ? `${login}@acme.test` : overrides.email,
      role: overrides.role ?? 'user',
      notification: overrides.notification ?? 'inbox',
      timeZone: overrides.timeZone ?? 'UTC',
    },
    now: node.clock.now(),
    passwordHash: await testPasswordHash(),
  })
  const secret = `ock_test_${randomToken()}`
  node.database.db
    .insert(apiKeys)
    .values({
      userId: user.id,
      name: 'test',
      prefix: 'test',
      secretHash: sha256(secret),
      scopes: overrides.scopes ?? [...SCOPES],
      createdAt: node.clock.now(),
    })
    .run()
  const call = async (
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT',
    url: string,
    payload?: unknown,
  ) => {
    const response = await node.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${secret}` },
      ...(payload !== undefined ? { payload: payload as object } : {}),
    })
    return {
      status: response.statusCode,
      body: response.body ? safeJson(response.body) : undefined,
      response,
    }
  }
  return { user, partner, userId: user.id, partnerId: partner.id, login, secret, call }
}

// biome-ignore lint/suspicious/noExplicitAny: tests read response bodies loosely and assert on them
function safeJson(text: string): any {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** An external contact (customer or vendor): a partner without a user. */
export function buildPartner(
  node: Node,
  overrides: { name?: string; email?: string | null; companyName?: string } = {},
) {
  return node.database.db
    .insert(partners)
    .values({
      name: overrides.name ?? `Customer ${randomToken(3)}`,
      email: overrides.email === undefined ? `customer-${randomToken(3)}@client.test` : overrides.email,
      companyName: overrides.companyName ?? 'Client Inc',
      internal: false,
      createdAt: node.clock.now(),
    })
    .returning()
    .get()
}

/** Creates a record through the API and returns its JSON view. */
export async function buildRecord(actor: Actor, model = 'lead', values: Record<string, unknown> = {}) {
  const response = await actor.call('POST', `/api/v1/models/${model}/records`, {
    values: { name: `Record ${randomToken(3)}`, ...values },
  })
  if (response.status !== 201)
    throw new Error(`record not created: ${response.status} ${JSON.stringify(response.body)}`)
  return response.body as { id: number; version: number; name: string; values: Record<string, unknown> }
}

/**
 * Waits until `check` answers something truthy (polling every 20 ms), or fails after `timeoutMs`. 20 s
 * by default: CI runs the end-to-end files beside other heavy ones on two cores, where a step that is
 * quick on a quiet machine can take seconds.
 */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** A node's live socket (`baseUrl`, with this API key), as a UI client holds it: every event, in order. */
export async function liveSocketEvents(
  t: Test,
  baseUrl: string,
  secret: string,
  // biome-ignore lint/suspicious/noExplicitAny: events are asserted field by field
): Promise<any[]> {
  return (await liveSocket(t, baseUrl, secret)).events
}

/**
 * The same socket, and `settle()`: it returns once the node answered a ping sent now, so every event the
 * node wrote to this socket before (as a request that already returned publishes its events) has
 * arrived. What did not arrive by then was not sent.
 */
export async function liveSocket(t: Test, baseUrl: string, secret: string) {
  const socket = new WebSocket(`${baseUrl.replace('http', 'ws')}/api/v1/live`, {
    headers: { authorization: `Bearer ${secret}` },
  })
  // biome-ignore lint/suspicious/noExplicitAny: events are asserted field by field
  const events: any[] = []
  // One per ping not answered yet, oldest first: the node answers pings in order.
  const pongWaiters: (() => void)[] = []
  socket.on('message', (data) => {
    const frame = JSON.parse(String(data))
    if (frame.type === 'event') events.push(frame.event)
    if (frame.type === 'pong') pongWaiters.shift()?.()
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', reject)
  })
  t.teardown(() => socket.close())
  const settle = () =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no pong on the live socket within 10 s')), 10_000)
      pongWaiters.push(() => {
        clearTimeout(timer)
        resolve()
      })
      socket.send(JSON.stringify({ type: 'ping' }))
    })
  return { events, settle }
}
