// Upgrades: every migration, from every earlier schema. For each step of the journal, a database is
// made at that step with drizzle's migrator on the migrations up to it, given one row per table with
// the columns that table has at that step, and then migrated by `ochat-node migrate` as an operator
// would: the migrations run in order, every row stays, foreign keys hold, and the node starts on it.
import { createHash } from 'node:crypto'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { PassThrough } from 'node:stream'
import { fileURLToPath } from 'node:url'
import Sqlite from 'better-sqlite3'
import { drizzle } from 'drizzle-orm/better-sqlite3'
import { migrate } from 'drizzle-orm/better-sqlite3/migrator'
import { getTableConfig, type SQLiteColumn, SQLiteTable } from 'drizzle-orm/sqlite-core'
import t, { type Test } from 'tap'
import { main } from '../src/cli.ts'
import { knownMigrations } from '../src/db/pending-migrations.ts'
import * as schema from '../src/db/schema.ts'
import { buildNode, buildUser } from './helpers.ts'

const FOLDER = fileURLToPath(new URL('../drizzle', import.meta.url))
const known = knownMigrations()

async function cli(args: string[], dataDir: string) {
  let stdout = ''
  let stderr = ''
  const code = await main(args, {
    env: { NODE_DATA_DIR: dataDir, NODE_LOG_LEVEL: 'silent' },
    out: (text) => {
      stdout += text
    },
    err: (text) => {
      stderr += text
    },
  })
  return { code, stdout, stderr }
}

