import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import {
  deriveInstanceId,
  type Envelope,
  generateEncryptionKeyPair,
  generateIdentityKeyPair,
  type MessagePayload,
  newId,
  PeerBoxKeys,
  sealEnvelope,
  signRegistration,
  signRequest,
  toBase64Url,
} from '@ochat/shared-protocol'
import { type Clock, ManualClock } from '@ochat/shared-protocol/server'
import postgres from 'postgres'
import type { Test } from 'tap'
import { loadConfig } from '../src/config.ts'
import { type Database, migrateDatabase, openPostgres } from '../src/db/client.ts'
import { type Relay, startRelay } from '../src/relay.ts'
import { migrationsVersion, openTestPglite } from './pglite-pool.ts'

/**
 * Real storage only: every test runs on a throwaway PostgreSQL database (created here, dropped after)
 * and on in-memory PGlite. Only the clock may be faked.
 */
const ALL_DRIVERS = ['postgres', 'pglite'] as const
export type Driver = (typeof ALL_DRIVERS)[number]

/**
 * The drivers this run tests: both, unless OCHAT_TEST_DRIVERS names some (`pnpm test:fast` sets
 * `pglite`: no PostgreSQL server needed, and no database to create per test).
 */
export const DRIVERS: readonly Driver[] = selectedDrivers(process.env.OCHAT_TEST_DRIVERS)

function selectedDrivers(setting: string | undefined): readonly Driver[] {
  if (!setting) return ALL_DRIVERS
  const named = setting.split(',').map((name) => name.trim())
  const unknown = named.filter((name) => !(ALL_DRIVERS as readonly string[]).includes(name))
  if (unknown.length > 0 || named.length === 0)
    throw new Error(`OCHAT_TEST_DRIVERS: unknown driver ${unknown.join(', ')}; use ${ALL_DRIVERS.join(', ')}`)
  return ALL_DRIVERS.filter((driver) => named.includes(driver))
}

/**
 * A test that only PostgreSQL can run (a server other processes reach by URL): declared only when
 * PostgreSQL is among the drivers tested.
 */
export function postgresTest(t: Test, name: string, body: (t: Test) => Promise<void>): void {
  if (DRIVERS.includes('postgres')) t.test(name, body)
}

const ADMIN_URL = process.env.OCHAT_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/postgres'

/** Runs `body` once per driver, as two subtests. */
export function eachDriver(t: Test, name: string, body: (t: Test, driver: Driver) => Promise<void>): void {
  for (const driver of DRIVERS) t.test(`${name} [${driver}]`, (t) => body(t, driver))
}

/**
 * A PostgreSQL database for one test, dropped after it: a copy of a migrated template, or with `empty`,
 * one without any table (the test migrates it).
 */
export async function createTestDatabase(
  t: Test,
  driver: Driver,
  options: { empty?: boolean } = {},
): Promise<{ database: Database; url?: string }> {
  if (driver === 'pglite') return { database: await openTestPglite(t) }
  const name = `ochat_test_${process.pid}_${randomBytes(4).toString('hex')}`
  const template = options.empty ? undefined : await migratedTemplate()
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${name}${template ? ` template ${template}` : ''}`)
  await admin.end()
  t.teardown(async () => {
    const cleanup = postgres(ADMIN_URL, { max: 1, onnotice: () => {} })
    await cleanup.unsafe(`drop database if exists ${name} with (force)`)
    await cleanup.end()
  })
  return { database: await openPostgres(databaseUrl(name)), url: databaseUrl(name) }
}

const databaseUrl = (name: string) => ADMIN_URL.replace(/\/[^/]*$/, `/${name}`)

/**
 * The run this process belongs to. `scripts/test.mjs` names one for all its test files and drops the run's
 * template when they are done; a file started on its own is a run of its own and drops it at exit.
 */
const RUN = process.env.OCHAT_TEST_RUN ?? `p${process.pid}`

/** A file run on its own drops its template when its tests are done. */
async function dropTemplateAtEnd(name: string): Promise<void> {
  if (process.env.OCHAT_TEST_RUN) return
  // Imported here, not at the top: the benchmarks import these helpers, and loading tap in a process
  // makes it a test run with a timeout.
  const { default: tap } = await import('tap')
  tap.teardown(async () => {
    const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} })
    await admin.unsafe(`drop database if exists ${name} with (force)`)
    await admin.end()
  })
}

/**
 * The name of a database holding every migration and no rows, made once per test run by the first
 * file that needs it: copying it is several times cheaper than migrating an empty database, which every
 * relay start would otherwise do in each test. The migrations still run from an empty database where a
 * test asks for one (`empty`).
 */
let template: Promise<string> | undefined
function migratedTemplate(): Promise<string> {
  template ??= (async () => {
    const name = `ochat_test_template_${RUN}_${migrationsVersion()}`
    await dropTemplateAtEnd(name)
    const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} })
    try {
      if ((await admin`select 1 from pg_database where datname = ${name}`).length > 0) return name
      // Made under a name of its own and renamed once complete, so no process copies half of it.
      const partial = `${name}_${process.pid}`
      await admin.unsafe(`create database ${partial}`)
      const database = await openPostgres(databaseUrl(partial))
      try {
        await migrateDatabase(database)
      } finally {
        await database.close()
      }
      try {
        await admin.unsafe(`alter database ${partial} rename to ${name}`)
      } catch (error) {
        // Another process made it first (42P04: duplicate_database): its copy is as good.
        if ((error as { code?: string }).code !== '42P04') throw error
        await admin.unsafe(`drop database ${partial} with (force)`)
      }
      return name
    } finally {
      await admin.end()
    }
  })()
  return template
}

export type TestRelay = Relay & { clock: Clock; baseUrl: string }

export async function buildRelay(
  t: Test,
  driver: Driver,
  options: {
    env?: Record<string, string>
    clock?: Clock
    listen?: boolean
    database?: Database
    logStream?: NodeJS.WritableStream
  } = {},
): Promise<TestRelay> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ochat-relay-'))
  const { database } = options.database ? { database: options.database } : await createTestDatabase(t, driver)
  const clock = options.clock ?? new ManualClock()
  const config = loadConfig({
    RELAY_DATA_DIR: dataDir,
    RELAY_REGISTRATION: 'open',
    RELAY_LOG_LEVEL: 'silent',
    RELAY_ALLOW_PRIVATE_WEBHOOKS: 'true',
    RELAY_PORT: '0',
    ...options.env,
  })
  const relay = await startRelay({
    config,
    clock,
    database,
    ...(options.logStream ? { logStream: options.logStream } : {}),
  })
  let baseUrl = ''
  if (options.listen) {
    await relay.app.listen({ host: '127.0.0.1', port: 0 })
    const address = relay.app.server.address()
    if (address && typeof address === 'object') baseUrl = `http://127.0.0.1:${address.port}`
  }
  t.teardown(async () => {
    await relay.close()
    rmSync(dataDir, { recursive: true, force: true })
  })
  return Object.assign(relay, { clock, baseUrl })
}

