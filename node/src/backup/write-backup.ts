import { randomBytes } from 'node:crypto'
import {
  closeSync,
  constants,
  createReadStream,
  createWriteStream,
  existsSync,
  fsyncSync,
  openSync,
} from 'node:fs'
import { access, copyFile, link, mkdir, mkdtemp, readdir, rename, rm, stat, unlink } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { Config } from '../config.ts'
import { containerBytes, DATABASE_ENTRY, type Progress, type Source } from './container.ts'
import { checkPassphrase, sealing } from './envelope.ts'
import { BackupError } from './errors.ts'
import { readSnapshot, type SnapshotContents, snapshotDatabase } from './snapshot.ts'

/** Staging directories under the data directory; one left by a crash is removed after a day. */
const STAGING_PREFIX = '.backup-'
/** A staging directory or partial file untouched this long was left by a crash, in ms. */
const STALE_MS = 24 * 3_600_000
/** Database copies retaken when an attachment it references was deleted before it could be held. */
const SNAPSHOT_ATTEMPTS = 3

export type BackupSettings = Pick<Config, 'dataDir' | 'databaseFile' | 'attachmentDir' | 'company'>

export type BackupResult = {
  file: string
  bytes: number
  attachments: number
  /** Attachments the database references that were not on disk (listed in the manifest). */
  missing: string[]
  encrypted: boolean
}

/**
 * Writes a backup of a node's data directory to `out`, while the node may be running: the database
 * (SQLite's online backup, one consistent moment), every attachment that copy references, the raw
 * refused mails it still keeps, and a manifest with each file's SHA-256. With a passphrase, encrypted
 * (envelope.ts). The file appears at `out` only once complete, and never replaces a file there: two
 * backups to the same name at once each write their own partial file, and the second to finish is
 * refused.
 *
 * Attachments are held by hard links before they are read: the node deletes a file once no row
 * references it any more, so a file the copy references could otherwise vanish while the backup runs.
 * Every file present is linked first, then the database copied; a file uploaded in between is linked
 * right after the copy. Only the referenced files are written: a file without a row in the copy is an
 * upload still under way (its row not committed) or already released, and the restored node could not
 * reach it. A referenced file missing from the disk itself does not stop the backup: it is listed in
 * the manifest as missing, and said.
 */
export async function writeBackup(input: {
  settings: BackupSettings
  out: string
  passphrase?: string | undefined
  /** When the backup is taken (ms), for the manifest. */
  now: number
  onProgress?: (progress: Progress) => void
  /** Stops the backup (the node is shutting down); nothing is left behind. */
  signal?: AbortSignal
}): Promise<BackupResult> {
  const { settings, signal } = input
  const out = resolve(input.out)
  if (!existsSync(settings.databaseFile))
    throw new BackupError(
      'E_BACKUP_NO_DATABASE',
      `no node database at ${settings.databaseFile}: set NODE_DATA_DIR to the node's data directory`,
    )
  if (input.passphrase !== undefined) checkPassphrase(input.passphrase)
  // Before any work: a bad output path is said at once, not after the attachments were linked.
  await writableDirectory(dirname(out))
  if (existsSync(out))
    throw new BackupError(
      'E_BACKUP_OUT_EXISTS',
      `${out} exists already: give a new file name, or remove it first`,
    )
  await removeStale(settings.dataDir, (name) => name.startsWith(STAGING_PREFIX))
  await removeStale(
    dirname(out),
    (name) => name.startsWith(`.${basename(out)}.`) && name.endsWith('.partial'),
  )
  // Its own name: another backup to the same `out` at the same time writes its own.
  const partial = join(dirname(out), `.${basename(out)}.${randomBytes(6).toString('hex')}.partial`)
  let staging: string | undefined
  let result: BackupResult
  try {
    staging = await mkdtemp(join(settings.dataDir, STAGING_PREFIX))
    const held = await holdPresentFiles(settings.attachmentDir, join(staging, 'attachments'), signal)
    const { snapshot, missing } = await snapshotHoldingFiles({ settings, staging, held, signal })
    const sources: Source[] = [await fileSource(DATABASE_ENTRY, join(staging, DATABASE_ENTRY))]
    const lost = new Set(missing)
    const stored = snapshot.contents.filter((sha) => !lost.has(sha)).sort()
    for (const sha of stored) {
      signal?.throwIfAborted()
      const path = `attachments/${sha.slice(0, 2)}/${sha}`
      sources.push({ ...(await fileSource(path, join(staging, path))), expectSha256: sha })
    }
    for (const raw of snapshot.rawMails) {
      signal?.throwIfAborted()
      // A raw mail is disposable: one removed on expiry before the copy is simply not there.
      if (await holdFile(join(settings.dataDir, raw), join(staging, raw)))
        sources.push(await fileSource(raw, join(staging, raw)))
    }
    await pipeline(
      containerBytes({
        sources,
        manifest: {
          createdAt: new Date(input.now).toISOString(),
          company: settings.company,
          schema: snapshot.schema,
          attachments: 'referenced',
          missing,
        },
        ...(input.onProgress ? { onProgress: input.onProgress } : {}),
      }),
      await sealing(input.passphrase),
      // Owner-only: the file holds the company's records; flushed before it is put in place.
      createWriteStream(partial, { flags: 'wx', mode: 0o600, flush: true }),
      ...(signal ? [{ signal }] : []),
    )
    await placeAt(partial, out)
    syncDirectory(dirname(out))
    result = {
      file: out,
      bytes: (await stat(out)).size,
      attachments: stored.length,
      missing,
      encrypted: input.passphrase !== undefined,
    }
  } catch (error) {
    // The failure is what is said; a staging directory left behind is removed by a backup a day later.
    await removeAll([partial, staging])
    throw error
  }
  const problem = await removeAll([partial, staging])
  if (problem) throw problem
  return result
}

