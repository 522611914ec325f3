import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { systemClock } from '@ochat/shared-protocol/server'
import { count, eq } from 'drizzle-orm'
import { backup, restore } from './cli/backup.ts'
import type { Io } from './cli/io.ts'
import { mailInbound } from './cli/mail-inbound.ts'
import { type Config, ConfigError, firstAdminFrom, loadConfig } from './config.ts'
import { openDatabase } from './db/client.ts'
import { describePlan, newerMessage, planMigrations } from './db/pending-migrations.ts'
import { users } from './db/schema.ts'
import { NodeError } from './errors.ts'
import { ModelRegistry } from './models/registry.ts'
import { ensureBaseData } from './models/seed.ts'
import { startNode } from './node.ts'
import { identityRow, openInstance } from './ochat/identity/instance.ts'
import { Keystore, KeystoreError } from './ochat/identity/keystore.ts'
import { registerInstance } from './ochat/identity/register-instance.ts'
import { RelayAnswerError, RelayHttpClient, RelayUnreachableError } from './ochat/relay/http-client.ts'
import { createUser } from './people/create-user.ts'
import { type UserCreate, UserCreateSchema } from './people/schema.ts'

const HELP = `ochat-node: an O'Chat node (a company's chatter, activities and encrypted messaging)

Usage: ochat-node <command> [options]

Commands:
  init --login LOGIN [--name NAME] [--email EMAIL] [--password PASSWORD] [--time-zone TZ]
                         create the data directory and the first administrator
                         (without --password, one is generated and printed once;
                         OCHAT_ADMIN_PASSWORD is read too, so it stays out of shell history)
  serve                  start the node (web UI, REST API under /api/v1, live WebSocket);
                         with OCHAT_ADMIN_LOGIN and OCHAT_ADMIN_PASSWORD (and optionally
                         OCHAT_ADMIN_NAME, OCHAT_ADMIN_EMAIL) it first creates that
                         administrator if the node has none (containers, scripts)
  migrate [--dry-run]    apply database migrations and exit (serve also does it at start);
                         --dry-run lists the ones that would run and changes nothing
  register --relay URL [--invite TOKEN] [--name NAME] [--webhook-url URL | --no-webhook]
                         O'Chat: generate this node's keys, register them with the relay
                         (--invite when the relay registers by invitation), pin the relay's
                         key set, and print the instance id to give to partners. The name
                         is NODE_COMPANY unless --name; the relay POSTs deliveries to the
                         webhook (NODE_PUBLIC_URL/ochat/webhook) while the node's WebSocket
                         is down. A running node picks the registration up within seconds.
  status                 O'Chat: the registration and how the relay sees it now (valid,
                         suspended, or unreachable with the error)
  mail-inbound < message.eml
                         file one received email (read from stdin) as the SMTP listener
                         would: for an MTA's pipe (Postfix mailbox_command). Exits 0 when
                         taken in or dropped, 67 refused, 65 unreadable or too big,
                         75 when the node cannot store it now (the MTA retries)
  backup --out FILE [--passphrase-file PATH]
                         write the data directory to FILE, also while the node runs: a
                         consistent copy of the database, the attachments it references and
                         a manifest of SHA-256 sums; encrypted with the passphrase in PATH.
                         NODE_BACKUP_DIR makes the running node do it on a schedule
  restore FILE [--data-dir DIR] [--passphrase-file PATH]
                         restore a backup into a new or empty directory (NODE_DATA_DIR by default), every file checked
                         before anything is put in place

Configuration comes from the environment (see node/ARCHITECTURE.md), e.g.
  NODE_DATA_DIR=.data/node  NODE_PORT=8800  NODE_HOST=127.0.0.1  NODE_COMPANY="Acme"
  NODE_PUBLIC_URL=https://erp.acme.example   (links in emails, the iCal feed, the O'Chat webhook)
  NODE_OCHAT_SECRET_FILE=/etc/ochat/secret   (seals O'Chat keys at rest; or NODE_OCHAT_SECRET)
  NODE_TRUST_PROXY=127.0.0.1                 (behind a TLS proxy: believe its X-Forwarded-For/-Proto)
`

export type { Io }

