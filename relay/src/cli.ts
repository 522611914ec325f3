import { parseArgs } from 'node:util'
import { sql } from 'drizzle-orm'
import { type Config, ConfigError, loadConfig } from './config.ts'
import { type Database, migrateDatabase, openDatabase, rows } from './db/client.ts'
import { announceInstanceChange } from './delivery/lease-repository.ts'
import { errorCode, loggable } from './errors.ts'
import { createInvite } from './instances/invites.ts'
import { findInstance, listInstances, updateInstance } from './instances/repository.ts'
import { startRelay } from './relay.ts'

const HELP = `ochat-relay: the O'Chat relay (ciphertext store-and-forward between company nodes)

Usage: ochat-relay <command> [options]

Commands:
  serve                  start the relay (HTTP + WebSocket) and its delivery workers
  migrate                apply database migrations and exit (serve also does it at start)
  invite [--days N] [--note TEXT]
                         print a one-time registration token (valid 7 days unless --days)
  instances              list registered instances
  suspend <instance-id>  refuse every request from an instance (403) until unsuspended
  unsuspend <instance-id>
  stats                  queue depth, envelopes by status, connected sockets, database size

Configuration comes from the environment (see relay/ARCHITECTURE.md), e.g.
  DATABASE_URL=postgres://…   PostgreSQL; without it, PGlite in RELAY_DATA_DIR (.data/relay)
  RELAY_PORT=8700  RELAY_HOST=127.0.0.1  RELAY_REGISTRATION=invite|open
`

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(HELP)
    return command ? 0 : 1
  }
  let config: Config
  try {
    config = loadConfig()
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`)
      return 2
    }
    throw error
  }
  switch (command) {
    case 'serve':
      return serve(config)
    case 'migrate':
      return withDatabase(config, async (database) => {
        await migrateDatabase(database)
        process.stdout.write(`migrations applied (${database.driver})\n`)
      })
    case 'invite': {
      const { values } = parseArgs({
        args: rest,
        options: { days: { type: 'string', default: '7' }, note: { type: 'string', default: '' } },
      })
      const days = Number(values.days)
      if (!Number.isFinite(days) || days <= 0 || days > 365) return fail('--days must be between 1 and 365')
      return withDatabase(config, async (database) => {
        const { token, expiresAt } = await createInvite(database.db, {
          nowMs: Date.now(),
          ttlMs: days * 86_400_000,
          note: values.note,
        })
        process.stdout.write(`${token}\n`)
        process.stderr.write(
          `valid until ${new Date(expiresAt).toISOString()}; give it to one company for \`ochat-node register\`\n`,
        )
      })
    }
    case 'instances':
      return withDatabase(config, async (database) => {
        const all = await listInstances(database.db)
        if (all.length === 0) process.stdout.write('no instances registered\n')
        for (const row of all) {
          process.stdout.write(
            `${row.id}  ${row.status.padEnd(9)}  ${new Date(row.registeredAt).toISOString()}  ${row.name}${row.webhookUrl ? `  webhook ${row.webhookUrl}` : ''}\n`,
          )
        }
      })
    case 'suspend':
    case 'unsuspend': {
      const id = rest[0]
      if (!id) return fail(`usage: ochat-relay ${command} <instance-id>`)
      return withDatabase(config, async (database) => {
        if (!(await findInstance(database.db, id)))
          throw new UserError(`no instance ${id}; see \`ochat-relay instances\``)
        await updateInstance(database.db, id, { status: command === 'suspend' ? 'suspended' : 'active' })
        // Open sockets are closed on every replica; reconnecting, a suspended instance gets 4403.
        await announceInstanceChange(database.db, id)
        process.stdout.write(
          `${id} ${command === 'suspend' ? 'suspended: its requests and sockets get 403' : 'active again'}\n`,
        )
      })
    }
    case 'stats':
      return withDatabase(config, async (database) => {
        const [queue] = await rows<{ items: string; oldest: string | null }>(
          database.db,
          sql`select count(*) as items, min(created_at) as oldest from queue`,
        )
        const statuses = await rows<{ status: string; n: string }>(
          database.db,
          sql`select status, count(*) as n from envelopes group by status order by status`,
        )
        const [instances] = await rows<{ n: string }>(database.db, sql`select count(*) as n from instances`)
        const [sockets] = await rows<{ n: string }>(
          database.db,
          sql`select count(*) as n from leases where expires_at > ${Date.now()}`,
        )
        const [storage] = await rows<{ database: string | number; queue: string | number }>(
          database.db,
          sql`select pg_database_size(current_database()) as database, pg_total_relation_size('queue') as queue`,
        )
        const megabytes = (bytes: string | number | undefined) =>
          `${(Number(bytes ?? 0) / 1e6).toFixed(1)} MB`
        const oldest = queue?.oldest ? `${Math.round((Date.now() - Number(queue.oldest)) / 1000)} s` : '-'
        process.stdout.write(
          `instances        ${instances?.n ?? 0}\nconnected        ${sockets?.n ?? 0}\nqueued items     ${queue?.items ?? 0} (oldest ${oldest})\n` +
            `database         ${megabytes(storage?.database)} (queue ${megabytes(storage?.queue)})\n`,
        )
        for (const row of statuses)
          process.stdout.write(`envelopes ${row.status.padEnd(7)}${row.n.padStart(8)}\n`)
      })
    default:
      return fail(`unknown command "${command}"; see \`ochat-relay --help\``)
  }
}

class UserError extends Error {}

function fail(message: string): number {
  process.stderr.write(`${message}\n`)
  return 2
}

async function withDatabase(config: Config, body: (database: Database) => Promise<void>): Promise<number> {
  const database = await openDatabase(config)
  try {
    await migrateDatabase(database)
    await body(database)
    return 0
  } catch (error) {
    if (error instanceof UserError) return fail(error.message)
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
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      relay.app.log.info({ signal }, 'shutting down: finishing in-flight deliveries')
      relay.close().then(resolve, resolve)
    }
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
  })
  return 0
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
