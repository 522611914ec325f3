// Upgrades: every migration, from every earlier schema, on PostgreSQL and on PGlite. For each step of
// the journal, a database is made at that step with drizzle's migrator on the migrations up to it, given
// one row per table with the columns that table has at that step, and then migrated as `migrate` and
// `serve` do: the migrations run in order, every row stays, foreign keys hold, and the relay starts on it.
import { createHash, randomUUID } from 'node:crypto'
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sql } from 'drizzle-orm'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator'
import postgres from 'postgres'
import tap, { type Test } from 'tap'
import { main } from '../src/cli.ts'
import { type Database, migrateDatabase, openPostgres, rows } from '../src/db/client.ts'
import { appliedWhens, describePlan, knownMigrations, planMigrations } from '../src/db/pending-migrations.ts'
import { buildRelay, createTestDatabase, DRIVERS, type Driver, eachDriver } from './helpers.ts'

const FOLDER = fileURLToPath(new URL('../drizzle', import.meta.url))
const known = knownMigrations()

/** Plain SQL on either driver: the fixture speaks to the tables, not to the relay's code. */
type Raw = (text: string) => Promise<Record<string, unknown>[]>
const rawOn =
  (database: Database): Raw =>
  (text) =>
    rows<Record<string, unknown>>(database.db, sql.raw(text))

/** A folder of the first `count` committed migrations, as an older relay shipped them. */
function olderMigrations(t: Test, count: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'ochat-relay-upgrade-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  cpSync(FOLDER, dir, { recursive: true })
  const journalPath = join(dir, 'meta', '_journal.json')
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: unknown[] }
  journal.entries = journal.entries.slice(0, count)
  writeFileSync(journalPath, JSON.stringify(journal))
  return dir
}

/**
 * One PostgreSQL database for this file's steps, dropped at its end: each step empties it of every
 * schema first (making and dropping a database per step costs seconds each on a busy machine).
 */
let stepsDatabase: Promise<string> | undefined
async function emptyDatabase(t: Test, driver: Driver): Promise<{ database: Database; url?: string }> {
  if (driver === 'pglite') return createTestDatabase(t, 'pglite')
  stepsDatabase ??= createTestDatabase(tap, 'postgres', { empty: true }).then(async ({ database, url }) => {
    await database.close()
    return url ?? ''
  })
  const url = await stepsDatabase
  return { database: await openPostgres(url), url }
}

/**
 * A database with the first `count` migrations applied, run by drizzle's migrator as an older relay
 * ran them, on a database emptied of every schema: on PGlite a test database (a new PGlite cluster
 * per step would cost seconds each), on PostgreSQL this file's database.
 */
async function databaseAtStep(
  t: Test,
  driver: Driver,
  count: number,
): Promise<{ database: Database; url?: string }> {
  const { database, url } = await emptyDatabase(t, driver)
  const raw = rawOn(database)
  await raw('drop schema if exists drizzle cascade')
  await raw('drop schema public cascade')
  await raw('create schema public')
  const migrationsFolder = olderMigrations(t, count)
  if (driver === 'pglite') await migratePglite(database.db as never, { migrationsFolder })
  else {
    // Its own connection, as migrateDatabase does: statements without the relay's prepared-statement pool.
    const one = postgres(url ?? '', { max: 1, onnotice: () => {} })
    try {
      await migratePostgres(drizzlePostgres(one), { migrationsFolder })
    } finally {
      await one.end({ timeout: 5 })
    }
  }
  return { database, ...(url ? { url } : {}) }
}

type Row = Record<string, string>
type Table = { name: string; columns: { name: string; type: string }[]; key: string[] }

const literal = (value: string | undefined) => `'${(value ?? '').replaceAll("'", "''")}'`

