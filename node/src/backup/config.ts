import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { z } from 'zod'
import { MIN_PASSPHRASE_CHARS } from './envelope.ts'

/** The scheduled backups' environment variables, part of the node's (config.ts) and of its table. */
export const backupVariables = {
  NODE_BACKUP_DIR: z.string().trim().min(1).optional().meta({
    description:
      'Scheduled backups: the running node writes one here every `NODE_BACKUP_EVERY_HOURS`, in the format of `ochat-node backup` (restore with `ochat-node restore`), and keeps the newest `NODE_BACKUP_KEEP`. Put it on another disk, and copy it off the server.',
    unset: 'off',
  }),
  NODE_BACKUP_EVERY_HOURS: z.coerce.number().int().min(1).max(8760).default(24).meta({
    description: 'Hours between two scheduled backups, counted from the newest one in `NODE_BACKUP_DIR`.',
  }),
  NODE_BACKUP_KEEP: z.coerce.number().int().min(1).max(1000).default(7).meta({
    description: 'Scheduled backups kept: after each new one, the oldest beyond this many are deleted.',
  }),
  NODE_BACKUP_PASSPHRASE_FILE: z
    .string()
    .optional()
    .meta({
      description: `Scheduled backups: a file holding the passphrase they are encrypted with (at least ${MIN_PASSPHRASE_CHARS} characters; blank space around it is ignored). Keep a copy apart from the backups: without it they cannot be restored.`,
      unset: 'not encrypted',
    }),
}

type BackupEnv = z.output<z.ZodObject<typeof backupVariables>>

export type ScheduledBackup = {
  dir: string
  everyHours: number
  keep: number
  passphrase: string | undefined
}

/** NODE_BACKUP_*: where, how often, how many, and the passphrase, read now so a bad file stops the start. */
export function scheduledBackupFrom(e: BackupEnv, context: z.RefinementCtx): ScheduledBackup | null {
  let passphrase: string | undefined
  const file = e.NODE_BACKUP_PASSPHRASE_FILE
  if (file !== undefined) {
    const problem = (message: string) =>
      context.addIssue({ code: 'custom', path: ['NODE_BACKUP_PASSPHRASE_FILE'], message })
    try {
      passphrase = readFileSync(file, 'utf8').trim()
      if ([...passphrase].length < MIN_PASSPHRASE_CHARS)
        problem(`the passphrase must be at least ${MIN_PASSPHRASE_CHARS} characters`)
    } catch (error) {
      problem(`cannot read ${file} (${(error as Error).message})`)
    }
    if (e.NODE_BACKUP_DIR === undefined) problem('NODE_BACKUP_DIR is not set: there are no scheduled backups')
  }
  if (e.NODE_BACKUP_DIR === undefined) return null
  return {
    dir: resolve(e.NODE_BACKUP_DIR),
    everyHours: e.NODE_BACKUP_EVERY_HOURS,
    keep: e.NODE_BACKUP_KEEP,
    passphrase,
  }
}
