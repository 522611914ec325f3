import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { type BlobStore, FileBlobStore } from './blobs/blob-store.ts'
import { type Config, ConfigError, loadConfig } from './config.ts'
import { type Database, type Db, migrateDatabase, openDatabase } from './db/client.ts'
import { appliedWhens, describePlan, newerMessage, planMigrations } from './db/pending-migrations.ts'
import { announceInstanceChange } from './delivery/lease-repository.ts'
import { errorCode, loggable } from './errors.ts'
import { rotateRelayKeys } from './info/relay-keys.ts'
import { createInvite } from './instances/invites.ts'
import {
  addressMatcher,
  listRegistrations,
  type Registration,
  type RegistrationFilter,
} from './instances/list-registrations.ts'
import { purgeInstance } from './instances/purge-instance.ts'
import { findInstance, updateInstance } from './instances/repository.ts'
import { startRelay } from './relay.ts'
import { statsCommand } from './stats-command.ts'

const HELP = `ochat-relay: the O'Chat relay (ciphertext store-and-forward between company nodes)

Usage: ochat-relay <command> [options]

Commands:
  serve                  start the relay (HTTP + WebSocket) and its delivery workers
  migrate [--dry-run]    apply database migrations and exit (serve also does it at start);
                         --dry-run lists the ones that would run and changes nothing
  invite [--days N] [--note TEXT]
                         print a one-time registration token (valid 7 days unless --days)
  instances [filters]    list registered instances: status, when, from which address, connection
                         requests sent (and still pending), pending requests to it
  suspend <instance-id>...
                         refuse every request from an instance (403) until unsuspended
  unsuspend <instance-id>...
  purge [<instance-id>...] [filters] [--yes]
                         remove spam registrations with their connections and queued items (not
                         instances with an accepted connection: suspend those); lists them without --yes.
                         Needs ids, --address, --since or --pending-requests-min 1 or more
  stats [--instances [--top N]]
                         queue depth, envelopes by status, connected sockets, database size; with
                         --instances, what each instance holds here, the most first (20, or N)
  rotate-keys            make a new signing key active; the active one signs on as retiring and the
                         retiring one is dropped. Restart every replica afterwards

Filters for instances and purge:
  --since 30m|1h|2d|<date>      registered in the last minutes (m), hours (h) or days (d), or since an
                                ISO-8601 date (2026-12-07, 2026-12-07T10:00Z)
  --address A                   registered from this address, or from this range (203.0.113.0/24)
  --pending-requests-min N      with N or more of its own connection requests still pending
  --status active|suspended

Configuration comes from the environment (see relay/ARCHITECTURE.md), e.g.
  DATABASE_URL=postgres://…   PostgreSQL; without it, PGlite in RELAY_DATA_DIR (.data/relay)
  RELAY_PORT=8700  RELAY_HOST=127.0.0.1  RELAY_REGISTRATION=invite|open
`

/** Where a command reads its environment and writes its answers: the process, or a test. */
export type Io = {
  env: Record<string, string | undefined>
  out: { write(text: string): unknown }
  err: { write(text: string): unknown }
}

