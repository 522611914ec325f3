import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import Sqlite from 'better-sqlite3'
import { z } from 'zod'

const JOURNAL = fileURLToPath(new URL('../../drizzle/meta/_journal.json', import.meta.url))

const JournalSchema = z.object({ entries: z.array(z.object({ tag: z.string(), when: z.number() })) })

/** The migrations this build knows, oldest first: drizzle records each applied one by its `when`. */
export function buildMigrations(): { tag: string; when: number }[] {
  return JournalSchema.parse(JSON.parse(readFileSync(JOURNAL, 'utf8'))).entries.map(({ tag, when }) => ({
    tag,
    when,
  }))
}

/**
 * A consistent copy of the database at `source` into `target` (a new file), made on a worker thread
 * with its own read-only connection: it may run beside a node writing to the same file.
 */
export async function snapshotDatabase(source: string, target: string, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted()
  const worker = new Worker(fileURLToPath(new URL('./snapshot-worker.mjs', import.meta.url)), {
    workerData: { source, target },
    // Plain JavaScript: the parent's loaders would only slow its start.
    execArgv: [],
  })
  const stop = () => void worker.terminate()
  signal?.addEventListener('abort', stop, { once: true })
  // Listened for from the start: the thread may exit right after its message.
  const exited = once(worker, 'exit') as Promise<[number]>
  const answered = once(worker, 'message') as Promise<[{ type: string }]>
  try {
    const [message] = await Promise.race([
      answered,
      exited.then(([code]) => {
        signal?.throwIfAborted()
        throw new Error(`the database copy stopped (thread exit code ${code})`)
      }),
    ])
    if (message.type !== 'done') throw new Error('the database copy did not finish')
    await exited
  } finally {
    signal?.removeEventListener('abort', stop)
  }
}

export type SnapshotContents = {
  /** The last migration applied: its `when`, and its tag when this build knows it. */
  schema: { migration: string; when: number }
  /** SHA-256 (hex) of every attachment a row references. */
  contents: string[]
  /** Raw refused mails kept for inspection, relative to the data directory. */
  rawMails: string[]
}

/** What a database copy needs beside it, and its schema version. */
export function readSnapshot(file: string): SnapshotContents {
  const sqlite = new Sqlite(file, { readonly: true, fileMustExist: true })
  try {
    return {
      schema: schemaOf(sqlite),
      contents: (sqlite.prepare('select distinct sha256 from attachments').all() as { sha256: string }[])
        .map((row) => row.sha256)
        .filter((sha) => /^[0-9a-f]{64}$/.test(sha)),
      rawMails: (
        sqlite.prepare('select raw_file from incoming_mails where raw_file is not null').all() as {
          raw_file: string
        }[]
      )
        .map((row) => row.raw_file.replaceAll('\\', '/'))
        .filter((path) => /^mail-raw\/\d{1,15}\.eml$/.test(path)),
    }
  } finally {
    sqlite.close()
  }
}

/** The database's last applied migration, as drizzle's migrator recorded it. */
export function schemaOf(sqlite: Sqlite.Database): { migration: string; when: number } {
  const row = sqlite
    .prepare('select created_at as "when" from __drizzle_migrations order by created_at desc limit 1')
    .get() as { when: number | string } | undefined
  if (!row) return { migration: 'none', when: 0 }
  const when = Number(row.when)
  return { migration: buildMigrations().find((entry) => entry.when === when)?.tag ?? 'unknown', when }
}
