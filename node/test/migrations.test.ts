import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Sqlite from 'better-sqlite3'
import { drizzle } from 'drizzle-orm/better-sqlite3'
import { migrate } from 'drizzle-orm/better-sqlite3/migrator'
import t, { type Test } from 'tap'
import { openDatabase } from '../src/db/client.ts'

/** A database file as a node left it with the migrations before `firstMissing` applied. */
function databaseBefore(t: Test, firstMissing: string): { file: string; old: Sqlite.Database } {
  const dir = mkdtempSync(join(tmpdir(), 'ochat-node-upgrade-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const before = join(dir, 'drizzle')
  cpSync(fileURLToPath(new URL('../drizzle', import.meta.url)), before, { recursive: true })
  const journalPath = join(before, 'meta', '_journal.json')
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { tag: string }[] }
  journal.entries = journal.entries.filter((entry) => entry.tag < firstMissing)
  writeFileSync(journalPath, JSON.stringify(journal))
  const file = join(dir, 'node.sqlite')
  const old = new Sqlite(file)
  migrate(drizzle(old), { migrationsFolder: before })
  return { file, old }
}

t.test('rebuilding the notifications table keeps its id counter: no id is ever given twice', async (t) => {
  const { file, old } = databaseBefore(t, '0007')
  old.pragma('foreign_keys = OFF')
  const insert = old.prepare(
    `insert into notifications (partner_id, record_id, reason, channel, created_at) values (1, 1, 'message', 'email', 0)`,
  )
  for (let i = 0; i < 5; i++) insert.run()
  // The newest ones went with their record: the next id must still be 6, or a late bounce report for
  // email 5 (its token names the notification id) would land on someone else's email.
  old.prepare('delete from notifications where id > 3').run()
  old.close()

  const upgraded = openDatabase(file)
  t.teardown(() => upgraded.close())
  const next = upgraded.sqlite
    .prepare(
      `insert into notifications (partner_id, record_id, reason, channel, created_at) values (1, null, 'digest', 'email', 0) returning id`,
    )
    .get() as { id: number }
  t.equal(next.id, 6, 'the counter went on from where it was')
  const view = upgraded.sqlite.prepare('select count(*) as n from email_notifications').get() as { n: number }
  t.equal(view.n, 0, 'the email view reads the rebuilt table (no mail rows joined here)')
})

t.test('a table rebuilt with no rows left keeps its counter too', async (t) => {
  const { file, old } = databaseBefore(t, '0007')
  old.pragma('foreign_keys = OFF')
  old
    .prepare(
      `insert into notifications (partner_id, record_id, reason, channel, created_at) values (1, 1, 'message', 'inbox', 0)`,
    )
    .run()
  old.prepare('delete from notifications').run()
  old.close()
  const upgraded = openDatabase(file)
  t.teardown(() => upgraded.close())
  const next = upgraded.sqlite
    .prepare(
      `insert into notifications (partner_id, record_id, reason, channel, created_at) values (1, 1, 'message', 'inbox', 0) returning id`,
    )
    .get() as { id: number }
  t.equal(next.id, 2)
})
