// The operator lists and purges spam registrations on an open relay (ochat-relay instances, purge),
// run in this process on the relay's database; the binary itself is in cli.test.ts.
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { ManualClock } from '@ochat/shared-protocol/server'
import { eq, sql } from 'drizzle-orm'
import t, { type Test } from 'tap'
import { FileBlobStore } from '../src/blobs/blob-store.ts'
import { instancesCommand, purgeCommand } from '../src/cli.ts'
import { lockConnection, setConnectionState } from '../src/connections/repository.ts'
import { type Database, openPostgres, rows, type Tx } from '../src/db/client.ts'
import { instances } from '../src/db/schema.ts'
import { purgeInstance } from '../src/instances/purge-instance.ts'
import { lockInstance } from '../src/instances/repository.ts'
import {
  buildNode,
  buildRelay,
  connect,
  createTestDatabase,
  type Driver,
  eachDriver,
  postgresTest,
  signed,
  type TestNode,
} from './helpers.ts'
import { cliIo, incomingPending, registered, requestConnection, tenPast } from './open-relay-helpers.ts'
import { eventually } from './webhook-node.ts'

async function spamSetup(t: Test, driver: Driver) {
  const relay = await buildRelay(t, driver, { clock: tenPast() })
  const acme = buildNode('Acme')
  const globex = buildNode('Globex')
  await connect(relay, acme, globex)
  ;(relay.clock as ManualClock).advance(5 * 60_000)
  const spam = []
  for (let index = 0; index < 3; index++) {
    ;(relay.clock as ManualClock).advance(1000)
    // Two from one address, the third from its neighbour: two is all one address may have waiting.
    const address = index < 2 ? '203.0.113.66' : '203.0.113.65'
    const node = await registered(relay, `Spam ${index}`, { remoteAddress: address })
    t.equal((await requestConnection(relay, node, globex, { remoteAddress: address })).statusCode, 201)
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
  t.equal(cli.take().out.trim().split('\n').length, 2)
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
    await t.rejects(purgeCommand([], cli.io()), { message: /name instances, or narrow with --address/ })

    t.equal(await purgeCommand(['--address', '203.0.113.64/30'], cli.io()), 1, 'nothing done without --yes')
    t.match(cli.take().err, /nothing purged: run again with --yes to purge these 4 instances/)
    t.equal((await incomingPending(relay, globex)).length, 3)

    await t.rejects(purgeCommand([buildNode().instanceId, '--yes'], cli.io()), {
      message: /^no instance oc_/,
    })
    t.equal(await purgeCommand([spam[0]?.instanceId ?? '', '--yes'], cli.io()), 0, 'by id')
    t.equal(
      cli.take().out,
      `[1/1] purged ${spam[0]?.instanceId} (Spam 0): 1 pending request, 1 connection, 0 queued items, 0 attachments\npurged 1 of 1 instance\n`,
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

eachDriver(
  t,
  'purge needs a narrowing filter, and --since takes only durations and dates',
  async (t, driver) => {
    const { relay } = await spamSetup(t, driver)
    const cli = cliIo(relay)
    const narrow = /name instances, or narrow with --address, --since or --pending-requests-min 1 or more/
    await t.rejects(purgeCommand(['--status', 'active', '--yes'], cli.io()), { message: narrow })
    await t.rejects(purgeCommand(['--pending-requests-min', '0', '--yes'], cli.io()), { message: narrow })
    // Date.parse reads "5" as the year 2001: every instance would have matched.
    for (const since of ['5', '2026', '12/07/2026', '1w', '90s'])
      await t.rejects(purgeCommand(['--since', since, '--yes'], cli.io()), {
        message: /^--since takes a duration in minutes, hours or days \(30m, 1h, 2d\) or an ISO-8601 date/,
      })
    t.equal(
      (await rows<{ n: number }>(relay.database.db, sql`select count(*)::int as n from instances`))[0]?.n,
      6,
      'nothing was purged',
    )
    const since = new Date(relay.clock.now() - 3 * 60_000).toISOString()
    t.equal(await instancesCommand(['--since', since], cli.io()), 0)
    t.equal(cli.take().out.trim().split('\n').length, 4, 'a date with a time')
    t.equal(await instancesCommand(['--since', since.slice(0, 10)], cli.io()), 0)
    t.equal(cli.take().out.trim().split('\n').length, 6, 'a calendar date: all registered today')
    t.equal(await purgeCommand(['--pending-requests-min', '1'], cli.io()), 1)
    t.match(cli.take().err, /run again with --yes to purge these 3 instances/, 'a minimum of 1 narrows')
  },
)

eachDriver(
  t,
  'purge deletes the attachments the instance uploaded, and its upload tokens',
  async (t, driver) => {
    const { relay, spam } = await spamSetup(t, driver)
    const uploader = spam[0] as TestNode
    const ciphertext = Buffer.from('spam attachment ciphertext')
    const start = async () =>
      (
        await signed(relay, uploader, 'POST', '/v1/blobs', {
          size: ciphertext.byteLength,
          sha256: createHash('sha256').update(ciphertext).digest('base64url'),
        })
      ).json() as { blobId: string; uploadUrl: string; uploadToken: string }
    const put = (blob: { uploadUrl: string; uploadToken: string }) =>
      relay.app.inject({
        method: 'PUT',
        url: blob.uploadUrl,
        headers: { authorization: `Bearer ${blob.uploadToken}`, 'content-type': 'application/octet-stream' },
        payload: ciphertext,
      })
    const uploaded = await start()
    t.equal((await put(uploaded)).statusCode, 200)
    const file = join(relay.config.blobDir, uploaded.blobId.slice(0, 2), uploaded.blobId)
    t.ok(existsSync(file))
    const unfinished = await start()

    const cli = cliIo(relay)
    t.equal(await purgeCommand([uploader.instanceId, '--yes'], cli.io()), 0)
    t.match(cli.take().out, /, 2 attachments\n/)
    t.notOk(existsSync(file), 'its file is deleted')
    t.same(await rows(relay.database.db, sql`select id from blobs`), [], 'and its rows')
    t.equal((await put(unfinished)).statusCode, 404, 'the upload token it still holds is worthless')
    t.notOk(existsSync(join(relay.config.blobDir, unfinished.blobId.slice(0, 2), unfinished.blobId)))
  },
)

/** Resolves once a statement of `database` waits for a row lock another transaction holds. */
async function lockWaiter(database: Database): Promise<void> {
  await eventually(
    async () =>
      ((
        await rows<{ n: number }>(
          database.db,
          sql`select count(*)::int as n from pg_stat_activity
              where datname = current_database() and wait_event_type = 'Lock'`,
        )
      )[0]?.n ?? 0) > 0,
  )
}

/** Holds a transaction open on its own connection until `release` is called. */
function holdTransaction(database: Database, body: (tx: Tx) => Promise<void>) {
  let release = () => {}
  const released = new Promise<void>((resolve) => {
    release = resolve
  })
  let ready = () => {}
  const started = new Promise<void>((resolve) => {
    ready = resolve
  })
  const done = database.db.transaction(async (tx) => {
    await body(tx)
    ready()
    await released
  })
  return { started, release, done }
}

postgresTest(t, 'purge waits for an accept it races, and then leaves the instance alone', async (t) => {
  const { database, url } = await createTestDatabase(t, 'postgres')
  const relay = await buildRelay(t, 'postgres', { clock: tenPast(), database })
  const spam = await registered(relay, 'Spam')
  const globex = await registered(relay, 'Globex')
  const { connection } = (await requestConnection(relay, spam, globex)).json()
  const other = await openPostgres(url ?? '')
  t.teardown(() => other.close())
  // Globex accepts on another connection; its transaction has not committed yet.
  const accept = holdTransaction(other, async (tx) => {
    await lockConnection(tx, connection.id)
    await setConnectionState(tx, { id: connection.id, state: 'accepted', nowMs: relay.clock.now() })
  })
  await accept.started
  const purge = purgeInstance({
    db: database.db,
    store: new FileBlobStore(relay.config.blobDir),
    id: spam.instanceId,
  })
  const first = await Promise.race([purge.then(() => 'purge'), lockWaiter(database).then(() => 'waits')])
  accept.release()
  await accept.done
  t.equal(first, 'waits', 'the purge waits for the accept')
  t.same(await purge, { purged: false, reason: '1 accepted connection: suspend it instead' })
  t.equal(
    (await signed(relay, globex, 'GET', `/v1/connections/${connection.id}`)).json().connection.state,
    'accepted',
  )
})

postgresTest(
  t,
  'a request from an instance being purged waits for the purge and leaves nothing',
  async (t) => {
    const { database, url } = await createTestDatabase(t, 'postgres')
    const relay = await buildRelay(t, 'postgres', { clock: tenPast(), database })
    const spam = await registered(relay, 'Spam')
    const globex = await registered(relay, 'Globex')
    const other = await openPostgres(url ?? '')
    t.teardown(() => other.close())
    // A purge of the spam instance on another connection: its row is locked and deleted, not committed.
    const purge = holdTransaction(other, async (tx) => {
      await lockInstance(tx, spam.instanceId)
      await tx.delete(instances).where(eq(instances.id, spam.instanceId))
    })
    await purge.started
    const request = requestConnection(relay, spam, globex)
    const first = await Promise.race([
      request.then(() => 'answered'),
      lockWaiter(database).then(() => 'waits'),
    ])
    purge.release()
    await purge.done
    t.equal(first, 'waits', 'the request waits for the purge')
    t.equal((await request).statusCode, 401, 'then finds its instance gone')
    t.same(await rows(database.db, sql`select id from connections`), [], 'and adds no request')
  },
)
