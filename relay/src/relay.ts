import { type Clock, systemClock } from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import { buildApp } from './app.ts'
import { purgeExpiredNonces } from './auth/nonce-store.ts'
import { FileBlobStore } from './blobs/blob-store.ts'
import { purgeBlobs } from './blobs/purge-blobs.ts'
import type { Config } from './config.ts'
import { type Database, migrateDatabase, openDatabase } from './db/client.ts'
import { sweepExpired } from './delivery/delivery-failures.ts'
import { LeaseLoop } from './delivery/lease-loop.ts'
import {
  INSTANCE_CHANNEL,
  LEASE_CHANNEL,
  parseLeaseNotice,
  renewLeases,
} from './delivery/lease-repository.ts'
import { createMetrics, type DeliveryMetrics } from './delivery/metrics.ts'
import { WAKE_CHANNEL } from './delivery/queue-repository.ts'
import { SocketHub } from './delivery/socket-hub.ts'
import { SubmitRequestIds } from './delivery/submit-request-ids.ts'
import { WebhookWorker } from './delivery/webhook-worker.ts'
import { CLOSE } from './delivery/ws-routes.ts'
import { EnvelopeWriter } from './envelopes/envelope-writer.ts'
import { RateLimiter } from './envelopes/rate-limiter.ts'
import { loggable } from './errors.ts'
import { Readiness } from './info/readiness.ts'
import { loadOrCreateRelayKeys, type RelayKeys } from './info/relay-keys.ts'
import { purgeMetadata } from './ops/retention.ts'
import { TableVacuum, vacuumsItself } from './ops/vacuum.ts'

export type Relay = {
  app: FastifyInstance
  config: Config
  database: Database
  relayKeys: RelayKeys
  hub: SocketHub
  writer: EnvelopeWriter
  webhooks: WebhookWorker
  metrics: DeliveryMetrics
  /** Renews the leases of the sockets held here; readiness fails when it stops or falls behind. */
  leaseLoop: LeaseLoop
  /** What GET /readyz answers. */
  readiness: Readiness
  /**
   * Runs the periodic jobs now and resolves once what they sent is written (tests with a faked clock
   * call it instead of waiting).
   */
  runJobs(): Promise<void>
  /**
   * Fails readiness, stops accepting connections, closes node sockets with 1012 so nodes reconnect at
   * once elsewhere, finishes what is in flight, then closes the database. Unbounded: `serve` bounds it.
   */
  close(): Promise<void>
}

/**
 * Everything one relay process runs: the database (migrated), the relay keys, the app, the wake-up
 * listeners and the periodic jobs. Replicas run this same code over one PostgreSQL.
 */