/** A data directory whose database has the first `count` migrations applied, as an older node left it. */
function dataDirAtStep(t: Test, count: number): { dataDir: string; file: string } {
  const dataDir = mkdtempSync(join(tmpdir(), 'ochat-node-upgrade-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const older = join(dataDir, 'older-drizzle')
  cpSync(FOLDER, older, { recursive: true })
  const journalPath = join(older, 'meta', '_journal.json')
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: unknown[] }
  journal.entries = journal.entries.slice(0, count)
  writeFileSync(journalPath, JSON.stringify(journal))
  const file = join(dataDir, 'node.sqlite')
  const sqlite = new Sqlite(file)
  sqlite.pragma('journal_mode = WAL')
  migrate(drizzle(sqlite), { migrationsFolder: older })
  sqlite.close()
  return { dataDir, file }
}

type ColumnInfo = { name: string; type: string; pk: number }
type ForeignKey = { table: string; from: string; to: string | null }
type Row = Record<string, string | number | Buffer>

/** The latest schema's column kinds, to give an old column a value its code can read. */
const latestColumns = new Map<string, SQLiteColumn>()
for (const table of Object.values(schema)) {
  if (!(table instanceof SQLiteTable)) continue
  const config = getTableConfig(table)
  for (const column of config.columns) latestColumns.set(`${config.name}.${column.name}`, column)
}

/** JSON columns whose code reads a list; the others hold an object. */
const JSON_LISTS = new Set(['scopes', 'events', 'actions', 'history', 'subtypes', 'next_type_keys'])

/**
 * Text the code reads as one of a closed set that the drizzle schema does not list, and JSON a
 * migration rewrites (scopes: a key made before 0003 that reads records).
 */
const CLOSED_TEXT: Record<string, string> = {
  'messages.kind': 'message',
  'api_keys.scopes': '["records:read"]',
}

function valueFor(table: string, column: ColumnInfo, step: number): string | number | Buffer {
  const closed = CLOSED_TEXT[`${table}.${column.name}`]
  if (closed) return closed
  const type = column.type.toUpperCase()
  if (type.includes('INT')) return column.pk ? 1 : 1 + step
  if (type.includes('REAL') || type.includes('FLOA') || type.includes('DOUB')) return 1.5
  if (type.includes('BLOB')) return Buffer.from(`${table}.${column.name}`)
  const latest = latestColumns.get(`${table}.${column.name}`)
  if (latest?.enumValues?.[0]) return latest.enumValues[0]
  if (latest?.columnType === 'SQLiteTextJson') return JSON_LISTS.has(column.name) ? '[]' : '{}'
  return `${table}.${column.name}@${step}`
}

/**
 * One row for every table of the database, with every column it has now (nullable ones too, so a
 * migration that copies a table must copy them), and each foreign key pointing at the row of the
 * table it references.
 */
function fixtureRows(sqlite: Sqlite.Database, step: number): Map<string, Row> {
  // Ordinary tables only: a full-text index's virtual and shadow tables are written through its triggers.
  const tables = (sqlite.pragma('table_list') as { schema: string; name: string; type: string }[])
    .filter(
      (table) =>
        table.schema === 'main' &&
        table.type === 'table' &&
        !table.name.startsWith('sqlite_') &&
        table.name !== '__drizzle_migrations',
    )
    .map((table) => table.name)
    .sort()
  const rows = new Map<string, Row>()
  const keys = new Map<string, ForeignKey[]>()
  for (const table of tables) {
    const columns = sqlite.prepare(`pragma table_info("${table}")`).all() as ColumnInfo[]
    rows.set(table, Object.fromEntries(columns.map((column) => [column.name, valueFor(table, column, step)])))
    keys.set(table, sqlite.prepare(`pragma foreign_key_list("${table}")`).all() as ForeignKey[])
  }
  // A key may point at a column that is itself a key: settle until nothing changes.
  for (let changed = true; changed; ) {
    changed = false
    for (const [table, foreign] of keys) {
      const row = rows.get(table)
      for (const key of foreign) {
        const parent = rows.get(key.table)
        const value = parent?.[key.to ?? primaryKeyOf(sqlite, key.table)]
        if (row && value !== undefined && row[key.from] !== value) {
          row[key.from] = value
          changed = true
        }
      }
    }
  }
  return rows
}

function primaryKeyOf(sqlite: Sqlite.Database, table: string): string {
  const columns = sqlite.prepare(`pragma table_info("${table}")`).all() as ColumnInfo[]
  return columns.find((column) => column.pk === 1)?.name ?? 'rowid'
}

function insertRows(sqlite: Sqlite.Database, rows: Map<string, Row>): void {
  // Parents and children go in any order; the whole is checked below, before the upgrade.
  sqlite.pragma('foreign_keys = OFF')
  sqlite.transaction(() => {
    for (const [table, row] of rows) {
      const names = Object.keys(row)
      sqlite
        .prepare(
          `insert into "${table}" (${names.map((name) => `"${name}"`).join(', ')}) values (${names.map(() => '?').join(', ')})`,
        )
        .run(...Object.values(row))
    }
  })()
  sqlite.pragma('foreign_keys = ON')
}

/** Each fixture row as it is now, by the rowid it was given; absent when it is gone. */
function rowsNow(sqlite: Sqlite.Database, rows: Map<string, Row>): Map<string, Row | undefined> {
  const found = new Map<string, Row | undefined>()
  for (const [table, row] of rows) {
    const key = primaryKeyOf(sqlite, table)
    found.set(
      table,
      sqlite.prepare(`select * from "${table}" where "${key}" = ?`).get(row[key] ?? 1) as Row | undefined,
    )
  }
  return found
}

/** Values a migration changes on purpose: `table.column`, by which migration, and to what. */
const CHANGED_ON_PURPOSE: Record<string, { by: string; to: string }> = {
  // Keys that read records were given models:read when reading models came to need it.
  'api_keys.scopes': { by: '0003_login_throttle', to: '["records:read","models:read"]' },
  // Activity type icons became names of the UI's SVG icons; one that is not a known emoji gets the default.
  'activity_types.icon': { by: '0015_avatars_and_plans', to: 'square-check' },
}

const hashOf = (tag: string) =>
  createHash('sha256')
    .update(readFileSync(join(FOLDER, `${tag}.sql`)))
    .digest('hex')

const fileHash = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex')

for (let step = 1; step < known.length; step++) {
  const at = known[step - 1]
  t.test(`from ${at?.tag} (${step} of ${known.length} applied) to the latest`, async (t) => {
    const { dataDir, file } = dataDirAtStep(t, step)
    const old = new Sqlite(file)
    const rows = fixtureRows(old, step)
    insertRows(old, rows)
    t.same(old.pragma('foreign_key_check'), [], 'the fixture is consistent at its own step')
    old.close()

    const before = fileHash(file)
    const dry = await cli(['migrate', '--dry-run'], dataDir)
    t.equal(dry.code, 0)
    t.equal(fileHash(file), before, 'the dry run changed nothing')
    const pending = known.slice(step).map((migration) => migration.tag)
    t.same(
      [...dry.stdout.matchAll(/^ {2}(\d{4}_\S+)/gm)].map((match) => match[1]),
      pending,
      'the dry run lists what is left, in order',
    )

    const migrated = await cli(['migrate'], dataDir)
    t.equal(migrated.code, 0, migrated.stderr)

    const sqlite = new Sqlite(file)
    t.teardown(() => sqlite.close())
    const recorded = sqlite
      .prepare('select hash, created_at from __drizzle_migrations order by id')
      .all() as {
      hash: string
      created_at: number
    }[]
    t.same(
      recorded.map((row) => [Number(row.created_at), row.hash]),
      known.map((migration) => [migration.when, hashOf(migration.tag)]),
      'every migration recorded once, in journal order',
    )
    t.same(sqlite.pragma('foreign_key_check'), [], 'foreign keys hold')
    t.equal(sqlite.pragma('integrity_check', { simple: true }), 'ok')
    const after = rowsNow(sqlite, rows)
    for (const [table, row] of rows) {
      const now = after.get(table)
      if (!now) {
        t.fail(`the ${table} row is gone`)
        continue
      }
      for (const [column, value] of Object.entries(row)) {
        if (!(column in now)) continue
        const purpose = CHANGED_ON_PURPOSE[`${table}.${column}`]
        const ran = (tag: string) => known.findIndex((migration) => migration.tag === tag) >= step
        const expected = purpose && ran(purpose.by) ? purpose.to : value
        if (now[column] !== expected && !(Buffer.isBuffer(value) && value.equals(now[column] as Buffer)))
          t.fail(
            `${table}.${column} was ${String(value)}, is ${String(now[column])}, not ${String(expected)}`,
          )
      }
    }
    t.pass(`all ${rows.size} fixture rows still there`)

    const log = new PassThrough()
    const logged: string[] = []
    log.on('data', (chunk: Buffer) => logged.push(String(chunk)))
    const node = await buildNode(t, { dataDir, env: { NODE_LOG_LEVEL: 'error' }, logStream: log })

    const health = await node.app.inject({ method: 'GET', url: '/healthz' })
    t.equal(health.statusCode, 200, 'the node starts on it')
    const admin = await buildUser(node, { role: 'admin' })
    const record = await admin.call('GET', '/api/v1/records/1')
    t.equal(record.status, 200, `the old record reads: ${JSON.stringify(record.body)}`)
    const messages = await admin.call('GET', '/api/v1/records/1/messages')
    t.equal(messages.status, 200, `its chatter reads: ${JSON.stringify(messages.body)}`)
    t.same(
      messages.body.items?.map((item: { id: number }) => item.id),
      [1],
      'with the old message',
    )
    t.same(logged, [], 'and logged no error')
  })
}

t.test('a new data directory: the dry run lists every migration and creates nothing', async (t) => {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'ochat-node-upgrade-')), 'company')
  t.teardown(() => rmSync(dirname(dataDir), { recursive: true, force: true }))
  const dry = await cli(['migrate', '--dry-run'], dataDir)
  t.equal(dry.code, 0)
  t.match(dry.stdout, new RegExp(`^${known.length} migrations would run \\(0 applied\\), in this order:\n`))
  t.match(dry.stdout, /^ {2}0000_init +CREATE TABLE `activities` \($/m, 'each with its first line')
  t.match(
    dry.stdout,
    /^ {2}0007_digest_and_mail_contacts +The view reads notifications, which is rebuilt here/m,
    'or its comment',
  )
  t.match(dry.stdout, /nothing was changed \(dry run\)\n$/)
  t.notOk(existsSync(dataDir), 'no directory made')
  t.match(await cli(['migrate', '--dry-run', '--yes'], dataDir), {
    code: 2,
    stderr: /Unknown option '--yes'.*usage: ochat-node migrate \[--dry-run\]/,
  })
})