/** Every table of the relay's schema with its columns as they are now, and its primary key. */
async function tablesOf(raw: Raw): Promise<Table[]> {
  const columns = (await raw(
    `select c.table_name as table, c.column_name as name, format_type(a.atttypid, a.atttypmod) as type
       from information_schema.columns c
       join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
       join pg_attribute a on a.attrelid = format('public.%I', c.table_name)::regclass and a.attname = c.column_name
      where c.table_schema = 'public' and t.table_type = 'BASE TABLE'
      order by c.table_name, c.ordinal_position`,
  )) as { table: string; name: string; type: string }[]
  const keys = (await raw(
    `select cl.relname as table, a.attname as name
       from pg_constraint k join pg_class cl on cl.oid = k.conrelid
       join pg_namespace n on n.oid = cl.relnamespace
       join pg_attribute a on a.attrelid = k.conrelid and a.attnum = any(k.conkey)
      where k.contype = 'p' and n.nspname = 'public'`,
  )) as { table: string; name: string }[]
  const tables = new Map<string, Table>()
  for (const column of columns) {
    const table = tables.get(column.table) ?? { name: column.table, columns: [], key: [] }
    table.columns.push({ name: column.name, type: column.type })
    tables.set(column.table, table)
  }
  for (const key of keys) tables.get(key.table)?.key.push(key.name)
  return [...tables.values()]
}

/** A value of each column type the relay uses, as text PostgreSQL casts to the column's type. */
function valueFor(type: string, step: number): string {
  if (type === 'uuid') return randomUUID()
  if (/^(bigint|integer|smallint)$/.test(type)) return String(1 + step)
  if (type === 'boolean') return 'true'
  if (/^(double precision|real|numeric)/.test(type)) return '1.5'
  if (type === 'jsonb' || type === 'json') return '{}'
  if (type === 'bytea') return '\\x6f63686174'
  if (type === 'text' || type.startsWith('character')) return `text@${step}`
  // A type this fixture does not know yet: better to say so than to guess.
  throw new Error(`the upgrade fixture has no value for a ${type} column: add one to valueFor`)
}

/**
 * One row for every table, with every column it has at this step (nullable ones too, so a migration
 * that rewrites a table must keep them). The relay's tables have no foreign keys (checked below).
 */
async function insertFixture(raw: Raw, step: number): Promise<Map<string, Row>> {
  const rows = new Map<string, Row>()
  for (const table of await tablesOf(raw)) {
    const row = Object.fromEntries(table.columns.map((column) => [column.name, valueFor(column.type, step)]))
    const names = table.columns.map((column) => `"${column.name}"`).join(', ')
    const values = table.columns.map((column) => `${literal(row[column.name])}::${column.type}`).join(', ')
    await raw(`insert into "${table.name}" (${names}) values (${values})`)
    rows.set(table.name, row)
  }
  return rows
}

/** Each fixture row as it is now, every column as text, found by its primary key; absent when gone. */
async function rowsNow(raw: Raw, rows: Map<string, Row>): Promise<Map<string, Row | undefined>> {
  const found = new Map<string, Row | undefined>()
  for (const table of await tablesOf(raw)) {
    const row = rows.get(table.name)
    if (!row) continue
    const key = table.key.length > 0 ? table.key : table.columns.map((column) => column.name)
    const where = key.map((name) => `"${name}"::text = ${literal(row[name])}`).join(' and ')
    const columns = table.columns.map((column) => `"${column.name}"::text as "${column.name}"`).join(', ')
    const [now] = await raw(`select ${columns} from "${table.name}" where ${where}`)
    found.set(table.name, now as Row | undefined)
  }
  return found
}

/** Rows whose foreign key points nowhere, for every foreign key of the schema (as SQLite's foreign_key_check). */
async function foreignKeyViolations(raw: Raw): Promise<string[]> {
  const keys = (await raw(
    `select conname as name, conrelid::regclass::text as child, confrelid::regclass::text as parent,
            (select array_agg(attname order by attnum) from pg_attribute where attrelid = conrelid and attnum = any(conkey))::text[] as cols,
            (select array_agg(attname order by attnum) from pg_attribute where attrelid = confrelid and attnum = any(confkey))::text[] as refs
       from pg_constraint where contype = 'f' and connamespace = 'public'::regnamespace`,
  )) as { name: string; child: string; parent: string; cols: string[]; refs: string[] }[]
  const violations: string[] = []
  for (const key of keys) {
    const match = key.cols.map((col, i) => `p."${key.refs[i]}" = c."${col}"`).join(' and ')
    const set = key.cols.map((col) => `c."${col}" is not null`).join(' and ')
    const [row] = await raw(
      `select count(*)::int as n from ${key.child} c where ${set} and not exists (select 1 from ${key.parent} p where ${match})`,
    )
    if (Number(row?.n) > 0) violations.push(`${key.name}: ${row?.n} rows`)
  }
  return violations
}

