import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { count, eq } from 'drizzle-orm'
import { systemClock } from './clock.ts'
import { type Config, ConfigError, loadConfig } from './config.ts'
import { openDatabase } from './db/client.ts'
import { users } from './db/schema.ts'
import { ensureBaseData } from './db/seed.ts'
import { NodeError } from './errors.ts'
import { ModelRegistry } from './models/registry.ts'
import { startNode } from './node.ts'
import { createUser } from './people/create-user.ts'
import { UserCreateSchema } from './people/schema.ts'

const HELP = `ochat-node: an O'Chat node (a company's chatter, activities and encrypted messaging)

Usage: ochat-node <command> [options]

Commands:
  init --login LOGIN [--name NAME] [--email EMAIL] [--password PASSWORD] [--time-zone TZ]
                         create the data directory and the first administrator
                         (without --password, one is generated and printed once;
                         OCHAT_ADMIN_PASSWORD is read too, so it stays out of shell history)
  serve                  start the node (web UI, REST API under /api/v1, live WebSocket)
  migrate                apply database migrations and exit (serve also does it at start)

Configuration comes from the environment (see node/ARCHITECTURE.md), e.g.
  NODE_DATA_DIR=.data/node  NODE_PORT=8800  NODE_HOST=127.0.0.1  NODE_COMPANY="Acme"
  NODE_PUBLIC_URL=https://erp.acme.example   (links in emails and the iCal feed)
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
    case 'migrate': {
      const database = openDatabase(config.databaseFile)
      database.close()
      process.stdout.write(`migrations applied to ${config.databaseFile}\n`)
      return 0
    }
    case 'init':
      return init(config, rest)
    default:
      return fail(`unknown command "${command}"; see \`ochat-node --help\``)
  }
}

async function init(config: Config, args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      login: { type: 'string' },
      name: { type: 'string' },
      email: { type: 'string' },
      password: { type: 'string' },
      'time-zone': { type: 'string' },
    },
  })
  if (!values.login)
    return fail(
      'usage: ochat-node init --login LOGIN [--name NAME] [--email EMAIL] [--password PASSWORD] [--time-zone TZ]',
    )
  const generated = !values.password && !process.env.OCHAT_ADMIN_PASSWORD
  const password =
    values.password ?? process.env.OCHAT_ADMIN_PASSWORD ?? randomBytes(12).toString('base64url')
  const parsed = UserCreateSchema.safeParse({
    login: values.login,
    password,
    name: values.name ?? values.login,
    email: values.email ?? null,
    role: 'admin',
    timeZone: values['time-zone'] ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC',
  })
  if (!parsed.success)
    return fail(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('\n'))
  const database = openDatabase(config.databaseFile)
  try {
    const registry = new ModelRegistry()
    ensureBaseData({ db: database.db, registry, now: systemClock.now() })
    const admins = database.db.select({ n: count() }).from(users).where(eq(users.role, 'admin')).get()?.n ?? 0
    if (admins > 0)
      return fail(`${config.dataDir} already has an administrator; log in, or add users from the UI`)
    await createUser({ db: database.db, user: parsed.data, now: systemClock.now() })
    process.stdout.write(`created ${config.databaseFile}\nadministrator: ${parsed.data.login}\n`)
    if (generated)
      process.stdout.write(`password: ${password}\n(shown once: keep it in your password manager)\n`)
    process.stdout.write(`next: ochat-node serve, then open ${config.publicUrl}\n`)
    return 0
  } catch (error) {
    if (error instanceof NodeError) return fail(error.detail)
    throw error
  } finally {
    database.close()
  }
}

async function serve(config: Config): Promise<number> {
  const node = await startNode({ config, listen: true })
  node.app.log.info({ dataDir: config.dataDir }, `node listening on ${node.url}`)
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      node.app.log.info({ signal }, 'shutting down')
      node.close().then(resolve, resolve)
    }
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
  })
  return 0
}

function fail(message: string): number {
  process.stderr.write(`${message}\n`)
  return 2
}

/** main() with every failure turned into a message and a next step, for the command line. */
export async function run(argv: string[]): Promise<number> {
  try {
    return await main(argv)
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    const code = (error as { code?: string }).code
    const hint =
      code === 'EACCES' || code === 'EROFS'
        ? 'The data directory is not writable: set NODE_DATA_DIR to a folder this user can write.'
        : code === 'SQLITE_BUSY'
          ? 'Another process holds the database: stop it, or wait and retry.'
          : code === 'EADDRINUSE'
            ? 'The port is taken: set NODE_PORT to a free port.'
            : 'See the message above; run with NODE_LOG_LEVEL=debug for more.'
    process.stderr.write(`ochat-node: ${message}\n${hint}\n`)
    return 1
  }
}