t.test('migrating twice changes nothing', async (t) => {
  const { dataDir, file } = dataDirAtStep(t, known.length)
  const sqlite = new Sqlite(file)
  const rows = fixtureRows(sqlite, known.length)
  insertRows(sqlite, rows)
  const snapshot = () => ({
    migrations: sqlite.prepare('select * from __drizzle_migrations order by id').all(),
    schema: sqlite.prepare('select type, name, sql from sqlite_master order by name').all(),
    rows: rowsNow(sqlite, rows),
  })
  const first = snapshot()
  sqlite.close()
  const dry = await cli(['migrate', '--dry-run'], dataDir)
  t.same(dry, {
    code: 0,
    stdout: `nothing to apply: all ${known.length} migrations are applied\n`,
    stderr: '',
  })
  for (const run of [1, 2]) t.equal((await cli(['migrate'], dataDir)).code, 0, `migrate, run ${run}`)
  const again = new Sqlite(file)
  t.teardown(() => again.close())
  t.same(
    {
      migrations: again.prepare('select * from __drizzle_migrations order by id').all(),
      schema: again.prepare('select type, name, sql from sqlite_master order by name').all(),
      rows: rowsNow(again, rows),
    },
    first,
    'the same migrations recorded, the same schema, the same rows',
  )
})

t.test('a database a newer ochat-node migrated is refused by migrate, and left as it is', async (t) => {
  const { dataDir, file } = dataDirAtStep(t, known.length)
  const sqlite = new Sqlite(file)
  const latest = known.at(-1)
  if (!latest) throw new Error('no migrations')
  const later = latest.when + 86_400_000
  sqlite.prepare('insert into __drizzle_migrations (hash, created_at) values (?, ?)').run('newer', later)
  sqlite.close()
  const before = fileHash(file)
  const refusal = new RegExp(
    `holds a migration this ochat-node does not have \\(recorded at ${new Date(later).toISOString().replaceAll('.', '\\.')}, after its last, ${latest.tag}\\): a newer ochat-node migrated it\\. Run that version or a newer one; nothing was changed`,
  )
  for (const args of [['migrate'], ['migrate', '--dry-run']]) {
    const answer = await cli(args, dataDir)
    t.equal(answer.code, 2, args.join(' '))
    t.match(answer.stderr, refusal)
    t.equal(answer.stdout, '')
  }
  t.equal(fileHash(file), before, 'the database is as it was')
})

t.test('serve refuses a database a newer ochat-node migrated', async (t) => {
  const { dataDir, file } = dataDirAtStep(t, known.length)
  const sqlite = new Sqlite(file)
  sqlite
    .prepare('insert into __drizzle_migrations (hash, created_at) values (?, ?)')
    .run('newer', (known.at(-1)?.when ?? 0) + 86_400_000)
  sqlite.close()
  await t.rejects(buildNode(t, { dataDir }), /a newer ochat-node migrated it/)
})
