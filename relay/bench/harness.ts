import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { signRegistration, signRequest } from '@ochat/shared-protocol'
import postgres from 'postgres'
import { Pool } from 'undici'
import { sealFor, type TestNode } from '../test/helpers.ts'

/** Processes and clients for the relay benchmarks: the relay runs as its own process, as in production. */

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(address && typeof address === 'object' ? address.port : 0))
    })
  })
}

/** Polls `url` every 100 ms until it answers 2xx; fails when `child` exits or after `timeoutMs`. */
export async function waitReady(url: string, child: ChildProcess, timeoutMs = 20_000): Promise<void> {
  for (let attempt = 0; attempt < timeoutMs / 100; attempt++) {
    if (child.exitCode !== null) throw new Error(`process exited with ${child.exitCode}`)
    try {
      if ((await fetch(url)).ok) return
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`${url} never became ready`)
}

/**
 * `nodeArgs` go to the relay's Node.js, for instance `--cpu-prof` to profile a run; so do those in
 * BENCH_RELAY_ARGS, to profile a whole bench (`BENCH_RELAY_ARGS='--cpu-prof --cpu-prof-dir=DIR'`).
 */
export async function startRelayProcess(env: Record<string, string> = {}, nodeArgs: string[] = []) {
  const args = [...nodeArgs, ...(process.env.BENCH_RELAY_ARGS ?? '').split(' ').filter(Boolean)]
  const name = `ochat_bench_${randomBytes(4).toString('hex')}`
  const admin = postgres('postgres://postgres@127.0.0.1:5432/postgres', { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${name}`)
  await admin.unsafe(`alter database ${name} set log_min_duration_statement = 100`)
  await admin.end()
  const dir = mkdtempSync(join(tmpdir(), 'ochat-bench-'))
  const port = await freePort()
  const child = spawn(
    process.execPath,
    [...args, fileURLToPath(new URL('../bin/ochat-relay.mjs', import.meta.url)), 'serve'],
    {
      env: {
        ...process.env,
        DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${name}`,
        RELAY_DATA_DIR: dir,
        RELAY_PORT: String(port),
        RELAY_REGISTRATION: 'open',
        RELAY_LOG_LEVEL: 'warn',
        RELAY_ALLOW_PRIVATE_WEBHOOKS: 'true',
        RELAY_RATE_CONNECTION_BURST: '1000000',
        RELAY_RATE_CONNECTION_PER_S: '1000000',
        RELAY_RATE_INSTANCE_BURST: '1000000',
        RELAY_RATE_INSTANCE_PER_S: '1000000',
        // The bench registers and connects 1,000 instances from this one machine.
        RELAY_REGISTRATIONS_PER_ADDRESS_PER_HOUR: '1000000',
        RELAY_CONNECTION_REQUESTS_PER_ADDRESS_PER_HOUR: '1000000',
        RELAY_CONNECTION_REQUESTS_PER_INSTANCE_PER_HOUR: '1000000',
        ...env,
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  )
  const baseUrl = `http://127.0.0.1:${port}`
  await waitReady(`${baseUrl}/readyz`, child)
  const databaseUrl = `postgres://postgres@127.0.0.1:5432/${name}`
  const info = (await (await fetch(`${baseUrl}/v1/info`)).json()) as {
    relayId: string
    keySet: { keySet: { keys: { publicKey: string }[] } }
  }
  return {
    baseUrl,
    /** The relay process, for its memory figures. */
    pid: child.pid as number,
    /** The relay's throwaway database, for figures read from what it stored. */
    databaseUrl,
    relayId: info.relayId,
    publicKeys: info.keySet.keySet.keys.map((key) => key.publicKey),
    async stop() {
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('exit', resolve))
      const cleanup = postgres('postgres://postgres@127.0.0.1:5432/postgres', { max: 1, onnotice: () => {} })
      await cleanup.unsafe(`drop database if exists ${name} with (force)`)
      await cleanup.end()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export async function startBareServer() {
  const port = await freePort()
  const child = spawn(
    process.execPath,
    ['--import=tsx', fileURLToPath(new URL('./bare-server.ts', import.meta.url))],
    {
      env: { ...process.env, PORT: String(port) },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  )
  const baseUrl = `http://127.0.0.1:${port}`
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      await fetch(`${baseUrl}/none`)
      break
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  return { baseUrl, stop: () => child.kill('SIGTERM') }
}

// The bench's nodes and envelopes are the tests' own: real keys, real sealing.
export { buildNode as benchNode, type TestNode as BenchNode } from '../test/helpers.ts'

export function seal(from: TestNode, to: TestNode, html = `<p>${'x'.repeat(1000)}</p>`) {
  return sealFor(from, to, { sender: { name: 'Bench', company: from.name }, html })
}

export function client(baseUrl: string, relayId: string) {
  const pool = new Pool(baseUrl, { connections: 64, pipelining: 1 })
  /** A body given as a string is sent as it is: already JSON. */
  async function call(node: TestNode | undefined, method: 'GET' | 'POST', path: string, body?: unknown) {
    const payload = body === undefined || typeof body === 'string' ? body : JSON.stringify(body)
    const headers: Record<string, string> = payload ? { 'content-type': 'application/json' } : {}
    if (node) {
      Object.assign(
        headers,
        signRequest({
          method,
          path,
          audience: relayId,
          instanceId: node.instanceId,
          identitySecretKey: node.identity.secretKey,
          body: payload ?? '',
        }),
      )
    }
    const response = await pool.request({ method, path, headers, ...(payload ? { body: payload } : {}) })
    const text = await response.body.text()
    if (response.statusCode >= 300) throw new Error(`${method} ${path}: ${response.statusCode} ${text}`)
    return JSON.parse(text) as Record<string, unknown>
  }
  return {
    pool,
    call,
    async register(node: TestNode, webhookUrl?: string) {
      const registration = {
        v: 1 as const,
        relayId,
        name: node.name,
        keys: node.keys,
        at: Date.now(),
        ...(webhookUrl ? { webhookUrl } : {}),
      }
      await call(undefined, 'POST', '/v1/instances', signRegistration(registration, node.identity.secretKey))
    },
    async connect(a: TestNode, b: TestNode) {
      const requested = (await call(a, 'POST', '/v1/connections', { to: b.instanceId })) as {
        connection: { id: string }
      }
      await call(b, 'POST', `/v1/connections/${requested.connection.id}/decision`, { action: 'accept' })
    },
    close: () => pool.close(),
  }
}
