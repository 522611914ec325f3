import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { and, eq, isNotNull, lte } from 'drizzle-orm'
import type { Database } from '../../db/client.ts'
import { incomingMails } from '../../db/schema.ts'
import type { WriteQueue } from '../../db/write-queue.ts'

/** Raw messages of refused and unreadable mail are kept this long, for an administrator to look at. */
export const RAW_KEEP_MS = 14 * 24 * 3600_000
/** Expired raw messages are looked for at most this often, in ms. */
export const SWEEP_EVERY_MS = 3600_000

const FOLDER = 'mail-raw'

/** Keeps the raw message of an incoming-mail row, relative to the data directory. */
export async function keepRaw(input: {
  writes: WriteQueue
  dataDir: string
  id: number
  raw: Buffer
  now: number
}): Promise<void> {
  const file = join(FOLDER, `${input.id}.eml`)
  mkdirSync(join(input.dataDir, FOLDER), { recursive: true })
  writeFileSync(join(input.dataDir, file), input.raw)
  await input.writes.run((tx) =>
    tx
      .update(incomingMails)
      .set({ rawFile: file, rawExpiresAt: input.now + RAW_KEEP_MS })
      .where(eq(incomingMails.id, input.id))
      .run(),
  )
}

/** Removes the raw messages whose time is up; the rows stay in the list without them. */
export async function sweepRaw(input: {
  database: Pick<Database, 'db'>
  writes: WriteQueue
  dataDir: string
  now: number
}): Promise<number> {
  const expired = input.database.db
    .select({ id: incomingMails.id, rawFile: incomingMails.rawFile })
    .from(incomingMails)
    .where(and(isNotNull(incomingMails.rawFile), lte(incomingMails.rawExpiresAt, input.now)))
    .all()
  for (const row of expired) {
    // Only files under our folder: the column is ours, but a path is never trusted blindly.
    if (row.rawFile && /^mail-raw[/\\]\d+\.eml$/.test(row.rawFile))
      rmSync(join(input.dataDir, row.rawFile), { force: true })
    await input.writes.run((tx) =>
      tx
        .update(incomingMails)
        .set({ rawFile: null, rawExpiresAt: null })
        .where(eq(incomingMails.id, row.id))
        .run(),
    )
  }
  return expired.length
}
