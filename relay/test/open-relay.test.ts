// An open-registration relay: per-address and per-instance limits on registrations and connection
// requests, shared by replicas; a cap on pending incoming requests, of which one address takes two, and a
// day's wait after a rejection. The operator's listing and purge are in open-relay-purge.test.ts.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ManualClock } from '@ochat/shared-protocol/server'
import { sql } from 'drizzle-orm'
import t from 'tap'
import { loadConfig } from '../src/config.ts'
import { openPostgres, rows } from '../src/db/client.ts'
import { listRegistrations } from '../src/instances/list-registrations.ts'
import { updateInstance } from '../src/instances/repository.ts'
import {
  buildNode,
  buildRelay,
  capturedLogs,
  createTestDatabase,
  eachDriver,
  postgresTest,
  register,
  signed,
  type TestNode,
} from './helpers.ts'
import { HOUR, incomingPending, registered, requestConnection, tenPast } from './open-relay-helpers.ts'

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

postgresTest(t, 'the registration limit holds across two replicas over one database', async (t) => {
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
    // Each from its own address: at most two instances from one address wait for the same instance.
    const requesters = await Promise.all(
      Array.from({ length: 22 }, (_, index) =>
        registered(relay, `R${index}`, { remoteAddress: `198.51.100.${index + 1}` }),
      ),
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

eachDriver(
  t,
  'spam from one address takes two places in a pending list, and a company from elsewhere still gets in',
  async (t, driver) => {
    const relay = await buildRelay(t, driver, {
      clock: tenPast(),
      env: { RELAY_REGISTRATIONS_PER_ADDRESS_PER_HOUR: '100' },
    })
    const globex = await registered(relay, 'Globex', { remoteAddress: '198.51.100.1' })
    const spammer = { remoteAddress: '203.0.113.66' }
    const spam = await Promise.all(
      Array.from({ length: 20 }, (_, index) => registered(relay, `Spam ${index}`, spammer)),
    )
    const statuses = []
    for (const node of spam) statuses.push((await requestConnection(relay, node, globex, spammer)).statusCode)
    t.same(statuses, [201, 201, ...Array(18).fill(429)], 'two wait; the other eighteen are refused')
    const refused = await requestConnection(relay, spam[2] as TestNode, globex, spammer)
    t.match(refused.json(), {
      error: {
        code: 'E_CONNECTION_RATE_LIMITED',
        reason:
          /^rate-limited: the instance takes no more requests from instances registered from your address now/,
      },
    })
    t.ok(refused.headers['retry-after'])
    t.equal((await incomingPending(relay, globex)).length, 2)
    const acme = await registered(relay, 'Acme', { remoteAddress: '198.51.100.7' })
    t.equal(
      (await requestConnection(relay, acme, globex, { remoteAddress: '198.51.100.7' })).statusCode,
      201,
      'a company from another address is not locked out',
    )

    for (const node of spam.slice(0, 2))
      await updateInstance(relay.database.db, node.instanceId, { status: 'suspended' })
    t.equal(
      (await requestConnection(relay, spam[2] as TestNode, globex, spammer)).statusCode,
      201,
      'suspended requesters hold no place',
    )
  },
)

eachDriver(t, 'suspended and vanished requesters free their places in a full list', async (t, driver) => {
  const relay = await buildRelay(t, driver, { clock: tenPast(), env: { RELAY_MAX_PENDING_INCOMING: '3' } })
  const globex = await registered(relay, 'Globex')
  const from = (index: number) => ({ remoteAddress: `198.51.100.${index + 10}` })
  const requesters = await Promise.all(
    Array.from({ length: 5 }, (_, index) => registered(relay, `R${index}`, from(index))),
  )
  for (const [index, node] of requesters.slice(0, 3).entries())
    t.equal((await requestConnection(relay, node, globex, from(index))).statusCode, 201)
  const full = await requestConnection(relay, requesters[3] as TestNode, globex, from(3))
  t.match(full.json(), { error: { code: 'E_CONNECTION_REQUESTS_FULL' } })

  await updateInstance(relay.database.db, requesters[0]?.instanceId ?? '', { status: 'suspended' })
  t.equal((await requestConnection(relay, requesters[3] as TestNode, globex, from(3))).statusCode, 201)
  t.equal((await requestConnection(relay, requesters[4] as TestNode, globex, from(4))).statusCode, 429)

  // What a purge racing the request used to leave: a pending request whose requester is gone.
  const gone = requesters[1]?.instanceId ?? ''
  const [orphan] = await rows<{ id: string }>(
    relay.database.db,
    sql`select id from connections where requester = ${gone}`,
  )
  await relay.database.db.execute(sql`delete from instances where id = ${gone}`)
  t.equal(
    (await requestConnection(relay, requesters[4] as TestNode, globex, from(4))).statusCode,
    201,
    'its place is free',
  )
  const rejected = await signed(relay, globex, 'POST', `/v1/connections/${orphan?.id}/decision`, {
    action: 'reject',
  })
  t.equal(rejected.statusCode, 404, 'deciding it answers not found, not a server error')
  t.match(rejected.json(), { error: { code: 'E_NOT_FOUND', reason: /no longer registered/ } })
  t.same(
    await rows(relay.database.db, sql`select id from connections where id = ${orphan?.id}`),
    [],
    'and it is gone',
  )
})

eachDriver(t, 'a rejected requester waits a day before asking the same instance again', async (t, driver) => {
  const relay = await buildRelay(t, driver, { clock: tenPast() })
  const acme = await registered(relay, 'Acme')
  const globex = await registered(relay, 'Globex')
  const initech = await registered(relay, 'Initech')
  const { connection } = (await requestConnection(relay, acme, globex)).json()
  await signed(relay, globex, 'POST', `/v1/connections/${connection.id}/decision`, { action: 'reject' })
  const again = await requestConnection(relay, acme, globex)
  t.equal(again.statusCode, 429)
  t.match(again.json(), {
    error: { code: 'E_CONNECTION_RECENTLY_REJECTED', reason: /you may ask again in 86400 s$/ },
  })
  t.equal(again.headers['retry-after'], '86400')
  t.equal((await requestConnection(relay, acme, initech)).statusCode, 201, 'others may be asked')
  ;(relay.clock as ManualClock).advance(23 * HOUR)
  t.equal((await requestConnection(relay, acme, globex)).headers['retry-after'], '3600')
  ;(relay.clock as ManualClock).advance(HOUR)
  t.equal((await requestConnection(relay, acme, globex)).statusCode, 201, 'a day later')
})

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

eachDriver(t, 'a failing counter purge does not hold up the rest of the retention', async (t, driver) => {
  const relay = await buildRelay(t, driver, {
    clock: tenPast(),
    env: { RELAY_METADATA_RETENTION_MS: String(HOUR) },
  })
  await registered(relay, 'Acme', { remoteAddress: '203.0.113.5' })
  // The counters' table is gone, so purging them fails at every run.
  await relay.database.db.execute(sql`drop table rate_windows`)
  ;(relay.clock as ManualClock).advance(HOUR + 1)
  await relay.runJobs()
  t.equal((await listRegistrations(relay.database.db))[0]?.registeredFrom, null, 'the address is forgotten')
})
