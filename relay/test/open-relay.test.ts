// An open-registration relay: per-address and per-instance limits on registrations and connection
// requests, shared by replicas; a cap on pending incoming requests; the operator lists and purges spam.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { sql } from 'drizzle-orm'
import t, { type Test } from 'tap'
import { instancesCommand, purgeCommand } from '../src/cli.ts'
import { ManualClock } from '../src/clock.ts'
import { loadConfig } from '../src/config.ts'
import { openPostgres, rows } from '../src/db/client.ts'
import { listRegistrations } from '../src/instances/list-registrations.ts'
import {
  buildNode,
  buildRelay,
  capturedLogs,
  connect,
  createTestDatabase,
  type Driver,
  eachDriver,
  type RequestOrigin,
  register,
  signed,
  type TestNode,
  type TestRelay,
} from './helpers.ts'

const HOUR = 3_600_000
/** Ten minutes into an hour, so every limit's window has 50 minutes left. */
const tenPast = () => new ManualClock(Math.floor(Date.now() / HOUR) * HOUR + 10 * 60_000)

async function registered(relay: TestRelay, name: string, origin: RequestOrigin = {}): Promise<TestNode> {
  const node = buildNode(name)
  const response = await register(relay, node, {}, origin)
  if (response.statusCode !== 201) throw new Error(`register failed: ${response.body}`)
  return node
}

function requestConnection(relay: TestRelay, from: TestNode, to: TestNode, origin: RequestOrigin = {}) {
  return signed(relay, from, 'POST', '/v1/connections', { to: to.instanceId, message: 'Hello' }, origin)
}

async function incomingPending(relay: TestRelay, node: TestNode) {
  const { connections } = (await signed(relay, node, 'GET', '/v1/connections')).json()
  return (connections as { id: string; direction: string; state: string }[]).filter(
    (connection) => connection.direction === 'incoming' && connection.state === 'pending',
  )
}

eachDriver(
  t,
  'an address registers 10 instances an hour; the 11th waits for the next hour',
  async (t, driver) => {
    const relay = await buildRelay(t, driver, { clock: tenPast() })
    const nodes = Array.from({ length: 11 }, (_, index) => buildNode(`Spam ${index}`))
    for (const node of nodes.slice(0, 10)) t.equal((await register(relay, node)).statusCode, 201)
    const refused = await register(relay, nodes[10] as TestNode)
    t.equal(refused.statusCode, 429)
    t.match(refused.json(), {
      error: {
        code: 'E_REGISTRATION_RATE_LIMITED',
        reason: /^rate-limited: more than 10 registrations from this address in an hour; retry in 3000 s$/,
      },
    })
    t.equal(refused.headers['retry-after'], '3000', 'until the hour ends')
    t.equal((await register(relay, nodes[0] as TestNode)).statusCode, 200, 'registering again is not counted')
    t.equal(
      (await register(relay, buildNode('Elsewhere'), {}, { remoteAddress: '198.51.100.20' })).statusCode,
      201,
      'another address has its own count',
    )
    ;(relay.clock as ManualClock).advance(50 * 60_000)
    t.equal((await register(relay, nodes[10] as TestNode)).statusCode, 201, 'the next hour counts afresh')
  },
)

t.test('the registration limit holds across two replicas over one database', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ochat-replicas-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const { database, url } = await createTestDatabase(t, 'postgres')
  const clock = tenPast()
  // Replicas share the relay keys file and the database, nothing else.
  const replica = async (name: string, db = database) =>
    buildRelay(t, 'postgres', {
      clock,
      database: db,
      env: {
        RELAY_KEYS_FILE: join(dir, 'relay-keys.json'),
        RELAY_REPLICA_ID: name,
        RELAY_REGISTRATIONS_PER_ADDRESS_PER_HOUR: '4',
      },
    })
  const a = await replica('a')
  const b = await replica('b', await openPostgres(url ?? ''))
  const statuses = []
  for (const relay of [a, b, a, b, a, b]) statuses.push((await register(relay, buildNode())).statusCode)
  t.same(statuses, [201, 201, 201, 201, 429, 429], 'four in all, whichever replica answers')
})