const processIo: Io = { env: process.env, out: process.stdout, err: process.stderr }

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [command, ...rest] = argv
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    io.out.write(HELP)
    return command ? 0 : 1
  }
  let config: Config
  try {
    config = loadConfig(io.env)
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err.write(`${error.message}\n`)
      return 2
    }
    throw error
  }
  switch (command) {
    case 'serve':
      return serve(config)
    case 'migrate':
      return migrate(config, rest, io)
    case 'invite': {
      const { values } = parseArgs({
        args: rest,
        options: { days: { type: 'string', default: '7' }, note: { type: 'string', default: '' } },
      })
      const days = Number(values.days)
      if (!Number.isFinite(days) || days <= 0 || days > 365)
        return fail(io, '--days must be between 1 and 365')
      return withDatabase(config, io, async (database) => {
        const { token, expiresAt } = await createInvite(database.db, {
          nowMs: Date.now(),
          ttlMs: days * 86_400_000,
          note: values.note,
        })
        io.out.write(`${token}\n`)
        io.err.write(
          `valid until ${new Date(expiresAt).toISOString()}; give it to one company for \`ochat-node register\`\n`,
        )
      })
    }
    case 'instances':
    case 'purge':
      return withDatabase(config, io, (database) =>
        (command === 'purge' ? purgeCommand : instancesCommand)(rest, {
          db: database.db,
          store: new FileBlobStore(config.blobDir),
          out: io.out,
          err: io.err,
          nowMs: Date.now(),
        }),
      )
    case 'suspend':
    case 'unsuspend': {
      if (rest.length === 0) return fail(io, `usage: ochat-relay ${command} <instance-id>...`)
      return withDatabase(config, io, async (database) => {
        for (const id of rest) {
          if (!(await findInstance(database.db, id)))
            throw new UserError(`no instance ${id}; see \`ochat-relay instances\``)
        }
        for (const id of rest) {
          await updateInstance(database.db, id, { status: command === 'suspend' ? 'suspended' : 'active' })
          // Open sockets are closed on every replica; reconnecting, a suspended instance gets 4403.
          await announceInstanceChange(database.db, id)
          io.out.write(
            `${id} ${command === 'suspend' ? 'suspended: its requests and sockets get 403' : 'active again'}\n`,
          )
        }
        return 0
      })
    }
    case 'rotate-keys': {
      const before = existsSync(config.keysFile)
      if (!before) return fail(io, `no key file at ${config.keysFile}: start the relay once to create it`)
      const keys = rotateRelayKeys(config.keysFile, Date.now())
      const { serial, keys: listed } = keys.keySet.keySet
      io.out.write(`key set ${serial}: ${listed.map((key) => `${key.kid} (${key.status})`).join(', ')}\n`)
      io.err.write(
        'restart every replica to sign with the new key; nodes pick the new key set up from /v1/info\n',
      )
      return 0
    }
    case 'stats':
      return withDatabase(config, io, (database) =>
        statsCommand(rest, {
          db: database.db,
          store: new FileBlobStore(config.blobDir),
          out: io.out,
          err: io.err,
          nowMs: Date.now(),
        }),
      )
    default:
      return fail(io, `unknown command "${command}"; see \`ochat-relay --help\``)
  }
}

/**
 * `migrate [--dry-run]`. A database a newer ochat-relay migrated is refused: drizzle's migrator alone
 * would find nothing to run and call it current.
 */
async function migrate(config: Config, args: string[], io: Io): Promise<number> {
  let dryRun: boolean
  try {
    dryRun = parseOptions(() =>
      parseArgs({ args, options: { 'dry-run': { type: 'boolean', default: false } } }),
    ).values['dry-run']
  } catch (error) {
    if (error instanceof UserError)
      return fail(io, `${error.message}; usage: ochat-relay migrate [--dry-run]`)
    throw error
  }
  // Opening PGlite in a new directory would create a database: a dry run says what it would get.
  const database =
    dryRun && !config.databaseUrl && !existsSync(`${config.dataDir}/pglite/PG_VERSION`)
      ? undefined
      : await openDatabase(config)
  try {
    const plan = planMigrations(database ? await appliedWhens(database.db) : [])
    if (plan.state === 'newer') return fail(io, newerMessage(plan))
    if (dryRun || !database) {
      io.out.write(describePlan(plan))
      return 0
    }
    await migrateDatabase(database)
    io.out.write(`migrations applied (${database.driver})\n`)
    return 0
  } finally {
    await database?.close()
  }
}

/** A mistake on the command line: its message is printed, and the exit code is 2. */
export class UserError extends Error {}

/** What `instances` and `purge` need: the database, the attachment files, where to write, and the time. */
export type CommandIo = {
  db: Db
  store: BlobStore
  out: { write(text: string): unknown }
  err: { write(text: string): unknown }
  nowMs: number
}

const FILTER_OPTIONS = {
  since: { type: 'string' },
  address: { type: 'string' },
  'pending-requests-min': { type: 'string' },
  status: { type: 'string' },
} as const

/** `instances [filters]`: one line per registration, oldest first. */
export async function instancesCommand(args: string[], io: CommandIo): Promise<number> {
  const { values } = parseOptions(() => parseArgs({ args, options: FILTER_OPTIONS }))
  const filter = parseFilter(values, io.nowMs)
  const found = await listRegistrations(io.db, filter)
  if (found.length === 0) {
    io.out.write(Object.keys(filter).length > 0 ? 'no instances match\n' : 'no instances registered\n')
    return 0
  }
  for (const row of found) io.out.write(`${registrationLine(row)}\n`)
  io.err.write(`${plural(found.length, 'instance')}\n`)
  return 0
}

