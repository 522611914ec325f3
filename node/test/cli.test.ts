import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { main } from '../src/cli.ts'

const BIN = fileURLToPath(new URL('../bin/ochat-node.mjs', import.meta.url))

/**
 * The command in this process: only `env` is its environment. `serve` below runs the real binary in its
 * own process; the one-shot commands call the same `main` here (each process start costs seconds of CPU).
 */
async function cli(args: string[], env: Record<string, string>) {
  let stdout = ''
  let stderr = ''
  const code = await main(args, {
    env,
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
    env: { ...process.env, ...env, NODE_PORT: '0', NODE_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => {
    server.kill('SIGKILL')
  })
  const url = await new Promise<string>((resolve, reject) => {
    let output = ''
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
  const exited = new Promise<number | null>((resolve) => server.once('exit', resolve))
  server.kill('SIGTERM')
  t.equal(await exited, 0, 'SIGTERM stops it cleanly')
})