eachDriver(t, 'X-Forwarded-For names the client only with RELAY_TRUST_PROXY', async (t, driver) => {
  const behindProxy = (address: string) => ({
    remoteAddress: '127.0.0.1',
    headers: { 'x-forwarded-for': address },
  })
  const limit = { RELAY_REGISTRATIONS_PER_ADDRESS_PER_HOUR: '2' }

  const logs = capturedLogs()
  const untrusted = await buildRelay(t, driver, {
    clock: tenPast(),
    env: { ...limit, RELAY_LOG_LEVEL: 'warn' },
    logStream: logs.stream,
  })
  const plain = await Promise.all(
    ['203.0.113.1', '203.0.113.2', '203.0.113.3'].map(
      async (address) => (await register(untrusted, buildNode(), {}, behindProxy(address))).statusCode,
    ),
  )
  t.same(plain.sort(), [201, 201, 429], 'every client counts as the proxy')
  t.same(
    (await listRegistrations(untrusted.database.db)).map((row) => row.registeredFrom),
    ['127.0.0.1', '127.0.0.1'],
  )
  t.equal(logs.text().match(/RELAY_TRUST_PROXY is off/g)?.length, 1, 'the operator is told, once')

  const trusted = await buildRelay(t, driver, {
    clock: tenPast(),
    env: { ...limit, RELAY_TRUST_PROXY: '127.0.0.1' },
  })
  for (const address of ['203.0.113.1', '203.0.113.2', '203.0.113.3'])
    t.equal((await register(trusted, buildNode(), {}, behindProxy(address))).statusCode, 201, address)
  t.equal((await register(trusted, buildNode(), {}, behindProxy('203.0.113.1'))).statusCode, 201)
  t.equal(
    (await register(trusted, buildNode(), {}, behindProxy('203.0.113.1'))).statusCode,
    429,
    'each client has its own count',
  )
  t.equal(
    (await register(trusted, buildNode(), {}, behindProxy('2001:db8:5:6::1'))).statusCode,
    201,
    'an IPv6 client',
  )
  t.equal((await register(trusted, buildNode(), {}, behindProxy('2001:db8:5:6:ffff::2'))).statusCode, 201)
  t.equal(
    (await register(trusted, buildNode(), {}, behindProxy('2001:db8:5:6::3'))).statusCode,
    429,
    'counts with its whole /64',
  )
  t.equal(
    (
      await register(
        trusted,
        buildNode(),
        {},
        { remoteAddress: '198.51.100.9', headers: { 'x-forwarded-for': '203.0.113.50' } },
      )
    ).statusCode,
    201,
  )
  t.same(
    new Set((await listRegistrations(trusted.database.db)).map((row) => row.registeredFrom)),
    new Set([
      '203.0.113.1',
      '203.0.113.2',
      '203.0.113.3',
      '2001:db8:5:6::1',
      '2001:db8:5:6:ffff::2',
      '198.51.100.9',
    ]),
    'the address is kept on the instance; an untrusted peer’s header is ignored',
  )
})

eachDriver(t, 'connection requests are limited per instance and per address', async (t, driver) => {
  const relay = await buildRelay(t, driver, {
    clock: tenPast(),
    env: {
      RELAY_REGISTRATIONS_PER_ADDRESS_PER_HOUR: '100',
      RELAY_CONNECTION_REQUESTS_PER_INSTANCE_PER_HOUR: '3',
      RELAY_CONNECTION_REQUESTS_PER_ADDRESS_PER_HOUR: '5',
    },
  })
  const acme = await registered(relay, 'Acme')
  const targets = await Promise.all(
    Array.from({ length: 6 }, (_, index) => registered(relay, `Target ${index}`)),
  )
  for (const target of targets.slice(0, 3))
    t.equal((await requestConnection(relay, acme, target)).statusCode, 201)
  const refused = await requestConnection(relay, acme, targets[3] as TestNode)
  t.equal(refused.statusCode, 429)
  t.match(refused.json(), {
    error: {
      code: 'E_CONNECTION_RATE_LIMITED',
      reason:
        /^rate-limited: more than 3 connection requests from this instance in an hour; retry in 3000 s$/,
    },
  })
  t.equal(refused.headers['retry-after'], '3000')
  t.same(await incomingPending(relay, targets[3] as TestNode), [], 'the refused request reached nobody')

  // Another instance from the same address: the address has 3 (counting the refused one, 4) of 5.
  const sibling = await registered(relay, 'Sibling')
  t.equal((await requestConnection(relay, sibling, targets[4] as TestNode)).statusCode, 201)
  t.match((await requestConnection(relay, sibling, targets[5] as TestNode)).json(), {
    error: { code: 'E_CONNECTION_RATE_LIMITED', reason: /from this address/ },
  })
  t.equal(
    (await requestConnection(relay, sibling, targets[5] as TestNode, { remoteAddress: '198.51.100.30' }))
      .statusCode,
    201,
    'from another address it goes through',
  )
  ;(relay.clock as ManualClock).advance(50 * 60_000)
  t.equal((await requestConnection(relay, acme, targets[3] as TestNode)).statusCode, 201, 'next hour')
})

