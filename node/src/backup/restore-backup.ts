import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { pipeline } from 'node:stream/promises'
import Sqlite from 'better-sqlite3'
import { ByteReader } from './byte-reader.ts'
import { DATABASE_ENTRY, type Manifest, readContainer } from './container.ts'
import { opening } from './envelope.ts'
import { BackupError } from './errors.ts'
import { buildMigrations, readSnapshot, schemaOf } from './snapshot.ts'
import { syncDirectory } from './write-backup.ts'

/** A file system's own entry at the root of a volume: a data directory on a fresh volume has it. */
const IGNORED = new Set(['lost+found'])

export type RestoreResult = {
  dataDir: string
  manifest: Manifest
  /** Migrations this build will apply when the node starts on the restored directory. */
  pendingMigrations: string[]
  /** The O'Chat instance in the backup, if the node was registered. */
  ochatInstance: { instanceId: string; name: string; relayUrl: string } | null
}

/**
 * Restores a backup into an empty (or new) data directory. Everything is written to a staging
 * directory inside it and checked there first: every file's SHA-256 against the manifest, the
 * manifest against the whole file's checksum (or each encrypted chunk's tag), the database's
 * integrity and its schema against this build. Only then are the files renamed into place (the
 * database last), so a refused or failed restore leaves the directory as it was.
 */
export async function restoreBackup(input: {
  file: string
  dataDir: string
  passphrase?: string | undefined
  onProgress?: (progress: { filesDone: number; bytesDone: number }) => void
}): Promise<RestoreResult> {
  const dataDir = resolve(input.dataDir)
  const file = resolve(input.file)
  if (!existsSync(file) || !statSync(file).isFile())
    throw new BackupError('E_BACKUP_DAMAGED', `no backup file at ${file}`)
  const existed = existsSync(dataDir)
  if (existed) refuseNonEmpty(dataDir)
  mkdirSync(dataDir, { recursive: true })
  const staging = mkdtempSync(join(dataDir, '.restore-'))
  const source = createReadStream(file)
  try {
    const { container } = await opening(new ByteReader(source), input.passphrase)
    const progress = { filesDone: 0, bytesDone: 0 }
    const directories = new Set<string>()
    const manifest = await readContainer(container, async (entry, bytes) => {
      const target = join(staging, entry.path)
      mkdirSync(dirname(target), { recursive: true })
      directories.add(dirname(target))
      await pipeline(bytes, createWriteStream(target, { flags: 'wx', mode: 0o600, flush: true }))
      progress.filesDone++
      progress.bytesDone += entry.size
      input.onProgress?.({ ...progress })
    })
    // Each file was flushed as it was written; their names are durable once their directories are.
    for (const directory of directories) syncDirectory(directory)
    const pendingMigrations = checkSchema(manifest)
    const ochatInstance = checkDatabase(join(staging, DATABASE_ENTRY), manifest, staging)
    // Into place: the database last, so a directory with a database in it is a whole restore.
    for (const name of readdirSync(staging))
      if (name !== DATABASE_ENTRY) renameSync(join(staging, name), join(dataDir, name))
    renameSync(join(staging, DATABASE_ENTRY), join(dataDir, DATABASE_ENTRY))
    rmSync(staging, { recursive: true, force: true })
    syncDirectory(dataDir)
    return { dataDir, manifest, pendingMigrations, ochatInstance }
  } catch (error) {
    rmSync(staging, { recursive: true, force: true })
    if (!existed) rmSync(dataDir, { recursive: true, force: true })
    throw error
  } finally {
    source.destroy()
  }
}

function refuseNonEmpty(dataDir: string): void {
  if (!statSync(dataDir).isDirectory())
    throw new BackupError('E_BACKUP_TARGET_NOT_EMPTY', `${dataDir} is a file, not a directory`)
  const present = readdirSync(dataDir).filter((name) => !IGNORED.has(name))
  if (present.length > 0)
    throw new BackupError(
      'E_BACKUP_TARGET_NOT_EMPTY',
      `${dataDir} is not empty (${present.slice(0, 3).join(', ')}${present.length > 3 ? ', …' : ''}): a restore never mixes with existing data. Give a new or empty directory with --data-dir, or move this one aside first`,
    )
}

/**
 * Refuses a database whose schema this build does not know (a newer build's, or another branch's):
 * the node would run on tables it does not understand. Answers the migrations start will apply.
 */
function checkSchema(manifest: Manifest): string[] {
  const known = buildMigrations()
  const latest = known.at(-1)
  const at = known.findIndex((entry) => entry.when === manifest.schema.when)
  if (latest && manifest.schema.when > latest.when)
    throw new BackupError(
      'E_BACKUP_TOO_NEW',
      `the backup's database is at migration ${manifest.schema.migration}, newer than this ochat-node's last (${latest.tag}): restore it with the ochat-node version that made it, or a newer one. Nothing was restored`,
    )
  if (at < 0)
    throw new BackupError(
      'E_BACKUP_TOO_NEW',
      `the backup's database is at a migration this ochat-node does not know (${manifest.schema.migration}, ${manifest.schema.when}): restore it with the ochat-node build that made it. Nothing was restored`,
    )
  return known.slice(at + 1).map((entry) => entry.tag)
}

/** The restored database passes SQLite's integrity check and agrees with the manifest. */
function checkDatabase(file: string, manifest: Manifest, staging: string): RestoreResult['ochatInstance'] {
  const refuse = (what: string) =>
    new BackupError(
      'E_BACKUP_DAMAGED',
      `the backup's database ${what}. Nothing was restored; use another copy`,
    )
  let sqlite: Sqlite.Database
  try {
    sqlite = new Sqlite(file, { readonly: true, fileMustExist: true })
  } catch {
    throw refuse('cannot be opened')
  }
  try {
    const problems = sqlite.pragma('integrity_check', { simple: false }) as { integrity_check: string }[]
    if (problems.length !== 1 || problems[0]?.integrity_check !== 'ok')
      throw refuse(`fails SQLite's integrity check (${problems[0]?.integrity_check ?? 'no answer'})`)
    if (schemaOf(sqlite).when !== manifest.schema.when)
      throw refuse('is not at the schema its manifest gives')
    const row = sqlite
      .prepare('select instance_id, name, relay_url from ochat_identity where id = 1')
      .get() as { instance_id: string; name: string; relay_url: string } | undefined
    sqlite.close()
    // Attachments the node had lost before the backup are listed as such; any other is damage.
    const known = new Set(manifest.missing)
    const absent = readSnapshot(file).contents.filter(
      (sha) => !known.has(sha) && !existsSync(join(staging, 'attachments', sha.slice(0, 2), sha)),
    )
    if (absent.length > 0) throw refuse(`references ${absent.length} attachment(s) the backup does not hold`)
    return row ? { instanceId: row.instance_id, name: row.name, relayUrl: row.relay_url } : null
  } catch (error) {
    if (error instanceof BackupError) throw error
    throw refuse(`cannot be read (${(error as Error).message})`)
  } finally {
    if (sqlite.open) sqlite.close()
  }
}