const hashOf = (tag: string) =>
  createHash('sha256')
    .update(readFileSync(join(FOLDER, `${tag}.sql`)))
    .digest('hex')

for (let step = 1; step < known.length; step++) {
  const at = known[step - 1]
  eachDriver(tap, `from ${at?.tag} (${step} of ${known.length} applied) to the latest`, async (t, driver) => {
    const { database } = await databaseAtStep(t, driver, step)
    const raw = rawOn(database)
    const rows = await insertFixture(raw, step)

    const plan = planMigrations(await appliedWhens(database.db))
    t.same(
      plan.state === 'pending' ? plan.migrations.map((migration) => migration.tag) : [],
      known.slice(step).map((migration) => migration.tag),
      'the dry run lists what is left, in order',
    )
    await migrateDatabase(database)

    const recorded = (await raw(
      'select hash, created_at::text as "when" from drizzle.__drizzle_migrations order by id',
    )) as { hash: string; when: string }[]
    t.same(
      recorded.map((row) => [Number(row.when), row.hash]),
      known.map((migration) => [migration.when, hashOf(migration.tag)]),
      'every migration recorded once, in journal order',
    )
    t.same(await foreignKeyViolations(raw), [], 'foreign keys hold')
    const after = await rowsNow(raw, rows)
    for (const [table, row] of rows) {
      const now = after.get(table)
      if (!now) {
        t.fail(`the ${table} row is gone`)
        continue
      }
      for (const [column, value] of Object.entries(row))
        if (column in now && now[column] !== value)
          t.fail(`${table}.${column} was ${value}, is ${String(now[column])}`)
    }
    t.pass(`all ${rows.size} fixture rows still there`)

    const relay = await buildRelay(t, driver, { database })
    t.equal(
      (await relay.app.inject({ method: 'GET', url: '/v1/info' })).statusCode,
      200,
      'the relay starts on it',
    )
  })
}

type Ran = { code: number; stdout: string; stderr: string }

/** `ochat-relay` in this process, with only this environment. */
async function cli(env: Record<string, string>, ...args: string[]): Promise<Ran> {
  let stdout = ''
  let stderr = ''
  const write = (to: 'out' | 'err') => (text: string) => {
    if (to === 'out') stdout += text
    else stderr += text
  }
  const code = await main(args, { env, out: { write: write('out') }, err: { write: write('err') } })
  return { code, stdout, stderr }
}

/** What `migrate` may not change: the migrations recorded, the tables, indexes and functions, the rows. */
async function snapshot(raw: Raw, rows: Map<string, Row>) {
  return {
    migrations: await raw('select id, hash, created_at::text from drizzle.__drizzle_migrations order by id'),
    columns: await raw(
      `select table_name, column_name, data_type, column_default from information_schema.columns
        where table_schema = 'public' order by table_name, column_name`,
    ),
    indexes: await raw(
      `select indexname, indexdef from pg_indexes where schemaname = 'public' order by indexname`,
    ),
    functions: await raw(
      `select p.proname, md5(p.prosrc) as body from pg_proc p where p.pronamespace = 'public'::regnamespace order by 1, 2`,
    ),
    rows: await rowsNow(raw, rows),
  }
}

tap.test('a new PGlite data directory: the dry run lists every migration and creates nothing', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ochat-relay-upgrade-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const dry = await cli({ RELAY_DATA_DIR: dataDir }, 'migrate', '--dry-run')
  t.equal(dry.code, 0)
  t.match(dry.stdout, new RegExp(`^${known.length} migrations would run \\(0 applied\\), in this order:\n`))
  t.match(dry.stdout, /^ {2}0000_init +CREATE TABLE "blob_grants" \($/m, 'each with its first line')
  t.match(
    dry.stdout,
    /^ {2}0001_submit_envelopes +Group commit of envelope submits in one round trip/m,
    'or its comment',
  )
  t.match(dry.stdout, /nothing was changed \(dry run\)\n$/)
  t.same(readdirSync(dataDir), [], 'no database made')
  t.match(await cli({ RELAY_DATA_DIR: dataDir }, 'migrate', '--yes'), {
    code: 2,
    stderr: /Unknown option '--yes'.*usage: ochat-relay migrate \[--dry-run\]/,
  })
})