/**
 * `purge [<instance-id>...] [filters] [--yes]`: without --yes, lists what it would remove and does
 * nothing; with it, purges one instance at a time, printing each as it goes.
 */
export async function purgeCommand(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseOptions(() =>
    parseArgs({
      args,
      allowPositionals: true,
      options: { ...FILTER_OPTIONS, yes: { type: 'boolean', default: false } },
    }),
  )
  const filter = parseFilter(values, io.nowMs)
  // --status alone, or a minimum of 0 pending requests, would match every instance on the relay.
  const narrowed =
    positionals.length > 0 ||
    filter.address !== undefined ||
    filter.since !== undefined ||
    (filter.pendingRequestsMin ?? 0) >= 1
  if (!narrowed) {
    throw new UserError(
      'usage: ochat-relay purge [<instance-id>...] [--since 1h] [--address A] [--pending-requests-min N] [--yes]; name instances, or narrow with --address, --since or --pending-requests-min 1 or more',
    )
  }
  if (positionals.length > 0) filter.ids = positionals
  const found = await listRegistrations(io.db, filter)
  for (const id of positionals) {
    if (!found.some((row) => row.id === id))
      throw new UserError(
        `no instance ${id}${Object.keys(filter).length > 1 ? ' matching the filters' : ''}; see \`ochat-relay instances\``,
      )
  }
  if (found.length === 0) {
    io.out.write('no instances match; nothing purged\n')
    return 0
  }
  if (!values.yes) {
    for (const row of found) io.out.write(`${registrationLine(row)}\n`)
    io.err.write(
      `nothing purged: run again with --yes to purge ${found.length === 1 ? 'this instance' : `these ${found.length} instances`}\n`,
    )
    return 1
  }
  let purged = 0
  for (const [index, row] of found.entries()) {
    const outcome = await purgeInstance({ db: io.db, store: io.store, id: row.id })
    const step = `[${index + 1}/${found.length}]`
    if (outcome.purged) {
      purged++
      io.out.write(
        `${step} purged ${row.id} (${row.name}): ${plural(outcome.pendingRequests, 'pending request')}, ${plural(outcome.connections, 'connection')}, ${plural(outcome.queuedItems, 'queued item')}, ${plural(outcome.blobs, 'attachment')}\n`,
      )
    } else io.out.write(`${step} skipped ${row.id} (${row.name}): ${outcome.reason}\n`)
  }
  io.out.write(`purged ${purged} of ${plural(found.length, 'instance')}\n`)
  return 0
}

/** parseArgs' own complaints (an unknown option, a missing value) are mistakes on the command line too. */
function parseOptions<T>(parse: () => T): T {
  try {
    return parse()
  } catch (error) {
    throw new UserError(error instanceof Error ? error.message : String(error))
  }
}