eachDriver(
  t,
  'the 21st pending request to an instance is refused until it decides one',
  async (t, driver) => {
    const relay = await buildRelay(t, driver, {
      clock: tenPast(),
      // Every instance here registers from the test's one address.
      env: {
        RELAY_REGISTRATIONS_PER_ADDRESS_PER_HOUR: '100',
        RELAY_CONNECTION_REQUESTS_PER_ADDRESS_PER_HOUR: '100',
      },
    })
    const globex = await registered(relay, 'Globex')
    const requesters = await Promise.all(
      Array.from({ length: 22 }, (_, index) => registered(relay, `R${index}`)),
    )
    for (const requester of requesters.slice(0, 20))
      t.equal((await requestConnection(relay, requester, globex)).statusCode, 201)
    const full = await requestConnection(relay, requesters[20] as TestNode, globex)
    t.equal(full.statusCode, 429)
    t.match(full.json(), { error: { code: 'E_CONNECTION_REQUESTS_FULL' } })
    t.notMatch(full.body, /20/, 'the requester is not told how many are waiting')
    t.ok(full.headers['retry-after'])
    const pending = await incomingPending(relay, globex)
    t.equal(pending.length, 20)

    const [first, second] = pending
    await signed(relay, globex, 'POST', `/v1/connections/${first?.id}/decision`, { action: 'reject' })
    t.equal(
      (await requestConnection(relay, requesters[20] as TestNode, globex)).statusCode,
      201,
      'after a reject',
    )
    t.equal((await requestConnection(relay, requesters[21] as TestNode, globex)).statusCode, 429)
    await signed(relay, globex, 'POST', `/v1/connections/${second?.id}/decision`, { action: 'accept' })
    t.equal(
      (await requestConnection(relay, requesters[21] as TestNode, globex)).statusCode,
      201,
      'after an accept',
    )
  },
)

/** The CLI's commands, run in this process on the relay's database, with their output captured. */
function cliIo(relay: TestRelay) {
  const out = new PassThrough()
  const err = new PassThrough()
  let outText = ''
  let errText = ''
  out.on('data', (chunk: Buffer) => (outText += chunk))
  err.on('data', (chunk: Buffer) => (errText += chunk))
  return {
    io: () => ({ db: relay.database.db, out, err, nowMs: relay.clock.now() }),
    /** What was written since the last call. */
    take() {
      const taken = { out: outText, err: errText }
      outText = ''
      errText = ''
      return taken
    },
  }
}

async function spamSetup(t: Test, driver: Driver) {
  const relay = await buildRelay(t, driver, { clock: tenPast() })
  const acme = buildNode('Acme')
  const globex = buildNode('Globex')
  await connect(relay, acme, globex)
  ;(relay.clock as ManualClock).advance(5 * 60_000)
  const spam = []
  for (let index = 0; index < 3; index++) {
    ;(relay.clock as ManualClock).advance(1000)
    const node = await registered(relay, `Spam ${index}`, { remoteAddress: '203.0.113.66' })
    t.equal((await requestConnection(relay, node, globex, { remoteAddress: '203.0.113.66' })).statusCode, 201)
    spam.push(node)
  }
  // A spam instance that Acme accepted: a company talks to it, so it is not purged.
  ;(relay.clock as ManualClock).advance(1000)
  const accepted = await registered(relay, 'Spam accepted', { remoteAddress: '203.0.113.67' })
  const request = (await requestConnection(relay, accepted, acme)).json()
  await signed(relay, acme, 'POST', `/v1/connections/${request.connection.id}/decision`, { action: 'accept' })
  return { relay, acme, globex, spam, accepted }
}

eachDriver(t, 'the operator lists registrations by address, age and pending requests', async (t, driver) => {
  const { relay, spam } = await spamSetup(t, driver)
  const cli = cliIo(relay)
  t.equal(await instancesCommand([], cli.io()), 0)
  const all = cli.take()
  t.equal(all.out.trim().split('\n').length, 6)
  t.match(all.err, /^6 instances\n$/)
  t.equal(await instancesCommand(['--address', '203.0.113.64/30'], cli.io()), 0)
  const lines = cli.take().out.trim().split('\n')
  t.equal(lines.length, 4, 'the four from that range, oldest first')
  t.match(
    lines[0],
    new RegExp(
      `^${spam[0]?.instanceId}  active +\\S+Z  from 203\\.0\\.113\\.66 +sent 1 \\(pending 1\\)  incoming 0  Spam 0$`,
    ),
  )
  t.equal(await instancesCommand(['--pending-requests-min', '1', '--address', '203.0.113.66'], cli.io()), 0)
  t.equal(cli.take().out.trim().split('\n').length, 3)
  t.equal(await instancesCommand(['--since', '3m'], cli.io()), 0)
  t.equal(cli.take().out.trim().split('\n').length, 4, 'Acme and Globex registered earlier')
  t.equal(await instancesCommand(['--status', 'suspended'], cli.io()), 0)
  t.equal(cli.take().out, 'no instances match\n')
  await t.rejects(instancesCommand(['--address', 'nowhere'], cli.io()), {
    message: /--address takes an address/,
  })
  await t.rejects(instancesCommand(['--since', 'yesterday'], cli.io()), {
    message: /--since takes a duration/,
  })
})

