import { readFileSync } from 'node:fs'
import { z } from 'zod'

/**
 * What `migrate` would do to a database, found without changing it, for either server. drizzle's
 * migrator records each applied migration by its journal `when` and runs every migration whose `when`
 * is later than the newest one recorded: the same rule is applied here, so the list is what would run.
 * Each server reads what its database recorded in its own way (pending-migrations.ts).
 */

const JournalSchema = z.object({ entries: z.array(z.object({ tag: z.string(), when: z.number() })) })

export type Migration = {
  tag: string
  /** drizzle's timestamp for it (ms), as recorded in `__drizzle_migrations.created_at`. */
  when: number
  /** Its leading comment, or else the first line of its first statement. */
  summary: string
}

export type MigrationPlan =
  | { state: 'pending'; migrations: Migration[]; applied: number }
  | { state: 'current'; applied: number }
  /** The database holds a migration this build does not have: a newer build migrated it. */
  | { state: 'newer'; when: number; latest: Migration | undefined }

/** The migrations of a drizzle folder (its journal and SQL files), oldest first. */
export function readMigrations(folder: string): Migration[] {
  const journal = JournalSchema.parse(JSON.parse(readFileSync(`${folder}/meta/_journal.json`, 'utf8')))
  return journal.entries.map(({ tag, when }) => ({
    tag,
    when,
    summary: summaryOf(readFileSync(`${folder}/${tag}.sql`, 'utf8')),
  }))
}

function summaryOf(text: string): string {
  const lines = text.split('\n').map((line) => line.trim())
  const comment = lines.find((line) => line.startsWith('-- '))
  const first = comment ?? lines.find((line) => line !== '') ?? ''
  const clean = first
    .replace(/^-- /, '')
    .replace(/--> statement-breakpoint$/, '')
    .trim()
  return clean.length > 100 ? `${clean.slice(0, 99)}…` : clean
}

/** The plan for a database whose recorded migrations have these `when`s, oldest first. */
export function planFrom(known: Migration[], applied: number[]): MigrationPlan {
  const newest = applied.at(-1)
  const latest = known.at(-1)
  if (newest !== undefined && (latest === undefined || newest > latest.when))
    return { state: 'newer', when: newest, latest }
  const migrations = known.filter((migration) => newest === undefined || migration.when > newest)
  return migrations.length > 0
    ? { state: 'pending', migrations, applied: applied.length }
    : { state: 'current', applied: applied.length }
}

/** The refusal for a database a newer build migrated: this build would run on tables it does not know. */
export function newerRefusal(
  input: { database: string; program: string },
  plan: { when: number; latest: Migration | undefined },
): string {
  return `${input.database} holds a migration this ${input.program} does not have (recorded at ${new Date(plan.when).toISOString()}, after its last, ${plan.latest?.tag ?? 'none'}): a newer ${input.program} migrated it. Run that version or a newer one; nothing was changed`
}

/** What `migrate --dry-run` prints: one line per migration that would run, or that none would. */
export function describePlan(plan: Exclude<MigrationPlan, { state: 'newer' }>): string {
  if (plan.state === 'current') return `nothing to apply: all ${plan.applied} migrations are applied\n`
  const lines = plan.migrations.map((migration) => `  ${migration.tag.padEnd(34)} ${migration.summary}\n`)
  const count = plan.migrations.length
  return `${count} migration${count === 1 ? '' : 's'} would run (${plan.applied} applied), in this order:\n${lines.join('')}nothing was changed (dry run)\n`
}
