import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import Sqlite from 'better-sqlite3'
import t from 'tap'
import { main } from '../src/cli.ts'
import { openDatabase } from '../src/db/client.ts'
import { partners } from '../src/db/schema.ts'
import { until } from './helpers.ts'

const BIN = fileURLToPath(new URL('../bin/ochat-node.mjs', import.meta.url))

/**
 * The command in this process: only `env` is its environment. `serve` below runs the real binary in its
 * own process; the one-shot commands call the same `main` here (each process start costs seconds of CPU).
 */
async function cli(args: string[], env: Record<string, string>, stdin?: Buffer) {
  let stdout = ''
  let stderr = ''
  const code = await main(args, {
    env,
    ...(stdin ? { stdin: Readable.from([stdin]) } : {}),
    out: (text) => {
      stdout += text
    },
    err: (text) => {
      stderr += text
    },
  })
  return { code, stdout, stderr }
}

t.test('ochat-node init creates the data directory and the first admin, once', async (t) => {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'ochat-cli-')), 'company')
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const env = { NODE_DATA_DIR: dataDir }

  const help = await cli(['--help'], env)
  t.equal(help.code, 0)
  t.match(help.stdout, /init --login LOGIN/)

  const badZone = await cli(
    ['init', '--login', 'ada', '--password', 'long enough pw', '--time-zone', 'Mars/Olympus'],
    env,
  )
  t.equal(badZone.code, 2, 'a bad time zone is refused before anything is written')
  t.match(badZone.stderr, /timeZone: an IANA time zone/)

  const created = await cli(
    ['init', '--login', 'ada', '--name', 'Ada Admin', '--email', 'ada@acme.test'],
    env,
  )
  t.equal(created.code, 0, created.stderr)
  t.match(created.stdout, /administrator: ada/)
  const password = /password: (\S+)/.exec(created.stdout)?.[1] ?? ''
  t.ok(password.length >= 12, 'a generated password is printed once')

  const again = await cli(['init', '--login', 'bob', '--password', 'another password'], env)
  t.equal(again.code, 2)
  t.match(again.stderr, /already has an administrator/)

  // The node starts on that directory and the admin logs in with the printed password.
  const server = spawn(process.execPath, [BIN, 'serve'], {
    env: { ...process.env, ...env, NODE_PORT: '0', NODE_LOG_LEVEL: 'info', NODE_SHUTDOWN_MS: '10000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => {
    server.kill('SIGKILL')
  })
  let output = ''
  const url = await new Promise<string>((resolve, reject) => {
    server.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8')
      const match = /node listening on (http:\/\/[^"\s]+)/.exec(output)
      if (match?.[1]) resolve(match[1])
    })
    server.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${output}`)))
  })
  const login = await fetch(`${url}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ login: 'ada', password }),
  })
  t.equal(login.status, 200)
  t.equal(((await login.json()) as { user: { role: string } }).user.role, 'admin')
  t.equal((await fetch(`${url}/readyz`)).status, 200, 'ready while serving')

  // SIGTERM while a login's body is half sent: it is answered, new connections are not, exit 0.
  const body = JSON.stringify({ login: 'ada', password })
  const half = Math.floor(body.length / 2)
  const upload = request(`${url}/api/v1/session`, {
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
  const exited = new Promise<number | null>((resolve) => server.once('exit', resolve))
  const signalled = Date.now()
  server.kill('SIGTERM')
  await until('the shutdown logged', () => output.includes('shutting down'))
  const probe = await fetch(`${url}/readyz`).then(
    (response) => response.status,
    () => 'refused',
  )
  t.not(probe, 200, `a new connection is not served as ready (${probe})`)
  upload.end(body.slice(half))
  t.equal(await answered, 200, 'the login under way is answered')
  t.equal(await exited, 0, 'SIGTERM stops it cleanly')
  t.ok(Date.now() - signalled < 10_000, 'within NODE_SHUTDOWN_MS')
})

t.test('ochat-node mail-inbound files stdin and answers an MTA pipe in sysexits codes', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ochat-cli-mail-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const env = {
    NODE_DATA_DIR: dataDir,
    NODE_MAIL_DOMAIN: 'acme.test',
    NODE_SMTP_MAX_BYTES: '4096',
    NODE_LOG_LEVEL: 'silent',
  }
  const mail = (subject: string, from = 'carla@client.test') =>
    Buffer.from(
      `From: ${from}\r\nTo: sales@acme.test\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@client.test>\r\n\r\nHello\r\n`,
    )

  const stranger = await cli(['mail-inbound'], env, mail('From a stranger'))
  t.equal(stranger.code, 67, 'refused (sales@ takes known contacts only): EX_NOUSER, the MTA bounces it')
  t.match(stranger.stderr, /refused/)

  const database = openDatabase(join(dataDir, 'node.sqlite'))
  database.db
    .insert(partners)
    .values({ name: 'Carla', email: 'carla@client.test', internal: false, createdAt: Date.now() })
    .run()
  database.close()
  const known = await cli(['mail-inbound'], env, mail('Chairs'))
  t.equal(known.code, 0, known.stderr)
  t.match(known.stdout, /^created .*record \d+/)

  const again = await cli(['mail-inbound'], env, mail('Chairs'))
  t.equal(again.code, 0, 'a duplicate is dropped: delivered as far as the MTA is concerned')
  t.match(again.stdout, /^duplicate/)

  const garbage = await cli(['mail-inbound'], env, Buffer.from('not an email'))
  t.equal(garbage.code, 65, 'unreadable: EX_DATAERR')
  const big = await cli(['mail-inbound'], env, Buffer.concat([mail('Big'), Buffer.alloc(5000, 'x')]))
  t.equal(big.code, 65, 'past NODE_SMTP_MAX_BYTES: EX_DATAERR')
  t.match(big.stderr, /NODE_SMTP_MAX_BYTES/)

  // Another process holds the database: the MTA is told to try again later, nothing is lost.
  const holder = new Sqlite(join(dataDir, 'node.sqlite'))
  holder.exec('BEGIN EXCLUSIVE')
  t.teardown(() => holder.close())
  const busy = await cli(['mail-inbound'], env, mail('While busy'))
  holder.exec('ROLLBACK')
  t.equal(busy.code, 75, 'EX_TEMPFAIL')
  const later = await cli(['mail-inbound'], env, mail('While busy'))
  t.equal(later.code, 0, 'the retry is taken')
  t.match(later.stdout, /^created/)
})
