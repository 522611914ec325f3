import { type Clock, systemClock } from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import { buildApp, createLogger } from './app.ts'
import { AutomationRunner } from './automation/runner.ts'
import { BackupScheduler } from './backup/scheduler.ts'
import type { Config } from './config.ts'
import { Checkpointer } from './db/checkpointer.ts'
import { type Database, openDatabase } from './db/client.ts'
import { Housekeeping } from './db/housekeeping.ts'
import { WriteQueue } from './db/write-queue.ts'
import { LiveHubKickingMail } from './mail/after-commit.ts'
import { mailAliasRoutes } from './mail/alias-routes.ts'
import { DigestScheduler } from './mail/digest/scheduler.ts'
import type { InboundDeps } from './mail/inbound/receive.ts'
import { type Intake, intakeOf, SmtpListener } from './mail/inbound/smtp-listener.ts'
import { mailInboundRoutes } from './mail/inbound-routes.ts'
import { MailSender } from './mail/sender.ts'
import { MailTokens } from './mail/tokens.ts'
import { ModelRegistry } from './models/registry.ts'
import { ensureBaseData } from './models/seed.ts'
import { OchatFileTransfers } from './ochat/files/transfers.ts'
import { Ochat } from './ochat/runtime.ts'
import { AddressGuard } from './webhooks/address-guard.ts'
import { WebhookDispatcher } from './webhooks/dispatcher.ts'

export type Node = {
  app: FastifyInstance
  database: Database
  registry: ModelRegistry
  ochat: Ochat
  /** Sends queued emails; kicked after the commits that queue them. */
  mail: MailSender
  /** Queues each user's daily digest at their hour; `tick()` looks now. */
  digest: DigestScheduler
  /** Runs the rules of queued events and the time-based rules; `tick()` looks now. */
  automation: AutomationRunner
  /** Delivers outbound webhook messages; kicked after every commit. */
  webhooks: WebhookDispatcher
  /** Prunes old webhook deliveries and automation runs, hourly; `sweep()` does it now. */
  housekeeping: Housekeeping
  /** Scheduled backups (NODE_BACKUP_DIR); null when off. `tick()` takes one if due. */
  backups: BackupScheduler | null
  config: Config
  clock: Clock
  /** Listening address when started with `listen`. */
  url: string | undefined
  /** Incoming mail: what the intake works with, the intake, and the SMTP listener when one is set. */
  inbound: { deps: InboundDeps; intake: Intake; smtp: SmtpListener | null }
  close(): Promise<void>
}