/**
 * Removes the partial file and the staging directory, off the event loop (a staging directory holds a
 * link per attachment, many thousands of them); answers the first failure.
 */
async function removeAll(paths: (string | undefined)[]): Promise<unknown> {
  const removed = await Promise.allSettled(
    paths.flatMap((path) => (path === undefined ? [] : [rm(path, { recursive: true, force: true })])),
  )
  return removed.find((outcome) => outcome.status === 'rejected')?.reason
}

/** Creates `directory` if need be; refuses one that cannot be created or written to. */
async function writableDirectory(directory: string): Promise<void> {
  try {
    await mkdir(directory, { recursive: true })
    await access(directory, constants.W_OK)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const why =
      code === 'EEXIST' || code === 'ENOTDIR'
        ? 'it, or a folder above it, is a file'
        : (error as Error).message
    throw new BackupError(
      'E_BACKUP_OUT_UNWRITABLE',
      `cannot write a backup in ${directory} (${why}): give a path in a directory this user can write to`,
    )
  }
}

/**
 * Gives the complete file its name, unless a file has that name already: a link fails then, where a
 * rename would replace it. On a file system without hard links, a rename after a last look.
 */
async function placeAt(partial: string, out: string): Promise<void> {
  const exists = () =>
    new BackupError(
      'E_BACKUP_OUT_EXISTS',
      `${out} appeared while the backup was written (another backup to the same name?): it was left as it is. Give a new file name`,
    )
  try {
    await link(partial, out)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw exists()
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw error
    if (existsSync(out)) throw exists()
    await rename(partial, out)
    return
  }
  await unlink(partial)
}

/**
 * Copies the database into the staging directory and holds every attachment the copy references.
 * A referenced file that is gone may have been deleted after the copy was taken: the copy is taken
 * again. Files still missing after the last copy are missing from the node's disk: answered.
 */
async function snapshotHoldingFiles(input: {
  settings: BackupSettings
  staging: string
  held: Set<string>
  signal: AbortSignal | undefined
}): Promise<{ snapshot: SnapshotContents; missing: string[] }> {
  const target = join(input.staging, DATABASE_ENTRY)
  for (let attempt = 1; ; attempt++) {
    await rm(target, { force: true })
    await snapshotDatabase(input.settings.databaseFile, target, input.signal)
    const snapshot = readSnapshot(target)
    const missing: string[] = []
    for (const sha of snapshot.contents) {
      input.signal?.throwIfAborted()
      if (input.held.has(sha)) continue
      const path = join(sha.slice(0, 2), sha)
      if (await holdFile(join(input.settings.attachmentDir, path), join(input.staging, 'attachments', path)))
        input.held.add(sha)
      else missing.push(sha)
    }
    if (missing.length === 0 || attempt === SNAPSHOT_ATTEMPTS) return { snapshot, missing }
  }
}

/**
 * Hard-links every stored content file under `into`; answers their SHA-256s. One file at a time, off
 * the event loop: a running node keeps answering while a large store is linked. A stop is heeded
 * between two files, not after the whole store.
 */
async function holdPresentFiles(
  attachmentDir: string,
  into: string,
  signal: AbortSignal | undefined,
): Promise<Set<string>> {
  const held = new Set<string>()
  if (!existsSync(attachmentDir)) return held
  for (const prefix of await readdir(attachmentDir)) {
    if (!/^[0-9a-f]{2}$/.test(prefix)) continue
    for (const name of await readdir(join(attachmentDir, prefix))) {
      signal?.throwIfAborted()
      if (!/^[0-9a-f]{64}$/.test(name) || !name.startsWith(prefix)) continue
      if (await holdFile(join(attachmentDir, prefix, name), join(into, prefix, name))) held.add(name)
    }
  }
  return held
}

/**
 * A hard link to `from` at `to` (a copy across file systems); false when `from` no longer exists.
 * The node never rewrites a stored file, so the link holds exactly the bytes the database points at.
 */
async function holdFile(from: string, to: string): Promise<boolean> {
  await mkdir(dirname(to), { recursive: true })
  try {
    await link(from, to)
    return true
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return false
    if (code !== 'EXDEV' && code !== 'EPERM') throw error
  }
  try {
    await copyFile(from, to)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw error
  }
}

async function fileSource(path: string, file: string): Promise<Source> {
  return { path, size: (await stat(file)).size, open: () => createReadStream(file) }
}

/**
 * Removes what a backup cut short by a crash left in `directory` (the names `left` accepts), once a
 * day old on the file system's clock (its modification times), not the node's: a backup running now
 * keeps writing to its own.
 */
async function removeStale(directory: string, left: (name: string) => boolean): Promise<void> {
  const now = Date.now()
  for (const name of await readdir(directory)) {
    if (!left(name)) continue
    const path = join(directory, name)
    const modified = await stat(path).then(
      (stats) => stats.mtimeMs,
      (error: NodeJS.ErrnoException) => {
        // Removed meanwhile by the backup that made it.
        if (error.code === 'ENOENT') return now
        throw error
      },
    )
    if (now - modified > STALE_MS) await rm(path, { recursive: true, force: true })
  }
}

/** Makes a rename in `directory` durable. */
export function syncDirectory(directory: string): void {
  const handle = openSync(directory, 'r')
  try {
    fsyncSync(handle)
  } finally {
    closeSync(handle)
  }
}
