import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Pool } from 'undici'
import { freePort, waitReady } from '../../relay/bench/harness.ts'

/** The benchmarks' nodes: each one its own process, set up the way an operator and an integrator would. */

const NODE_BIN = fileURLToPath(new URL('../../node/bin/ochat-node.mjs', import.meta.url))

/** Resident memory of a process now and at its peak since the last reset, in bytes (Linux /proc). */
export function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kib = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024
  return { rss: kib('VmRSS'), peak: kib('VmHWM') }
}

/** CPU time a process used so far, in ms (Linux /proc, clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) * 10
}

/**
 * Waits until these processes are quiet (together under 5 % of a core over half a second), at most
 * `maxMs`: a phase's after-work (WAL checkpoints, queued receipts) must not weigh on the next figure.
 */
export async function settle(pids: number[], maxMs = 30_000): Promise<void> {
  const until = performance.now() + maxMs
  while (performance.now() < until) {
    const before = pids.reduce((sum, pid) => sum + cpuMs(pid), 0)
    await new Promise((resolve) => setTimeout(resolve, 500))
    if (pids.reduce((sum, pid) => sum + cpuMs(pid), 0) - before <= 25) return
  }
}

/** Resets a process's peak resident memory (VmHWM) to its current size (Linux ≥ 4.0). */
export function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5')
}

export type NodeProcess = Awaited<ReturnType<typeof startNodeProcess>>

/**
 * A node in its own process on a fresh data directory: `ochat-node init` creates its administrator,
 * `serve` runs it, and an API key is made from a logged-in session, as a person would.
 */
export async function startNodeProcess(company: string, env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), `ochat-bench-${company.toLowerCase()}-`))
  const port = await freePort()
  const password = randomBytes(12).toString('base64url')
  const nodeEnv = {
    ...process.env,
    NODE_DATA_DIR: dir,
    NODE_PORT: String(port),
    NODE_COMPANY: company,
    NODE_LOG_LEVEL: 'warn',
    NODE_OCHAT_SECRET: randomBytes(24).toString('base64url'),
    ...env,
  }
  const init = spawnSync(
    process.execPath,
    [NODE_BIN, 'init', '--login', 'admin', '--name', `${company} Admin`],
    {
      env: { ...nodeEnv, OCHAT_ADMIN_PASSWORD: password },
      encoding: 'utf8',
    },
  )
  if (init.status !== 0) throw new Error(`ochat-node init failed: ${init.stderr}`)
  // BENCH_NODE_ARGS go to each node's Node.js, for instance `--cpu-prof --cpu-prof-dir=/tmp/prof`.
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)
  const child = spawn(process.execPath, [...nodeArgs, NODE_BIN, 'serve'], {
    env: nodeEnv,
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const url = `http://127.0.0.1:${port}`
  await waitReady(`${url}/healthz`, child, 30_000)
  const pool = new Pool(url, { connections: 128 })
  const login = await pool.request({
    method: 'POST',
    path: '/api/v1/session',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ login: 'admin', password }),
  })
  const session = (await login.body.json()) as { csrfToken: string }
  const cookie = String(login.headers['set-cookie']).split(';')[0] ?? ''
  const made = await pool.request({
    method: 'POST',
    path: '/api/v1/api-keys',
    headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': session.csrfToken },
    body: JSON.stringify({
      name: 'bench',
      scopes: [
        'admin',
        'ochat:read',
        'ochat:write',
        'chatter:read',
        'chatter:write',
        'records:read',
        'records:write',
      ],
    }),
  })
  const key = ((await made.body.json()) as { secret: string }).secret
  async function call(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    // biome-ignore lint/suspicious/noExplicitAny: bench answers are read field by field
  ): Promise<any> {
    const isJson =
      body !== undefined &&
      !(body instanceof Uint8Array) &&
      typeof (body as { pipe?: unknown }).pipe !== 'function'
    const response = await pool.request({
      method,
      path,
      headers: {
        authorization: `Bearer ${key}`,
        ...(isJson ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body === undefined ? {} : { body: isJson ? JSON.stringify(body) : (body as Uint8Array) }),
    })
    const text = await response.body.text()
    if (response.statusCode >= 300) throw new Error(`${method} ${path}: ${response.statusCode} ${text}`)
    return text ? JSON.parse(text) : undefined
  }
  return {
    company,
    url,
    pid: child.pid as number,
    key,
    call,
    async stop() {
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('exit', resolve))
      await pool.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Registers both nodes with the relay and connects them; answers each side's channel id. */
export async function connectProcesses(a: NodeProcess, b: NodeProcess, relayUrl: string) {
  const aReg = await a.call('POST', '/api/v1/ochat/registration', { relayUrl })
  const bReg = await b.call('POST', '/api/v1/ochat/registration', { relayUrl })
  const contactAtA = await a.call('POST', '/api/v1/partners', {
    name: `${b.company} purchasing`,
    companyName: b.company,
  })
  const contactAtB = await b.call('POST', '/api/v1/partners', {
    name: `${a.company} sales`,
    companyName: a.company,
  })
  const requested = await a.call('POST', '/api/v1/ochat/connections', {
    instanceId: bReg.instanceId,
    message: 'bench',
    contactPartnerId: contactAtA.id,
  })
  await b.call('POST', '/api/v1/ochat/connections/sync')
  const accepted = await b.call('POST', `/api/v1/ochat/connections/${requested.id}/accept`, {
    contactPartnerId: contactAtB.id,
  })
  const synced = await a.call('POST', '/api/v1/ochat/connections/sync')
  const atA = synced.items.find((item: { id: string }) => item.id === requested.id)
  return {
    channelAtA: atA.channelId as number,
    channelAtB: accepted.channelId as number,
    aId: aReg.instanceId,
    bId: bReg.instanceId,
  }
}