const processIo: Io = {
  env: process.env,
  stdin: process.stdin,
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
}

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [command, ...rest] = argv
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    io.out(HELP)
    return command ? 0 : 1
  }
  let config: Config
  try {
    config = loadConfig(io.env)
  } catch (error) {
    if (error instanceof ConfigError) {
      io.err(`${error.message}\n`)
      return 2
    }
    throw error
  }
  switch (command) {
    case 'serve':
      return serve(config, io)
    case 'migrate':
      return migrate(config, rest, io)
    case 'init':
      return init(config, rest, io)
    case 'register':
      return register(config, rest, io)
    case 'status':
      return status(config, io)
    case 'mail-inbound':
      return mailInbound(config, io)
    case 'backup':
      return backup(config, rest, io)
    case 'restore':
      return restore(config, rest, io)
    default:
      return fail(io, `unknown command "${command}"; see \`ochat-node --help\``)
  }
}

/**
 * `migrate [--dry-run]`. A database a newer ochat-node migrated is refused: drizzle's migrator alone
 * would find nothing to run and call it current.
 */
function migrate(config: Config, args: string[], io: Io): number {
  let dryRun: boolean
  try {
    const { values } = parseArgs({ args, options: { 'dry-run': { type: 'boolean', default: false } } })
    dryRun = values['dry-run']
  } catch (error) {
    return fail(
      io,
      `${error instanceof Error ? error.message : String(error)}; usage: ochat-node migrate [--dry-run]`,
    )
  }
  const plan = planMigrations(config.databaseFile)
  if (plan.state === 'newer') return fail(io, newerMessage(config.databaseFile, plan))
  if (dryRun) {
    io.out(describePlan(plan))
    return 0
  }
  const database = openDatabase(config.databaseFile)
  database.close()
  io.out(`migrations applied to ${config.databaseFile}\n`)
  return 0
}

async function init(config: Config, args: string[], io: Io): Promise<number> {
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
      io,
      'usage: ochat-node init --login LOGIN [--name NAME] [--email EMAIL] [--password PASSWORD] [--time-zone TZ]',
    )
  const fromEnv = firstAdminFrom(io.env).password
  const generated = !values.password && !fromEnv
  const password = values.password ?? fromEnv ?? randomBytes(12).toString('base64url')
  const parsed = UserCreateSchema.safeParse({
    login: values.login,
    password,
    name: values.name ?? values.login,
    email: values.email ?? null,
    role: 'admin',
    timeZone: values['time-zone'] ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC',
  })
  if (!parsed.success)
    return fail(
      io,
      parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('\n'),
    )
  try {
    if ((await createFirstAdmin(config, parsed.data)) === 'exists')
      return fail(io, `${config.dataDir} already has an administrator; log in, or add users from the UI`)
  } catch (error) {
    if (error instanceof NodeError) return fail(io, error.detail)
    throw error
  }
  io.out(`created ${config.databaseFile}\nadministrator: ${parsed.data.login}\n`)
  if (generated) io.out(`password: ${password}\n(shown once: keep it in your password manager)\n`)
  io.out(`next: ochat-node serve, then open ${config.publicUrl}\n`)
  return 0
}

/** The first administrator, unless the node has one already. */
async function createFirstAdmin(config: Config, user: UserCreate): Promise<'created' | 'exists'> {
  const database = openDatabase(config.databaseFile)
  try {
    const registry = new ModelRegistry()
    ensureBaseData({ db: database.db, registry, now: systemClock.now() })
    const admins = database.db.select({ n: count() }).from(users).where(eq(users.role, 'admin')).get()?.n ?? 0
    if (admins > 0) return 'exists'
    await createUser({ db: database.db, user, now: systemClock.now() })
    return 'created'
  } finally {
    database.close()
  }
}

/**
 * For containers and `pnpm start`: `serve` makes the first administrator from OCHAT_ADMIN_LOGIN and
 * OCHAT_ADMIN_PASSWORD (OCHAT_ADMIN_NAME, OCHAT_ADMIN_EMAIL optional) when the node has none yet, so
 * no separate `init` run is needed. Answers an exit code when the variables are not usable.
 */
