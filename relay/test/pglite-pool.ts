import { createHash } from 'node:crypto'
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PGlite } from '@electric-sql/pglite'
import type { Test } from 'tap'
import { type Database, migrateDatabase, pgliteDatabase } from '../src/db/client.ts'

/**
 * In-memory PGlite databases for the tests, each one empty and migrated, as a throwaway PostgreSQL
 * database is. A fresh PGlite runs initdb, which takes seconds, and the migrations; instead:
 *   - an image of an empty migrated database is made once per migrations version and kept in the
 *     temporary directory, so every test process starts its first database from it;
 *   - a database a test closed is emptied (every table truncated, every sequence restarted) and given
 *     to the next test of the same process. Idle ones are closed when the file's tests end.
 * Starting from an empty directory, migrations included, stays tested where the relay opens its own
 * file-backed PGlite (replicas.test.ts, cli.test.ts, the e2e start test).
 */

const MIGRATIONS = fileURLToPath(new URL('../drizzle', import.meta.url))
const idle: PGlite[] = []
let image: Promise<Blob> | undefined
/** The schema of a database fresh from the image, taken from the first one opened. */
let imagePrint: Promise<string> | undefined

let closingAtEnd = false

export async function openTestPglite(t: Test): Promise<Database> {
  if (!closingAtEnd) {
    closingAtEnd = true
    // On the file's root test, which runs its teardowns when the file ends (scripts/test-group.mjs
    // runs several files to a process). Importing tap here would start a tap run in every process that loads
    // the test helpers, the benches included.
    let root = t
    while (root.parent) root = root.parent as Test
    root.teardown(async () => {
      closingAtEnd = false
      await Promise.all(idle.splice(0).map((client) => client.close()))
    })
  }
  const reused = idle.pop()
  const client = reused ?? new PGlite({ loadDataDir: await migratedImage() })
  await client.waitReady
  imagePrint ??= fingerprint(client)
  if (reused) await empty(client)
  const database = pgliteDatabase(client)
  const unsubscribes: (() => Promise<void>)[] = []
  let closed = false
  return {
    ...database,
    async listen(channel, fn) {
      const unsubscribe = await database.listen(channel, fn)
      unsubscribes.push(unsubscribe)
      return unsubscribe
    },
    async close() {
      if (closed) return
      closed = true
      await Promise.all(unsubscribes.map((unsubscribe) => unsubscribe()))
      // A test that changed the schema (an upgrade test adds and drops migrations) leaves a database
      // the next test must not get: it is closed instead.
      if ((await fingerprint(client)) === (await imagePrint)) idle.push(client)
      else await client.close()
    },
  }
}

/**
 * The schema as the tests see it: every column, index and applied migration. Empty tables of the same
 * schema print the same; a database whose schema cannot be read prints nothing that matches.
 */
async function fingerprint(client: PGlite): Promise<string> {
  try {
    const found = await client.query<{ print: string }>(
      `select md5(coalesce(string_agg(item, ',' order by item), '')) as print from (
         select 'c:' || table_schema || '.' || table_name || '.' || column_name || ':' || data_type as item
           from information_schema.columns where table_schema not in ('pg_catalog', 'information_schema')
         union all
         select 'i:' || schemaname || '.' || indexdef from pg_indexes where schemaname <> 'pg_catalog'
         union all
         select 'm:' || hash || ':' || created_at from drizzle.__drizzle_migrations
       ) items`,
    )
    return found.rows[0]?.print ?? ''
  } catch {
    return ''
  }
}

/** Every table of the relay's schema emptied and every sequence back at its start. */
async function empty(client: PGlite): Promise<void> {
  const tables = await client.query<{ name: string }>(
    `select quote_ident(tablename) as name from pg_tables where schemaname = 'public'`,
  )
  const sequences = await client.query<{ name: string }>(
    `select quote_ident(sequencename) as name from pg_sequences where schemaname = 'public'`,
  )
  const statements = [
    `truncate ${tables.rows.map((table) => table.name).join(', ')} restart identity cascade`,
    ...sequences.rows.map((sequence) => `alter sequence ${sequence.name} restart`),
  ]
  await client.exec(statements.join(';\n'))
}

function migratedImage(): Promise<Blob> {
  image ??= (async () => {
    // The PGlite version is part of its installed path: a new one makes a new image.
    const path = join(
      tmpdir(),
      `ochat-relay-pglite-${migrationsVersion(import.meta.resolve('@electric-sql/pglite'))}.tar`,
    )
    try {
      return new Blob([readFileSync(path)])
    } catch {
      // Not made yet on this machine.
    }
    const client = new PGlite()
    await client.waitReady
    await migrateDatabase(pgliteDatabase(client))
    const made = await client.dumpDataDir('none')
    await client.close()
    // Written aside and renamed, so a test process running at the same time never reads half of it.
    const partial = `${path}.${process.pid}`
    writeFileSync(partial, Buffer.from(await made.arrayBuffer()))
    renameSync(partial, path)
    return made
  })()
  return image
}

/** Changes whenever a migration (or `salt`) does. */
export function migrationsVersion(salt = ''): string {
  const hash = createHash('sha256').update(salt)
  const files = readdirSync(MIGRATIONS, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort()
  for (const path of files) hash.update(path.slice(MIGRATIONS.length)).update(readFileSync(path))
  return hash.digest('hex').slice(0, 16)
}
