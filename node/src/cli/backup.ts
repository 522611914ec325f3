import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { toBase64Url } from '@ochat/shared-protocol'
import { systemClock } from '@ochat/shared-protocol/server'
import Sqlite from 'better-sqlite3'
import { BackupError } from '../backup/errors.ts'
import { restoreBackup } from '../backup/restore-backup.ts'
import { writeBackup } from '../backup/write-backup.ts'
import type { Config } from '../config.ts'
import { openSecretKeys } from '../ochat/identity/instance.ts'
import { Keystore, KeystoreError } from '../ochat/identity/keystore.ts'
import type { Io } from './io.ts'

const BACKUP_USAGE = 'usage: ochat-node backup --out FILE [--passphrase-file PATH]'
const RESTORE_USAGE =
  'usage: ochat-node restore FILE [--data-dir DIR] [--passphrase-file PATH] (DIR defaults to NODE_DATA_DIR)'
/** Progress lines on stderr at most this often, in ms. */
const PROGRESS_EVERY_MS = 1000

/** `ochat-node backup`: the node's data directory (NODE_DATA_DIR) into one file, while it may run. */
export async function backup(config: Config, args: string[], io: Io): Promise<number> {
  const parsed = parse(args, BACKUP_USAGE, io, 'out')
  if (!parsed) return 2
  const out = parsed.values.out
  if (!out) return fail(io, `--out is required\n${BACKUP_USAGE}`)
  const passphrase = readPassphrase(parsed.values['passphrase-file'], io)
  if (passphrase === null) return 2
  let last = 0
  try {
    const done = await writeBackup({
      settings: config,
      out,
      passphrase,
      now: systemClock.now(),
      onProgress: (progress) => {
        const now = Date.now()
        if (now - last < PROGRESS_EVERY_MS && progress.filesDone < progress.filesTotal) return
        last = now
        io.err(
          `backup: ${progress.filesDone}/${plural(progress.filesTotal, 'file')}, ${formatBytes(progress.bytesDone)} of ${formatBytes(progress.bytesTotal)}\n`,
        )
      },
    })
    if (done.missing.length > 0)
      io.err(
        `warning: ${plural(done.missing.length, 'attachment')} the database references ${done.missing.length === 1 ? 'is' : 'are'} not in ${config.attachmentDir} (first: ${done.missing[0]}); the backup lists ${done.missing.length === 1 ? 'it' : 'them'} as missing. Files were lost before this backup: look for them in older backups\n`,
      )
    io.out(
      [
        `wrote ${done.file} (${formatBytes(done.bytes)}): the database and ${plural(done.attachments, 'attachment')}, ${done.encrypted ? 'encrypted' : 'not encrypted'}`,
        done.encrypted
          ? 'Keep the passphrase apart from the file: without it, nothing can be restored.'
          : "Anyone who reads this file reads the company's records: keep it where only operators can, or use --passphrase-file.",
        "If the node uses O'Chat, its keys inside are sealed with the operator secret (NODE_OCHAT_SECRET): keep that secret too, apart from the backup.",
        '',
      ].join('\n'),
    )
    return 0
  } catch (error) {
    if (error instanceof BackupError) return fail(io, `backup: ${error.message}`)
    throw error
  }
}

/**
 * `ochat-node restore FILE [--data-dir DIR]`: into a new or empty directory (NODE_DATA_DIR unless
 * --data-dir), verified before anything is in place. The node's own data directory is safe as the
 * default: a restore never writes into one that holds anything.
 */