const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`

function registrationLine(row: Registration): string {
  return [
    row.id,
    row.status.padEnd(9),
    new Date(row.registeredAt).toISOString(),
    `from ${(row.registeredFrom ?? '-').padEnd(15)}`,
    `sent ${row.requestsSent} (pending ${row.requestsPending})`,
    `incoming ${row.incomingPending}`,
    `${row.name}${row.webhookUrl ? `  webhook ${row.webhookUrl}` : ''}`,
  ].join('  ')
}

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const

/** A calendar date, or a date and time with an optional zone: what `--since` takes besides a duration. */
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?$/

const SINCE_FORMS =
  '--since takes a duration in minutes, hours or days (30m, 1h, 2d) or an ISO-8601 date (2026-12-07, 2026-12-07T10:00Z)'

function parseFilter(
  values: { since?: string; address?: string; 'pending-requests-min'?: string; status?: string },
  nowMs: number,
): RegistrationFilter {
  const filter: RegistrationFilter = {}
  if (values.since !== undefined) {
    // Date.parse alone is too lenient: it reads "5" as the year 2001, and a purge would sweep everything.
    const duration = /^(\d+)([mhd])$/.exec(values.since)
    const date = ISO_DATE.test(values.since) ? Date.parse(values.since) : Number.NaN
    if (duration) filter.since = nowMs - Number(duration[1]) * UNIT_MS[duration[2] as keyof typeof UNIT_MS]
    else if (Number.isFinite(date)) filter.since = date
    else throw new UserError(SINCE_FORMS)
  }
  if (values.address !== undefined) {
    if (!addressMatcher(values.address))
      throw new UserError(
        '--address takes an address (203.0.113.7, 2001:db8::1) or a CIDR range (203.0.113.0/24)',
      )
    filter.address = values.address
  }
  if (values['pending-requests-min'] !== undefined) {
    const min = Number(values['pending-requests-min'])
    if (!Number.isInteger(min) || min < 0) throw new UserError('--pending-requests-min takes a whole number')
    filter.pendingRequestsMin = min
  }
  if (values.status !== undefined) {
    if (values.status !== 'active' && values.status !== 'suspended')
      throw new UserError('--status is active or suspended')
    filter.status = values.status
  }
  return filter
}

function fail(io: Io, message: string): number {
  io.err.write(`${message}\n`)
  return 2
}

async function withDatabase(
  config: Config,
  io: Io,
  /** Resolves to the exit code, or to nothing for 0. */
  body: (database: Database) => Promise<unknown>,
): Promise<number> {
  const database = await openDatabase(config)
  try {
    await migrateDatabase(database)
    const code = await body(database)
    return typeof code === 'number' ? code : 0
  } catch (error) {
    if (error instanceof UserError) return fail(io, error.message)
    throw error
  } finally {
    await database.close()
  }
}

async function serve(config: Config): Promise<number> {
  const relay = await startRelay({ config })
  await relay.app.listen({ host: config.host, port: config.port })
  const address = relay.app.server.address()
  const port = address && typeof address === 'object' ? address.port : config.port
  relay.app.log.info(
    {
      relayId: relay.relayKeys.relayId,
      database: relay.database.driver,
      registration: config.registration,
      replica: config.replicaId,
    },
    `relay listening on http://${config.host}:${port}`,
  )
  const signal = await firstSignal()
  relay.app.log.info(
    { signal, shutdownMs: config.shutdownMs },
    'shutting down: not ready, no new connections, finishing what is in flight',
  )
  return finishWithin(relay.close(), config.shutdownMs, relay.app.log)
}

/** The first SIGTERM or SIGINT; a second one is left to its default, which ends the process at once. */
function firstSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', on)
      process.off('SIGINT', on)
      resolve(signal)
    }
    process.on('SIGTERM', on)
    process.on('SIGINT', on)
  })
}

/**
 * The exit status once `closing` settles, or once `boundMs` pass (RELAY_SHUTDOWN_MS): 0 for a clean
 * stop, 1 when it failed or was cut short, as the orchestrator would kill it anyway.
 */
async function finishWithin(
  closing: Promise<void>,
  boundMs: number,
  log: { info(message: string): void; error(details: object, message: string): void },
): Promise<number> {
  let timer: NodeJS.Timeout | undefined
  const outcome = await Promise.race([
    closing.then(
      () => 'stopped' as const,
      (error: unknown) => {
        log.error({ err: loggable(error) }, 'shutdown failed')
        return 'failed' as const
      },
    ),
    new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), boundMs)
    }),
  ])
  clearTimeout(timer)
  if (outcome === 'late')
    log.error({ shutdownMs: boundMs }, 'still finishing after RELAY_SHUTDOWN_MS: exiting anyway')
  else if (outcome === 'stopped') log.info('stopped')
  return outcome === 'stopped' ? 0 : 1
}

/** main() with every failure turned into a message and a next step, for the command line. */
export async function run(argv: string[]): Promise<number> {
  try {
    return await main(argv)
  } catch (error) {
    const code = errorCode(error)
    const message = String(loggable(error).message)
    const hint =
      code === 'ECONNREFUSED'
        ? 'PostgreSQL does not answer: check DATABASE_URL and that the server is running.'
        : code === '3D000'
          ? 'That database does not exist: create it, or fix DATABASE_URL.'
          : code === '28P01' || code === '28000'
            ? 'PostgreSQL refused the login: check the user and password in DATABASE_URL.'
            : 'See the message above; run with RELAY_LOG_LEVEL=debug for more.'
    process.stderr.write(`ochat-relay: ${message}\n${hint}\n`)
    return 1
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run(process.argv.slice(2)).then((code) => process.exit(code))
}