/** A node as the relay sees it: real keys, signed requests. */
export function buildNode(name = 'Acme') {
  const identity = generateIdentityKeyPair()
  const encryption = generateEncryptionKeyPair()
  return {
    name,
    instanceId: deriveInstanceId(identity.publicKey),
    identity,
    encryption,
    boxKeys: new PeerBoxKeys(encryption.secretKey),
    keys: { identityKey: toBase64Url(identity.publicKey), encryptionKey: toBase64Url(encryption.publicKey) },
  }
}
export type TestNode = ReturnType<typeof buildNode>

/** Where a request comes from: the socket's address, and headers a proxy would add (X-Forwarded-For). */
export type RequestOrigin = { remoteAddress?: string; headers?: Record<string, string> }

export async function register(
  relay: TestRelay,
  node: TestNode,
  extra: { inviteToken?: string; webhookUrl?: string } = {},
  origin: RequestOrigin = {},
) {
  const body = signRegistration(
    {
      v: 1,
      relayId: relay.relayKeys.relayId,
      name: node.name,
      keys: node.keys,
      at: relay.clock.now(),
      ...extra,
    },
    node.identity.secretKey,
  )
  return relay.app.inject({
    method: 'POST',
    url: '/v1/instances',
    payload: body,
    ...(origin.remoteAddress ? { remoteAddress: origin.remoteAddress } : {}),
    ...(origin.headers ? { headers: origin.headers } : {}),
  })
}

/** A signed request from `node`, through app.inject. */
export function signed(
  relay: TestRelay,
  node: TestNode,
  method: 'GET' | 'POST',
  url: string,
  body?: unknown,
  origin: RequestOrigin = {},
) {
  const payload = body === undefined ? undefined : JSON.stringify(body)
  const headers = signRequest({
    method,
    path: url,
    audience: relay.relayKeys.relayId,
    instanceId: node.instanceId,
    identitySecretKey: node.identity.secretKey,
    body: payload ?? '',
    timestamp: Math.floor(relay.clock.now() / 1000),
  })
  return relay.app.inject({
    method,
    url,
    headers: {
      ...origin.headers,
      ...headers,
      ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(payload === undefined ? {} : { payload }),
    ...(origin.remoteAddress ? { remoteAddress: origin.remoteAddress } : {}),
  })
}

/** Registers both nodes and makes an accepted connection between them; returns its id. */
export async function connect(relay: TestRelay, a: TestNode, b: TestNode): Promise<string> {
  for (const node of [a, b]) {
    const response = await register(relay, node)
    if (response.statusCode >= 300) throw new Error(`register failed: ${response.body}`)
  }
  const requested = await signed(relay, a, 'POST', '/v1/connections', { to: b.instanceId, message: 'Hello' })
  const id = requested.json().connection.id as string
  const accepted = await signed(relay, b, 'POST', `/v1/connections/${id}/decision`, { action: 'accept' })
  if (accepted.statusCode !== 200) throw new Error(`accept failed: ${accepted.body}`)
  return id
}

export function sealFor(
  from: TestNode,
  to: TestNode,
  overrides: Partial<MessagePayload> = {},
  nowMs = Date.now(),
): Envelope {
  const id = newId(nowMs)
  return sealEnvelope({
    header: { id, from: from.instanceId, to: to.instanceId, createdAt: nowMs },
    payload: {
      v: 1,
      type: 'message',
      envelopeId: id,
      sentAt: nowMs,
      sender: { name: 'Alice Martin', company: from.name },
      html: '<p>Hello</p>',
      attachments: [],
      ...overrides,
    },
    senderIdentitySecretKey: from.identity.secretKey,
    boxKeys: from.boxKeys,
    recipientEncryptionKey: to.encryption.publicKey,
  })
}

/** A stream to give the relay as its log destination, and everything logged to it so far. */
export function capturedLogs() {
  const lines: string[] = []
  const stream = new PassThrough()
  stream.on('data', (chunk: Buffer) => lines.push(String(chunk)))
  return { stream, text: () => lines.join('') }
}
