// The operator CLI, on a real PGlite data directory. The binary is started once, as an operator's shell
// would; the other commands call the same `main` in this process, with their environment and output
// handed over (each process start costs seconds of CPU).
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { signRegistration } from '@ochat/shared-protocol'
import t from 'tap'
import { main } from '../src/cli.ts'
import { loadOrCreateRelayKeys } from '../src/info/relay-keys.ts'
import { buildNode, createTestDatabase, DRIVERS } from './helpers.ts'

const bin = fileURLToPath(new URL('../bin/ochat-relay.mjs', import.meta.url))
const dataDir = mkdtempSync(join(tmpdir(), 'ochat-cli-'))
t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))

type Ran = { code: number; stdout: string; stderr: string }

/** The real binary in its own process. */
async function binary(...args: string[]): Promise<Ran> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, ...args], {
      env: { ...process.env, RELAY_DATA_DIR: dataDir, DATABASE_URL: '' },
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string }
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr }
  }
}

/** The same command in this process: only this environment is its environment. */
const cli = Object.assign((...args: string[]) => inProcess({ RELAY_DATA_DIR: dataDir }, args), {
  with:
    (env: Record<string, string>) =>
    (...args: string[]) =>
      inProcess(env, args),
})

async function inProcess(env: Record<string, string>, args: string[]): Promise<Ran> {
  let stdout = ''
  let stderr = ''
  const code = await main(args, {
    env,
    out: {
      write: (text: string) => {
        stdout += text
      },
    },
    err: {
      write: (text: string) => {
        stderr += text
      },
    },
  })
  return { code, stdout, stderr }
}

t.test('--help lists every command', async (t) => {
  const { code, stdout } = await binary('--help')
  t.equal(code, 0)
  for (const command of [
    'serve',
    'migrate',
    'invite',
    'instances',
    'suspend',
    'unsuspend',
    'purge',
    'stats',
    'rotate-keys',
  ])
    t.match(stdout, command)
})

t.test('invite prints a token; instances and stats answer on an empty relay', async (t) => {
  const invite = await cli('invite', '--days', '2', '--note', 'Globex')
  t.equal(invite.code, 0)
  t.match(invite.stdout, /^inv_[A-Za-z0-9_-]{32}\n$/)
  t.match(invite.stderr, /valid until/)
  t.match((await cli('instances')).stdout, /no instances registered/)
  const stats = (await cli('stats')).stdout
  t.match(stats, /queued items +0/)
  t.match(stats, /database +\d+\.\d MB \(queue \d+\.\d MB\)/, 'and how much disk the database takes')
})

t.test('mistakes get a clear message and a non-zero exit', async (t) => {
  const unknown = await cli('suspend', buildNode().instanceId)
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /no instance oc_[a-z2-7]{26}; see `ochat-relay instances`/)
  t.match(await cli('suspend'), { code: 2, stderr: /usage: ochat-relay suspend <instance-id>/ })
  // Through the binary: the exit code is the process's.
  t.match(await binary('frobnicate'), { code: 2, stderr: /unknown command "frobnicate"/ })
  // Purging every instance takes naming them or a filter (open-relay-purge.test.ts runs the rest in process).
  t.match(await cli('purge', '--yes'), {
    code: 2,
    stderr:
      /usage: ochat-relay purge .*name instances, or narrow with --address, --since or --pending-requests-min/,
  })
  // Date.parse would read "5" as the year 2001 and match every instance.
  t.match(await cli('purge', '--since', '5', '--yes'), {
    code: 2,
    stderr: /--since takes a duration in minutes, hours or days \(30m, 1h, 2d\) or an ISO-8601 date/,
  })
  t.match(await cli('invite', '--days', '0'), { code: 2, stderr: /--days must be between 1 and 365/ })
})