/** Opens the database (migrating it), creates the base data and builds the app; listens if asked. */
export async function startNode(input: {
  config: Config
  clock?: Clock
  listen?: boolean
  logStream?: NodeJS.WritableStream
}): Promise<Node> {
  const clock = input.clock ?? systemClock
  const database = openDatabase(input.config.databaseFile)
  const registry = new ModelRegistry()
  ensureBaseData({ db: database.db, registry, now: clock.now() })
  const live = new LiveHubKickingMail()
  const writes = new WriteQueue(database)
  const log = createLogger(input.config, input.logStream)
  const tokens = MailTokens.load(database.db, clock.now())
  const mail = new MailSender({
    database,
    writes,
    clock,
    config: input.config,
    tokens,
    log,
    publish: (events) => live.publish({ events }),
  })
  live.onMailMayBeDue = () => mail.kick()
  const webhooks = new WebhookDispatcher({
    database,
    writes,
    clock,
    guard: new AddressGuard(input.config.webhookAllowlist),
    log,
    publish: (events) => live.publish({ events }),
    timeoutMs: input.config.webhookTimeoutMs,
  })
  const automation = new AutomationRunner({
    database,
    writes,
    clock,
    registry,
    site: input.config,
    log,
    publish: (effects) => live.publish(effects),
  })
  live.onPublished = () => {
    webhooks.kick()
    automation.kick()
  }
  const digest = new DigestScheduler({
    database,
    writes,
    clock,
    site: input.config,
    log,
    kickMail: () => mail.kick(),
  })
  const ochat = new Ochat({ database, writes, live, clock, config: input.config, log })
  const transfers = new OchatFileTransfers({
    db: database.db,
    writes,
    clock,
    live,
    attachmentDir: input.config.attachmentDir,
    log,
    ochat,
    retryScale: input.config.ochatRetryScale,
  })
  ochat.transfers = transfers
  const deps = { config: input.config, clock, database, registry, live, writes, ochat, mail, webhooks, log }
  const app = await buildApp(deps)
  const inboundDeps: InboundDeps = {
    database,
    writes,
    clock,
    registry,
    live,
    config: input.config,
    mail,
    tokens,
    log,
  }
  const intake = intakeOf(inboundDeps)
  // Registered here rather than in the app: they need the intake, which the node builds.
  await app.register(mailInboundRoutes, {
    db: database.db,
    clock,
    intake,
    maxBytes: input.config.inboundMaxBytes,
    dataDir: input.config.dataDir,
  })
  await app.register(mailAliasRoutes, {
    db: database.db,
    writes,
    clock,
    registry,
    config: input.config,
  })
  const checkpointer = Checkpointer.start({
    file: input.config.databaseFile,
    sqlite: database.sqlite,
    log: (message) => app.log.warn(message),
  })
  await ochat.start()
  // Files a stopped node was still moving (the rows are the queue); none before registration.
  if (ochat.state.kind === 'ready') transfers.resume()
  // Emails queued before a stop or a crash, and any due now; webhook messages likewise.
  mail.kick()
  await webhooks.start()
  const housekeeping = new Housekeeping({ writes, clock, log })
  void housekeeping.sweep()
  // Scheduled backups: the first at once when none in NODE_BACKUP_DIR is recent enough.
  const backups = input.config.backup
    ? new BackupScheduler({ settings: input.config, schedule: input.config.backup, clock, log })
    : null
  backups?.start()
  // Events queued before a stop, and time-based rules that fell due while the node was down.
  void automation.tick()
  let url: string | undefined
  if (input.listen) url = await app.listen({ host: input.config.host, port: input.config.port })
  const smtpSettings = input.config.inboundSmtp
  let smtp: SmtpListener | null = null
  try {
    if (smtpSettings) {
      smtp = new SmtpListener({
        settings: smtpSettings,
        maxBytes: input.config.inboundMaxBytes,
        intake,
        clock,
        name: new URL(input.config.publicUrl).hostname,
        log,
      })
      await smtp.listen()
    }
  } catch (error) {
    // A port taken or a certificate unreadable: nothing half-started is left behind.
    await ochat.close()
    await app.close()
    await automation.close()
    await webhooks.close()
    await housekeeping.close()
    await backups?.close()
    await digest.close()
    await mail.close()
    await checkpointer.stop()
    database.close()
    throw error
  }
  return {
    app,
    database,
    registry,
    ochat,
    mail,
    digest,
    webhooks,
    automation,
    housekeeping,
    backups,
    config: input.config,
    clock,
    url,
    inbound: { deps: inboundDeps, intake, smtp },
    close: async () => {
      // Mail first: a message being received is answered and stored while everything is still up.
      await smtp?.close()
      // The relay socket first: deliveries being stored finish and are acknowledged, nothing new starts.
      await ochat.close()
      await app.close()
      // Rules running finish; what they queue is sent by the dispatcher's and sender's last passes.
      await automation.close()
      // Calls under way finish and are recorded while the database is open.
      await webhooks.close()
      await housekeeping.close()
      // A backup under way is abandoned: a partial file is never left for a whole one.
      await backups?.close()
      // Before the mail sender: a digest being queued commits and its kick finds the sender still up.
      await digest.close()
      // After the app (no Retry can kick it any more), before the database: its last answers are written.
      await mail.close()
      await checkpointer.stop()
      database.close()
    },
  }
}