eachDriver(tap, 'migrating twice changes nothing', async (t, driver) => {
  const { database, url } = await databaseAtStep(t, driver, 1)
  t.teardown(() => database.close())
  const raw = rawOn(database)
  // PostgreSQL through the command an operator runs; PGlite in memory through what it calls.
  const migrate = async (...args: string[]) => {
    if (url) return cli({ DATABASE_URL: url, RELAY_DATA_DIR: tmpdir() }, 'migrate', ...args)
    const plan = planMigrations(await appliedWhens(database.db))
    if (plan.state === 'newer') throw new Error('unexpected: newer')
    if (args.includes('--dry-run')) return { code: 0, stdout: describePlan(plan), stderr: '' }
    await migrateDatabase(database)
    return { code: 0, stdout: '', stderr: '' }
  }
  t.match(await migrate('--dry-run'), {
    code: 0,
    stdout: new RegExp(`^${known.length - 1} migrations would run \\(1 applied\\)`),
  })
  t.equal((await migrate()).code, 0)
  const rows = await insertFixture(raw, known.length)
  const first = await snapshot(raw, rows)
  t.same(await migrate('--dry-run'), {
    code: 0,
    stdout: `nothing to apply: all ${known.length} migrations are applied\n`,
    stderr: '',
  })
  for (const run of [1, 2]) t.equal((await migrate()).code, 0, `migrate, run ${run}`)
  t.same(await snapshot(raw, rows), first, 'the same migrations recorded, the same schema, the same rows')
})

eachDriver(
  tap,
  'a database a newer ochat-relay migrated is refused, and left as it is',
  async (t, driver) => {
    const { database, url } = await databaseAtStep(t, driver, known.length)
    t.teardown(() => database.close())
    const raw = rawOn(database)
    const latest = known.at(-1)
    if (!latest) throw new Error('no migrations')
    const later = latest.when + 86_400_000
    await raw(`insert into drizzle.__drizzle_migrations (hash, created_at) values ('newer', ${later})`)
    t.same(planMigrations(await appliedWhens(database.db)), { state: 'newer', when: later, latest })
    // The command itself needs a database it can reach by URL or in a data directory: PostgreSQL here.
    if (!url) return
    const before = await raw(
      'select id, hash, created_at::text from drizzle.__drizzle_migrations order by id',
    )
    const refusal = new RegExp(
      `the database holds a migration this ochat-relay does not have \\(recorded at ${new Date(later).toISOString().replaceAll('.', '\\.')}, after its last, ${latest.tag}\\): a newer ochat-relay migrated it\\. Run that version or a newer one; nothing was changed`,
    )
    for (const args of [['migrate'], ['migrate', '--dry-run']]) {
      const answer = await cli({ DATABASE_URL: url, RELAY_DATA_DIR: tmpdir() }, ...args)
      t.equal(answer.code, 2, args.join(' '))
      t.match(answer.stderr, refusal)
      t.equal(answer.stdout, '')
    }
    t.same(
      await raw('select id, hash, created_at::text from drizzle.__drizzle_migrations order by id'),
      before,
      'nothing recorded',
    )
  },
)

for (const driver of DRIVERS)
  tap.test(`serve refuses a database a newer ochat-relay migrated [${driver}]`, async (t) => {
    const { database } = await databaseAtStep(t, driver, known.length)
    await rawOn(database)(
      `insert into drizzle.__drizzle_migrations (hash, created_at) values ('newer', ${(known.at(-1)?.when ?? 0) + 86_400_000})`,
    )
    await t.rejects(buildRelay(t, driver, { database }), /a newer ochat-relay migrated it/)
    // Refused before the relay took the database over: it is still this test's to close.
    await database.close()
  })