eachDriver(
  t,
  'purge removes spam registrations and their pending requests, with --yes',
  async (t, driver) => {
    const { relay, acme, globex, spam, accepted } = await spamSetup(t, driver)
    const cli = cliIo(relay)
    t.equal((await incomingPending(relay, globex)).length, 3)
    await t.rejects(purgeCommand([], cli.io()), { message: /name instances or give a filter/ })

    t.equal(await purgeCommand(['--address', '203.0.113.64/30'], cli.io()), 1, 'nothing done without --yes')
    t.match(cli.take().err, /nothing purged: run again with --yes to purge these 4 instances/)
    t.equal((await incomingPending(relay, globex)).length, 3)

    await t.rejects(purgeCommand([buildNode().instanceId, '--yes'], cli.io()), {
      message: /^no instance oc_/,
    })
    t.equal(await purgeCommand([spam[0]?.instanceId ?? '', '--yes'], cli.io()), 0, 'by id')
    t.equal(
      cli.take().out,
      `[1/1] purged ${spam[0]?.instanceId} (Spam 0): 1 pending request, 1 connection, 0 queued items\npurged 1 of 1 instance\n`,
    )
    t.equal(await purgeCommand(['--address', '203.0.113.64/30', '--yes'], cli.io()), 0, 'by address')
    const { out } = cli.take()
    t.match(out, new RegExp(`^\\[1/3\\] purged ${spam[1]?.instanceId} \\(Spam 1\\)`))
    t.match(
      out,
      new RegExp(
        `\\[3/3\\] skipped ${accepted.instanceId} \\(Spam accepted\\): 1 accepted connection: suspend it instead`,
      ),
    )
    t.match(out, /purged 2 of 3 instances\n$/)

    t.same(await incomingPending(relay, globex), [], 'Globex no longer sees their requests')
    t.equal(
      (await signed(relay, spam[0] as TestNode, 'GET', '/v1/instances/me')).statusCode,
      401,
      'they are gone',
    )
    const [left] = await rows<{ n: number }>(
      relay.database.db,
      sql`select count(*)::int as n from connections`,
    )
    t.equal(left?.n, 2, 'Acme’s connections stay')
    t.equal((await signed(relay, acme, 'GET', '/v1/connections')).json().connections.length, 2)
  },
)

t.test('RELAY_TRUST_PROXY takes the forms Fastify accepts, and refuses a hop count', async (t) => {
  t.equal(loadConfig({}).trustProxy, false)
  t.equal(loadConfig({ RELAY_TRUST_PROXY: 'true' }).trustProxy, true)
  t.equal(
    loadConfig({ RELAY_TRUST_PROXY: '10.0.0.0/8, loopback, ::1' }).trustProxy,
    '10.0.0.0/8,loopback,::1',
  )
  // Fastify 5 trusts no proxy for a number: the limits would silently count the proxy's address.
  t.throws(() => loadConfig({ RELAY_TRUST_PROXY: '1' }), /RELAY_TRUST_PROXY: .*not: 1/)
  t.throws(() => loadConfig({ RELAY_TRUST_PROXY: '10.0.0.0/33' }), /not: 10\.0\.0\.0\/33/)
})

eachDriver(
  t,
  'counters go after their hour, registering addresses after the retention',
  async (t, driver) => {
    const relay = await buildRelay(t, driver, {
      clock: tenPast(),
      env: { RELAY_METADATA_RETENTION_MS: String(2 * HOUR) },
    })
    await registered(relay, 'Acme', { remoteAddress: '203.0.113.5' })
    const counters = async () =>
      (await rows<{ n: number }>(relay.database.db, sql`select count(*)::int as n from rate_windows`))[0]?.n
    t.equal(await counters(), 1)
    ;(relay.clock as ManualClock).advance(HOUR)
    await relay.runJobs()
    t.equal(await counters(), 0, 'the window has ended')
    t.equal((await listRegistrations(relay.database.db))[0]?.registeredFrom, '203.0.113.5')
    ;(relay.clock as ManualClock).advance(HOUR)
    await relay.runJobs()
    t.equal((await listRegistrations(relay.database.db))[0]?.registeredFrom, '203.0.113.5', 'kept for 2 h')
    ;(relay.clock as ManualClock).advance(1)
    await relay.runJobs()
    t.equal(
      (await listRegistrations(relay.database.db))[0]?.registeredFrom,
      null,
      'forgotten after the retention',
    )
  },
)