export async function restore(config: Config, args: string[], io: Io): Promise<number> {
  const parsed = parse(args, RESTORE_USAGE, io, 'data-dir')
  if (!parsed) return 2
  const [file, ...extra] = parsed.positionals
  const dataDir = parsed.values['data-dir'] ?? config.dataDir
  if (!file || extra.length > 0) return fail(io, `give one backup file\n${RESTORE_USAGE}`)
  if (dataDir === '') return fail(io, `--data-dir is empty\n${RESTORE_USAGE}`)
  const passphrase = readPassphrase(parsed.values['passphrase-file'], io)
  if (passphrase === null) return 2
  let last = 0
  try {
    const done = await restoreBackup({
      file,
      dataDir,
      passphrase,
      onProgress: (progress) => {
        const now = Date.now()
        if (now - last < PROGRESS_EVERY_MS) return
        last = now
        io.err(`restore: ${plural(progress.filesDone, 'file')}, ${formatBytes(progress.bytesDone)} read\n`)
      },
    })
    const { manifest } = done
    const lines = [
      `restored the backup of "${manifest.company}" taken ${manifest.createdAt} into ${done.dataDir}`,
      `checked: ${plural(manifest.entries.length, 'file')} against their SHA-256, the database's integrity, its schema (${manifest.schema.migration})`,
      done.pendingMigrations.length > 0
        ? `the node applies ${done.pendingMigrations.length} newer migration(s) when it starts (${done.pendingMigrations.join(', ')})`
        : 'the schema is this ochat-node’s',
    ]
    if (manifest.missing.length > 0)
      io.err(
        `warning: ${plural(manifest.missing.length, 'attachment')} had already been lost by the node when this backup was taken: they download as missing\n`,
      )
    if (done.ochatInstance) {
      lines.push(
        `O'Chat: registered as ${done.ochatInstance.instanceId} ("${done.ochatInstance.name}") with ${done.ochatInstance.relayUrl}.`,
        '  Start the node with the operator secret the original used (NODE_OCHAT_SECRET or NODE_OCHAT_SECRET_FILE).',
        '  Run only one of the two nodes: they share one identity, and the relay delivers to whichever connects.',
      )
      const problem = secretProblem(config, done.dataDir)
      if (problem) io.err(`warning: ${problem}\n`)
    }
    lines.push(`next: NODE_DATA_DIR=${done.dataDir} ochat-node serve`, '')
    io.out(lines.join('\n'))
    return 0
  } catch (error) {
    if (error instanceof BackupError) return fail(io, `restore: ${error.message}`)
    throw error
  }
}

/** When this environment has an operator secret: whether it opens the restored keys. */
function secretProblem(config: Config, dataDir: string): string | null {
  if (!config.ochatSecret) return null
  const sqlite = new Sqlite(join(dataDir, 'node.sqlite'), { readonly: true })
  try {
    const row = sqlite
      .prepare(
        'select sealed_secret_keys as sealed, identity_public_key as publicKey from ochat_identity where id = 1',
      )
      .get() as { sealed: string; publicKey: string } | undefined
    if (!row) return null
    const { identity } = openSecretKeys(row.sealed, new Keystore(config.ochatSecret))
    if (toBase64Url(identity.publicKey) !== row.publicKey)
      return "the restored O'Chat keys do not match their public keys"
    return null
  } catch (error) {
    if (!(error instanceof KeystoreError)) throw error
    return `the operator secret set here does not open the restored O'Chat keys (${error.message}). Start the node with the secret the original node used, or O'Chat stays locked`
  } finally {
    sqlite.close()
  }
}

/** The command's options: its own (`--out` or `--data-dir`, and a backup file for restore) and the passphrase. */
function parse(args: string[], usage: string, io: Io, own: 'out' | 'data-dir') {
  try {
    return parseArgs({
      args,
      allowPositionals: own === 'data-dir',
      options: { [own]: { type: 'string' }, 'passphrase-file': { type: 'string' } },
    }) as { values: { out?: string; 'data-dir'?: string; 'passphrase-file'?: string }; positionals: string[] }
  } catch (error) {
    fail(io, `${(error as Error).message}\n${usage}`)
    return null
  }
}

/** The passphrase in a file (surrounding blank space ignored); null after printing why it cannot be read. */
function readPassphrase(path: string | undefined, io: Io): string | undefined | null {
  if (path === undefined) return undefined
  let text: string
  try {
    text = readFileSync(path, 'utf8').trim()
  } catch (error) {
    fail(io, `--passphrase-file: cannot read ${path} (${(error as Error).message})`)
    return null
  }
  if (text === '') {
    fail(io, `--passphrase-file: ${path} is empty`)
    return null
  }
  return text
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(1)} ${units[unit]}`
}

function fail(io: Io, message: string): number {
  io.err(`${message}\n`)
  return 2
}
