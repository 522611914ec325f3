import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs'
import { basename, join } from 'node:path'
import type { ScheduledBackup } from './config.ts'
import { BackupError } from './errors.ts'
import { type BackupSettings, writeBackup } from './write-backup.ts'

/** How often the node looks whether a backup is due, in ms; the schedule itself is in hours. */
const LOOK_EVERY_MS = 60_000
/** After a failed backup, the next try comes this much later at most, in ms. */
const RETRY_AFTER_MS = 3_600_000

/** `ochat-node-20261125T100000Z.backup`: the time it was taken (UTC), so names sort by age. */
const NAME = /^ochat-node-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z\.backup$/
/** A scheduled backup cut short (writeBackup writes to a name like this first). */
const PARTIAL = /^\.ochat-node-\d{8}T\d{6}Z\.backup(\.[0-9a-f]+)?\.partial$/

export function backupFileName(at: number): string {
  const stamp = new Date(at)
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replaceAll(/[-:]/g, '')
  return `ochat-node-${stamp}.backup`
}

/** The scheduled backups in `dir`, newest first, with when each was taken (ms). */
export function scheduledBackups(dir: string): { name: string; at: number }[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .flatMap((name) => {
      const parts = NAME.exec(name)?.slice(1).map(Number)
      if (!parts) return []
      const [year, month, day, hour, minute, second] = parts as [
        number,
        number,
        number,
        number,
        number,
        number,
      ]
      return [{ name, at: Date.UTC(year, month - 1, day, hour, minute, second) }]
    })
    .sort((a, b) => b.at - a.at)
}

type SchedulerDeps = {
  settings: BackupSettings
  schedule: ScheduledBackup
  clock: { now(): number }
  log: {
    info(object: object, message: string): void
    warn(object: object, message: string): void
    error(object: object, message: string): void
  }
}

/**
 * The running node's backups (NODE_BACKUP_DIR): one every `everyHours` on the node's clock, counted
 * from the newest file in the directory (so a restart neither skips one nor takes an extra one), then
 * the oldest beyond `keep` deleted. Only files named as this scheduler names them are ever deleted.
 */
export class BackupScheduler {
  readonly #deps: SchedulerDeps
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | null = null
  #retryAt = 0
  /** Backups dated after the node's clock already logged, so each is said once. */
  readonly #futureSaid = new Set<string>()
  readonly #stop = new AbortController()

  constructor(deps: SchedulerDeps) {
    this.#deps = deps
  }

  /** Looks now (a backup is taken at once when none is recent enough), then every minute. */
  start(): void {
    this.#timer = setInterval(() => void this.tick(), LOOK_EVERY_MS)
    this.#timer.unref()
    void this.tick()
  }

  /** Takes a backup if one is due; one already under way is waited for instead. */
  tick(): Promise<void> {
    this.#running ??= this.#tick().finally(() => {
      this.#running = null
    })
    return this.#running
  }

  async #tick(): Promise<void> {
    const { schedule, clock, log } = this.#deps
    const now = clock.now()
    if (now < this.#retryAt) return
    const started = Date.now()
    try {
      // A file dated after now (a clock set back) does not put the next backup off.
      const newest = scheduledBackups(schedule.dir).find((backup) => backup.at <= now)
      if (newest && now < newest.at + schedule.everyHours * 3_600_000) return
      mkdirSync(schedule.dir, { recursive: true })
      const done = await writeBackup({
        settings: this.#deps.settings,
        out: join(schedule.dir, backupFileName(now)),
        passphrase: schedule.passphrase,
        now,
        signal: this.#stop.signal,
      })
      const facts = {
        file: done.file,
        bytes: done.bytes,
        attachments: done.attachments,
        ms: Date.now() - started,
      }
      if (done.missing.length === 0) log.info(facts, 'backup: written')
      else
        log.error(
          { ...facts, missing: done.missing },
          'backup: written, but attachments the database references are missing from the disk',
        )
      this.#prune(basename(done.file), now)
    } catch (error) {
      if (this.#stop.signal.aborted) return
      this.#retryAt = now + Math.min(RETRY_AFTER_MS, schedule.everyHours * 3_600_000)
      log.error(
        { err: error, code: error instanceof BackupError ? error.code : undefined, dir: schedule.dir },
        'backup: the scheduled backup failed; it is tried again within the hour',
      )
    }
  }

  /**
   * Deletes the backups beyond the newest `keep` taken up to `now`, never `written` (the one just
   * taken), and scheduled backups cut short. A backup dated after `now` was taken while the clock was
   * ahead: it is left alone and takes no place among the `keep`, or it would push out each new backup
   * as soon as it is written until the clock caught up with it.
   */
  #prune(written: string, now: number): void {
    const { dir, keep } = this.#deps.schedule
    const all = scheduledBackups(dir)
    const ahead = all.filter((backup) => backup.at > now && !this.#futureSaid.has(backup.name))
    if (ahead.length > 0) {
      for (const backup of ahead) this.#futureSaid.add(backup.name)
      this.#deps.log.warn(
        { dir, files: ahead.map((backup) => backup.name) },
        "backup: files dated after the node's clock (taken while it was ahead?) are kept, and count among NODE_BACKUP_KEEP only once the clock passes their date",
      )
    }
    const past = all.filter((backup) => backup.at <= now && backup.name !== written)
    // The one just written is the newest of them: it is one of the `keep`.
    for (const old of past.slice(keep - 1)) rmSync(join(dir, old.name), { force: true })
    for (const name of readdirSync(dir)) if (PARTIAL.test(name)) rmSync(join(dir, name), { force: true })
  }

  /** Stops the schedule; a backup under way is abandoned (its partial file removed). */
  async close(): Promise<void> {
    clearInterval(this.#timer)
    this.#stop.abort()
    await this.#running
  }
}