export async function startRelay(props: {
  config: Config
  clock?: Clock
  database?: Database
  /** Where logs go; stdout by default. */
  logStream?: NodeJS.WritableStream
}): Promise<Relay> {
  const { config } = props
  const clock = props.clock ?? systemClock
  const database = props.database ?? (await openDatabase(config))
  try {
    await migrateDatabase(database)
  } catch (error) {
    // One it opened itself is closed again; one it was given stays its caller's.
    if (!props.database) await database.close()
    throw error
  }
  const relayKeys = loadOrCreateRelayKeys(config.keysFile, clock.now())
  const hub = new SocketHub()
  const metrics = createMetrics({ db: database.db, clock, sockets: () => hub.size })
  const writer = new EnvelopeWriter({
    db: database.db,
    clock,
    deadlineMs: config.deliveryDeadlineMs,
    onCommitted: (count) => metrics.accepted.inc(count),
    replicaId: config.replicaId,
    visibilityMs: config.claimVisibilityMs,
    handOffTo: (instanceId) => hub.get(instanceId),
  })
  const limits = {
    instance: new RateLimiter({ burst: config.rate.instanceBurst, perSecond: config.rate.instancePerSecond }),
    connection: new RateLimiter({
      burst: config.rate.connectionBurst,
      perSecond: config.rate.connectionPerSecond,
    }),
  }
  const blobStore = new FileBlobStore(config.blobDir)
  const onError = (error: unknown) => app.log.error({ err: loggable(error) }, 'background work failed')
  const leaseLoop = new LeaseLoop({
    clock,
    intervalMs: config.leaseHeartbeatMs,
    lateAfterMs: config.leaseTtlMs,
    renew: () =>
      renewLeases(database.db, {
        instanceIds: hub.instanceIds(),
        replicaId: config.replicaId,
        nowMs: clock.now(),
        ttlMs: config.leaseTtlMs,
      }),
    onError,
  })
  const readiness = new Readiness({ database, leaseLoop: () => leaseLoop.health() })
  // Shared by the submit route and the webhook worker: the submit's id travels with its envelopes.
  const submits = new SubmitRequestIds()
  const app = await buildApp({
    config,
    clock,
    database,
    relayKeys,
    writer,
    limits,
    hub,
    metrics,
    blobStore,
    readiness,
    submits,
    ...(props.logStream ? { logStream: props.logStream } : {}),
  })
  const webhooks = new WebhookWorker({
    db: database.db,
    clock,
    config,
    relayKeys,
    metrics,
    log: app.log,
    submits,
  })
  const deadlineHours = Math.round(config.deliveryDeadlineMs / 3_600_000)
  const sweep = () =>
    sweepExpired(database.db, { nowMs: clock.now(), deadlineMs: config.deliveryDeadlineMs, deadlineHours })
  /**
   * Retention: expired nonces, settled metadata past 30 days, fetched or expired attachments.
   * Each goes on its own: one that keeps failing does not hold up the others.
   */
  const purge = async () => {
    limits.instance.prune(clock.now())
    limits.connection.prune(clock.now())
    const outcomes = await Promise.allSettled([
      purgeExpiredNonces(database.db, clock.now()),
      purgeMetadata(database.db, { nowMs: clock.now(), retentionMs: config.metadataRetentionMs }),
      purgeBlobs(database.db, blobStore, clock.now()),
    ])
    for (const outcome of outcomes) if (outcome.status === 'rejected') onError(outcome.reason)
  }
  const { vacuums: vacuuming, serverAutovacuum } = await vacuumsItself(database, config.vacuum)
  if (vacuuming)
    app.log.info({ vacuum: config.vacuum, driver: database.driver }, 'the relay vacuums its own tables')
  else if (serverAutovacuum === false)
    app.log.warn(
      { vacuum: config.vacuum },
      "the server's autovacuum is off and nothing vacuums the relay's tables: they will grow until VACUUM runs; schedule VACUUM, or set RELAY_VACUUM=on",
    )
  else app.log.info({ vacuum: config.vacuum }, "table maintenance is left to the server's autovacuum")
  const vacuum = new TableVacuum(database, (table) => metrics.vacuums.inc({ table }))

  // Wake-ups carry instance ids only; the queue in PostgreSQL is the only data path.
  const unlisten = [
    await database.listen(WAKE_CHANNEL, (payload) => {
      void hub.wake(payload.split(','), onError)
      webhooks.tick()
    }),
    await database.listen(INSTANCE_CHANNEL, (instanceId) => {
      hub.kick(instanceId, CLOSE.authFailed, 'instance changed: authenticate again').catch(onError)
    }),
    await database.listen(LEASE_CHANNEL, (payload) => {
      hub.evict(parseLeaseNotice(payload)).catch(onError)
    }),
  ]
  const timers = [
    // Poll backstop: a NOTIFY is lost if the listening connection drops.
    setInterval(() => {
      void hub.wake(hub.instanceIds(), onError)
      webhooks.tick()
      sweep().catch(onError)
    }, config.pollIntervalMs),
    setInterval(() => void purge(), config.purgeIntervalMs),
    ...(vacuuming ? [setInterval(() => vacuum.run().catch(onError), config.vacuumIntervalMs)] : []),
  ]
  for (const timer of timers) timer.unref()
  leaseLoop.start()
  webhooks.tick()

  let closing: Promise<void> | undefined
  return {
    app,
    config,
    database,
    relayKeys,
    hub,
    writer,
    webhooks,
    metrics,
    leaseLoop,
    readiness,
    async runJobs() {
      await sweep()
      await purge()
      if (vacuuming) await vacuum.run()
      await hub.wake(hub.instanceIds(), onError)
      webhooks.tick()
      await webhooks.idle()
    },
    close() {
      closing ??= (async () => {
        // Not ready from now on, so a balancer stops sending; then no new connections.
        readiness.shuttingDown()
        if (app.server.listening) app.server.close()
        for (const timer of timers) clearInterval(timer)
        leaseLoop.stop()
        await vacuum.stop()
        // In-flight webhook POSTs finish and are settled, and each socket's submits and acks commit
        // and are answered before it closes (1012: the node reconnects at once, to another replica).
        await Promise.all([webhooks.stop(), hub.closeAll(CLOSE.shuttingDown, 'relay shutting down')])
        // HTTP requests under way are answered; new ones on open connections get 503.
        await app.close()
        await writer.drain()
        for (const stop of unlisten) await stop().catch(onError)
        await database.close()
      })()
      return closing
    },
  }
}
