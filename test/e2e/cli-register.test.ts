import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { main } from '../../node/src/cli.ts'
import { createInvite } from '../../relay/src/instances/invites.ts'
import { listInstances, updateInstance } from '../../relay/src/instances/repository.ts'
import { OCHAT_SECRET, releasedPort, startTestNode, startTestRelay, until } from './harness.ts'

/**
 * `ochat-node register` and `ochat-node status` against a real relay that registers by invitation.
 * The registration a running node picks up is made by the real command line in its own process; the
 * other cases call the same `main` in this process (each process start costs seconds of CPU), with
 * its environment and output handed over explicitly.
 */

const bin = fileURLToPath(new URL('../../node/bin/ochat-node.mjs', import.meta.url))

type Ran = { code: number | null; stdout: string; stderr: string }

/** The command line in its own process, as an operator's shell runs it. */
function ochatNode(args: string[], env: Record<string, string>): Promise<Ran> {
  return new Promise((resolve, reject) => {
    // The operator's shell, minus any node settings of the machine running the tests.
    const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('NODE_')))
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...base, NODE_LOG_LEVEL: 'silent', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => {
      stdout += chunk
    })
    child.stderr.on('data', (chunk) => {
      stderr += chunk
    })
    child.once('error', reject)
    child.once('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

/** The same command, in this process: only `env` is its environment. */
async function cli(args: string[], env: Record<string, string>): Promise<Ran> {
  let stdout = ''
  let stderr = ''
  const code = await main(args, {
    env: { NODE_LOG_LEVEL: 'silent', ...env },
    out: (text) => {
      stdout += text
    },
    err: (text) => {
      stderr += text
    },
  })
  return { code, stdout, stderr }
}

function dataDir(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'ochat-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('ochat-node register: refusals that say what to do', async (t) => {
  const relay = await startTestRelay(t, { env: { RELAY_REGISTRATION: 'invite' } })
  const closed = `http://127.0.0.1:${await releasedPort()}`
  const secret = { NODE_OCHAT_SECRET: OCHAT_SECRET }
  const [noSecret, unreachable, noInvite, badInvite, noRelay] = await Promise.all([
    cli(['register', '--relay', relay.baseUrl], { NODE_DATA_DIR: dataDir(t) }),
    cli(['register', '--relay', closed], { NODE_DATA_DIR: dataDir(t), ...secret }),
    cli(['register', '--relay', relay.baseUrl], { NODE_DATA_DIR: dataDir(t), ...secret }),
    cli(['register', '--relay', relay.baseUrl, '--invite', 'inv_not-a-real-token-at-all'], {
      NODE_DATA_DIR: dataDir(t),
      ...secret,
    }),
    cli(['register'], { NODE_DATA_DIR: dataDir(t), ...secret }),
  ])

  t.equal(noSecret.code, 2, 'no secret: refused')
  t.match(noSecret.stderr, /needs an operator secret/)
  t.match(noSecret.stderr, /NODE_OCHAT_SECRET_FILE=/, 'and it shows how to set one')

  t.equal(unreachable.code, 2, 'unreachable relay: refused')
  t.match(unreachable.stderr, `cannot reach the relay at ${closed}`, 'with the URL')
  t.match(unreachable.stderr, /ECONNREFUSED|refused/i, 'and the cause')

  t.equal(noInvite.code, 2, 'invite-only relay without --invite: refused')
  t.match(noInvite.stderr, /registers by invitation/)
  t.match(noInvite.stderr, /--invite TOKEN/, 'and it names the option')

  t.equal(badInvite.code, 2, 'a wrong invite: refused')
  t.match(badInvite.stderr, /E_REGISTRATION_INVITE_INVALID/, "with the relay's reason")

  t.equal(noRelay.code, 2)
  t.match(noRelay.stderr, /--relay is required/)
  t.same(await listInstances(relay.database.db), [], 'nothing was registered')
})

t.test('ochat-node register, then status, then a running node starts O’Chat without a restart', async (t) => {
  const relay = await startTestRelay(t, { env: { RELAY_REGISTRATION: 'invite' } })
  // A node already running, not registered: O'Chat waits.
  const node = await startTestNode(t, { company: 'Acme' })
  const before = await node.admin.call('GET', '/api/v1/ochat/registration')
  t.equal(before.body.state, 'unregistered')

  const secretFile = join(dataDir(t), 'secret')
  writeFileSync(secretFile, `${OCHAT_SECRET}\n`, { mode: 0o600 })
  const env = {
    NODE_DATA_DIR: node.dataDir,
    NODE_OCHAT_SECRET_FILE: secretFile,
    NODE_COMPANY: 'Acme',
    NODE_PUBLIC_URL: node.url,
  }
  const { token } = await createInvite(relay.database.db, { nowMs: Date.now() })
  const registered = await ochatNode(['register', '--relay', relay.baseUrl, '--invite', token], env)
  t.equal(registered.code, 0, registered.stderr)
  const instanceId = /instance id: (oc_\S+)/.exec(registered.stdout)?.[1]
  t.ok(instanceId, 'it prints the instance id')
  t.match(registered.stdout, `registered "Acme" with the relay at ${relay.baseUrl}`)
  t.match(registered.stdout, `webhook: ${node.url}/ochat/webhook`)
  t.match(registered.stdout, /next:/, 'and what to do next')

  const seen = await until(
    'the running node to pick the registration up',
    async () => {
      const answer = await node.admin.call('GET', '/api/v1/ochat/registration')
      return answer.body.state === 'registered' && answer.body.socket === 'ready' && answer.body
    },
    10_000,
  )
  t.equal(seen.instanceId, instanceId, 'the running node is registered, with the same id, and connected')
  t.equal(seen.relayId, relay.relayKeys.relayId, "the relay's key set is pinned")

  const again = await cli(['register', '--relay', relay.baseUrl, '--invite', token], env)
  t.equal(again.code, 2, 'registering twice: refused')
  t.match(again.stderr, `already registered as ${instanceId}`)

  const valid = await cli(['status'], env)
  t.equal(valid.code, 0)
  t.match(valid.stdout, `instance id: ${instanceId}`)
  t.match(valid.stdout, /status: valid/)

  await updateInstance(relay.database.db, instanceId as string, { status: 'suspended' })
  const suspended = await cli(['status'], env)
  t.equal(suspended.code, 1)
  t.match(suspended.stdout, /status: suspended/, 'a suspension shows')

  const wrongSecret = await cli(['status'], {
    ...env,
    NODE_OCHAT_SECRET_FILE: '',
    NODE_OCHAT_SECRET: 'another secret, long enough',
  })
  t.equal(wrongSecret.code, 2)
  t.match(wrongSecret.stderr, /status: locked/, 'a wrong secret says the keys stay locked')

  await node.stop()
  await relay.close()
  const down = await cli(['status'], env)
  t.equal(down.code, 1)
  t.match(
    down.stdout,
    `status: unreachable: cannot reach the relay at ${relay.baseUrl}`,
    'a relay that is down shows, with the error',
  )
})