async function firstAdminFromEnv(config: Config, io: Io): Promise<number | undefined> {
  const admin = firstAdminFrom(io.env)
  if (!admin.login) return undefined
  if (!admin.password)
    return fail(io, 'OCHAT_ADMIN_LOGIN is set without OCHAT_ADMIN_PASSWORD: set both, or neither')
  const parsed = UserCreateSchema.safeParse({
    login: admin.login,
    password: admin.password,
    name: admin.name || admin.login,
    email: admin.email || null,
    role: 'admin',
    timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC',
  })
  if (!parsed.success)
    return fail(
      io,
      `OCHAT_ADMIN_*: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`,
    )
  try {
    if ((await createFirstAdmin(config, parsed.data)) === 'created')
      io.out(`created the administrator ${parsed.data.login} (OCHAT_ADMIN_LOGIN)\n`)
  } catch (error) {
    if (error instanceof NodeError) return fail(io, `OCHAT_ADMIN_*: ${error.detail}`)
    throw error
  }
  return undefined
}

const NO_SECRET = `O'Chat needs an operator secret to seal this node's keys at rest, and none is set.
Create one (at least 16 characters), keep it out of the data directory's backups, and point the node at it:
  umask 077 && openssl rand -base64 32 > /etc/ochat/secret
  export NODE_OCHAT_SECRET_FILE=/etc/ochat/secret      (or NODE_OCHAT_SECRET=…)
Use the same setting for \`ochat-node serve\`: without it the keys cannot be opened.`

async function register(config: Config, args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      relay: { type: 'string' },
      invite: { type: 'string' },
      name: { type: 'string' },
      'webhook-url': { type: 'string' },
      'no-webhook': { type: 'boolean', default: false },
    },
  })
  const usage =
    'usage: ochat-node register --relay URL [--invite TOKEN] [--name NAME] [--webhook-url URL | --no-webhook]'
  if (!values.relay) return fail(io, `--relay is required\n${usage}`)
  if (!isHttpUrl(values.relay)) return fail(io, `--relay: "${values.relay}" is not an http(s) URL\n${usage}`)
  if (values['webhook-url'] !== undefined && values['no-webhook'])
    return fail(io, `give --webhook-url or --no-webhook, not both\n${usage}`)
  if (values['webhook-url'] !== undefined && !isHttpUrl(values['webhook-url']))
    return fail(io, `--webhook-url: "${values['webhook-url']}" is not an http(s) URL`)
  if (!config.ochatSecret) return fail(io, NO_SECRET)
  const webhookUrl = values['no-webhook'] ? undefined : (values['webhook-url'] ?? config.ochatWebhookUrl)
  const name = values.name?.trim() || config.company
  const database = openDatabase(config.databaseFile)
  try {
    const existing = identityRow(database.db)
    if (existing)
      return fail(
        io,
        `${config.dataDir} is already registered as ${existing.instanceId} ("${existing.name}") with ${existing.relayUrl}.\n` +
          'An instance keeps its identity: see `ochat-node status`.',
      )
    const done = await registerInstance({
      database,
      keystore: new Keystore(config.ochatSecret),
      relayUrl: values.relay,
      name,
      webhookUrl,
      inviteToken: values.invite,
      nowMs: systemClock.now(),
    })
    io.out(
      [
        `registered "${name}" with the relay at ${values.relay.replace(/\/$/, '')} (${done.relayId})`,
        `instance id: ${done.instanceId}`,
        webhookUrl
          ? `webhook: ${webhookUrl} (the relay POSTs there while this node's WebSocket is down)`
          : 'webhook: none (deliveries arrive over the WebSocket only)',
        'next:',
        '  - start the node (`ochat-node serve`), or keep it running: it picks this up within seconds;',
        '  - give the instance id to partner companies, or ask for theirs and request a connection',
        "    in Settings → O'Chat → Connections (POST /api/v1/ochat/connections).",
        '',
      ].join('\n'),
    )
    return 0
  } catch (error) {
    if (!(error instanceof NodeError)) throw error
    switch (error.code) {
      case 'E_OCHAT_INVITE_REQUIRED':
        return fail(
          io,
          `${error.detail}.\nRun again with --invite TOKEN (the operator prints one with \`ochat-relay invite\`).`,
        )
      case 'E_OCHAT_RELAY_UNREACHABLE':
        return fail(
          io,
          `${error.detail}\nCheck the URL, that the relay is running, and this server's network.`,
        )
      case 'E_OCHAT_RELAY_REFUSED':
        return fail(
          io,
          values.invite
            ? `${error.detail}\nAn invite works once and expires: ask the relay's operator for a new one.`
            : error.detail,
        )
      default:
        return fail(io, error.detail)
    }
  } finally {
    database.close()
  }
}