t.test('rotate-keys makes a new key active and keeps the old one signing as retiring', async (t) => {
  const keysDir = mkdtempSync(join(tmpdir(), 'ochat-cli-keys-'))
  t.teardown(() => rmSync(keysDir, { recursive: true, force: true }))
  const file = join(keysDir, 'relay-keys.json')
  const env = { RELAY_DATA_DIR: dataDir, RELAY_KEYS_FILE: file }
  t.match(await cli.with(env)('rotate-keys'), { code: 2, stderr: /no key file at .*start the relay once/ })
  const first = loadOrCreateRelayKeys(file, Date.now())
  const [original] = first.keySet.keySet.keys
  const rotated = await cli.with(env)('rotate-keys')
  t.equal(rotated.code, 0)
  t.match(rotated.stdout, new RegExp(`^key set 2: ${original?.kid} \\(retiring\\), \\S+ \\(active\\)\n$`))
  t.match(rotated.stderr, /restart every replica/)
  const after = loadOrCreateRelayKeys(file, Date.now())
  t.equal(after.relayId, first.relayId, 'the relay keeps its id')
  t.equal(after.keySet.keySet.serial, 2)
  t.same(
    after.keySet.keySet.keys.map((key) => key.status),
    ['retiring', 'active'],
  )
})

t.test(
  'serve on SIGTERM: not ready, no new connections, the request under way answered, exit 0',
  async (t) => {
    // PostgreSQL when it is tested (no initdb to wait for), else PGlite in its own directory.
    const url = DRIVERS.includes('postgres') ? (await createTestDatabase(t, 'postgres')).url : undefined
    const serveDir = mkdtempSync(join(tmpdir(), 'ochat-cli-serve-'))
    t.teardown(() => rmSync(serveDir, { recursive: true, force: true }))
    const server = spawn(process.execPath, [bin, 'serve'], {
      env: {
        ...process.env,
        RELAY_DATA_DIR: serveDir,
        DATABASE_URL: url ?? '',
        RELAY_PORT: '0',
        RELAY_REGISTRATION: 'open',
        RELAY_LOG_LEVEL: 'info',
        RELAY_SHUTDOWN_MS: '10000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    t.teardown(() => {
      server.kill('SIGKILL')
    })
    let output = ''
    server.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8')
    })
    const exited = new Promise<number | null>((resolve) => server.once('exit', resolve))
    const logged = async (pattern: RegExp) => {
      for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
        const match = pattern.exec(output)
        if (match) return match
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      throw new Error(`not logged: ${pattern}\n${output}`)
    }
    const base = (await logged(/relay listening on (http:\/\/[^"\s]+)/))[1] ?? ''
    t.equal((await fetch(`${base}/readyz`)).status, 200, 'ready while serving')
    const { relayId } = (await (await fetch(`${base}/v1/info`)).json()) as { relayId: string }

    // A registration whose body is half sent when the signal comes.
    const acme = buildNode('Acme')
    const body = JSON.stringify(
      signRegistration(
        { v: 1, relayId, name: acme.name, keys: acme.keys, at: Date.now() },
        acme.identity.secretKey,
      ),
    )
    const half = Math.floor(body.length / 2)
    const upload = request(`${base}/v1/instances`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    })
    const answered = new Promise<number | undefined>((resolve, reject) => {
      upload.once('response', (response) => {
        response.resume()
        resolve(response.statusCode)
      })
      upload.once('error', reject)
    })
    upload.write(body.slice(0, half))
    await new Promise((resolve) => setTimeout(resolve, 100))

    const signalled = Date.now()
    server.kill('SIGTERM')
    await logged(/shutting down/)
    const probe = await fetch(`${base}/readyz`).then(
      (response) => response.status,
      () => 'refused',
    )
    t.not(probe, 200, `a new connection is not served as ready (${probe})`)
    upload.end(body.slice(half))
    t.equal(await answered, 201, 'the registration under way is answered')
    t.equal(await exited, 0, 'and the relay exits 0')
    t.ok(Date.now() - signalled < 10_000, 'within RELAY_SHUTDOWN_MS')
  },
)
