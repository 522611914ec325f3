import {
  closeSync,
  createReadStream,
  createWriteStream,
  existsSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs'
import { copyFile, link, mkdir, readdir } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { Config } from '../config.ts'
import { containerBytes, DATABASE_ENTRY, type Progress, type Source } from './container.ts'
import { checkPassphrase, sealing } from './envelope.ts'
import { BackupError } from './errors.ts'
import { readSnapshot, type SnapshotContents, snapshotDatabase } from './snapshot.ts'

/** Staging directories under the data directory; one left by a crash is removed after a day. */
const STAGING_PREFIX = '.backup-'
const STALE_STAGING_MS = 24 * 3_600_000
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
 * (envelope.ts). The file appears at `out` only once complete.
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
  const { settings } = input
  const out = resolve(input.out)
  if (!existsSync(settings.databaseFile))
    throw new BackupError(
      'E_BACKUP_NO_DATABASE',
      `no node database at ${settings.databaseFile}: set NODE_DATA_DIR to the node's data directory`,
    )
  if (existsSync(out))
    throw new BackupError(
      'E_BACKUP_OUT_EXISTS',
      `${out} exists already: give a new file name, or remove it first`,
    )
  if (input.passphrase !== undefined) checkPassphrase(input.passphrase)
  removeStaleStaging(settings.dataDir)
  const staging = mkdtempSync(join(settings.dataDir, STAGING_PREFIX))
  // Left by a backup to the same name that was cut short: never a complete file.
  const partial = join(dirname(out), `.${basename(out)}.partial`)
  rmSync(partial, { force: true })
  try {
    const held = await holdPresentFiles(settings.attachmentDir, join(staging, 'attachments'))
    const { snapshot, missing } = await snapshotHoldingFiles({
      settings,
      staging,
      held,
      signal: input.signal,
    })
    const sources: Source[] = [fileSource(DATABASE_ENTRY, join(staging, DATABASE_ENTRY))]
    const lost = new Set(missing)
    const stored = snapshot.contents.filter((sha) => !lost.has(sha)).sort()
    for (const sha of stored) {
      const path = `attachments/${sha.slice(0, 2)}/${sha}`
      sources.push({ ...fileSource(path, join(staging, path)), expectSha256: sha })
    }
    for (const raw of snapshot.rawMails) {
      // A raw mail is disposable: one removed on expiry before the copy is simply not there.
      if (await holdFile(join(settings.dataDir, raw), join(staging, raw)))
        sources.push(fileSource(raw, join(staging, raw)))
    }
    mkdirSync(dirname(out), { recursive: true })
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
      // Owner-only: the file holds the company's records; flushed before it is renamed into place.
      createWriteStream(partial, { flags: 'wx', mode: 0o600, flush: true }),
      ...(input.signal ? [{ signal: input.signal }] : []),
    )
    renameSync(partial, out)
    syncDirectory(dirname(out))
    return {
      file: out,
      bytes: statSync(out).size,
      attachments: stored.length,
      missing,
      encrypted: input.passphrase !== undefined,
    }
  } finally {
    rmSync(partial, { force: true })
    rmSync(staging, { recursive: true, force: true })
  }
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
    rmSync(target, { force: true })
    await snapshotDatabase(input.settings.databaseFile, target, input.signal)
    const snapshot = readSnapshot(target)
    const missing: string[] = []
    for (const sha of snapshot.contents) {
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
 * the event loop: a running node keeps answering while a large store is linked.
 */
async function holdPresentFiles(attachmentDir: string, into: string): Promise<Set<string>> {
  const held = new Set<string>()
  if (!existsSync(attachmentDir)) return held
  for (const prefix of await readdir(attachmentDir)) {
    if (!/^[0-9a-f]{2}$/.test(prefix)) continue
    for (const name of await readdir(join(attachmentDir, prefix))) {
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

function fileSource(path: string, file: string): Source {
  return { path, size: statSync(file).size, open: () => createReadStream(file) }
}

/** On the file system's clock (its modification times), not the node's. */
function removeStaleStaging(dataDir: string): void {
  const now = Date.now()
  for (const name of readdirSync(dataDir)) {
    if (!name.startsWith(STAGING_PREFIX)) continue
    const path = join(dataDir, name)
    if (now - statSync(path).mtimeMs > STALE_STAGING_MS) rmSync(path, { recursive: true, force: true })
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