/** The registration as stored, then as the relay sees it now (a signed GET /v1/instances/me). */
async function status(config: Config, io: Io): Promise<number> {
  const database = openDatabase(config.databaseFile)
  try {
    const row = identityRow(database.db)
    if (!row) {
      io.out(`not registered (${config.dataDir})\nnext: ochat-node register --relay https://relay.example\n`)
      return config.ochatSecret ? 1 : fail(io, `\n${NO_SECRET}`)
    }
    const lines = [
      `instance id: ${row.instanceId} ("${row.name}")`,
      `relay: ${row.relayUrl} (${row.relayName}, ${row.relayId})`,
      `webhook: ${row.webhookUrl ?? 'none'}`,
      `registered: ${new Date(row.registeredAt).toISOString()}`,
      `last seen by the running node: ${row.relayStatus}${row.lastContactAt ? ` (last contact ${new Date(row.lastContactAt).toISOString()})` : ''}${row.lastError ? `; last error: ${row.lastError}` : ''}`,
    ]
    io.out(`${lines.join('\n')}\n`)
    if (!config.ochatSecret) return fail(io, `status: unknown (the keys are sealed)\n${NO_SECRET}`)
    let instance: ReturnType<typeof openInstance>
    try {
      instance = openInstance(row, new Keystore(config.ochatSecret))
    } catch (error) {
      if (!(error instanceof KeystoreError)) throw error
      return fail(
        io,
        `status: locked: ${error.message}\nThe operator secret does not open this node's keys: use the one it was registered with.`,
      )
    }
    const relay = new RelayHttpClient(row.relayUrl, {
      relayId: instance.relayId,
      instanceId: instance.instanceId,
      identitySecretKey: instance.identity.secretKey,
      now: () => systemClock.now(),
    })
    try {
      const me = await relay.me()
      if (me.status === 'suspended') {
        io.out('status: suspended by the relay operator (ask them why)\n')
        return 1
      }
      io.out('status: valid\n')
      return 0
    } catch (error) {
      if (error instanceof RelayUnreachableError) {
        io.out(`status: unreachable: ${error.message}\n`)
        return 1
      }
      if (error instanceof RelayAnswerError) {
        const suspended = error.code === 'E_SUSPENDED'
        io.out(
          suspended
            ? `status: suspended: ${error.message}\n`
            : `status: refused by the relay: ${error.message} (${error.code}, ${error.reason})\n`,
        )
        return 1
      }
      throw error
    }
  } finally {
    database.close()
  }
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text)
    return url.protocol === 'http:' || url.protocol === 'https:'
  } catch {
    return false
  }
}

async function serve(config: Config, io: Io): Promise<number> {
  const refused = await firstAdminFromEnv(config, io)
  if (refused !== undefined) return refused
  const node = await startNode({ config, listen: true })
  node.app.log.info({ dataDir: config.dataDir }, `node listening on ${node.url}`)
  const signal = await firstSignal()
  node.app.log.info(
    { signal, shutdownMs: config.shutdownMs },
    'shutting down: not ready, no new connections, finishing what is in flight',
  )
  // Not ready first, so a balancer stops sending; no new connections; then everything stops in order.
  node.app.readiness.shuttingDown()
  if (node.app.server.listening) node.app.server.close()
  return finishWithin(node.close(), config.shutdownMs, node.app.log)
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
 * The exit status once `closing` settles, or once `boundMs` pass (NODE_SHUTDOWN_MS): 0 for a clean
 * stop, 1 when it failed or was cut short. SQLite in WAL mode keeps every committed write either way.
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
        log.error({ err: error }, 'shutdown failed')
        return 'failed' as const
      },
    ),
    new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), boundMs)
    }),
  ])
  clearTimeout(timer)
  if (outcome === 'late')
    log.error({ shutdownMs: boundMs }, 'still finishing after NODE_SHUTDOWN_MS: exiting anyway')
  else if (outcome === 'stopped') log.info('stopped')
  return outcome === 'stopped' ? 0 : 1
}

function fail(io: Io, message: string): number {
  io.err(`${message}\n`)
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
