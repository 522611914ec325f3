import { randomBytes } from 'node:crypto'
import { resolve } from 'node:path'
import { DEFAULT_UPLOAD_PACE, LIMITS, type UploadPace } from '@ochat/shared-protocol'
import { z } from 'zod'
import { parseTrustProxy, type TrustProxy } from './limits/client-address.ts'

/**
 * The relay's configuration, parsed once from the environment at boot. Every problem is listed at once
 * and the process exits; the result is frozen. Units are in the names.
 */
const ConfigSchema = z.object({
  RELAY_HOST: z.string().default('127.0.0.1'),
  RELAY_PORT: z.coerce.number().int().min(0).max(65535).default(8700),
  /** Name shown to nodes in /v1/info. */
  RELAY_NAME: z.string().trim().min(1).max(200).default("O'Chat relay"),
  /** PGlite data, relay keys and blobs live here unless set separately. */
  RELAY_DATA_DIR: z.string().default('.data/relay'),
  /** postgres://… to use PostgreSQL; PGlite in the data directory when unset. */
  DATABASE_URL: z.string().url().optional(),
  /** Shared by replicas: a volume they all mount. */
  RELAY_BLOB_DIR: z.string().optional(),
  /** An attachment upload that sends no byte for this long is cut off and its partial file removed: 30 s. */
  RELAY_UPLOAD_IDLE_MS: z.coerce.number().int().min(100).default(DEFAULT_UPLOAD_PACE.idleMs),
  /** An upload slower than this over any such stretch is cut off too: 4 KiB/s. */
  RELAY_UPLOAD_MIN_BYTES_PER_S: z.coerce.number().int().min(0).default(DEFAULT_UPLOAD_PACE.minBytesPerSecond),
  /** File holding the relay's signing keys (created on first start); replicas share it. */
  RELAY_KEYS_FILE: z.string().optional(),
  /** open: anyone may register; invite: a one-time token from `ochat-relay invite` is required. */
  RELAY_REGISTRATION: z.enum(['open', 'invite']).default('invite'),
  /** New instances per client address (IPv6: per /64) per hour, with open registration. */
  RELAY_REGISTRATIONS_PER_ADDRESS_PER_HOUR: z.coerce.number().int().positive().default(10),
  /** Connection requests per client address (IPv6: per /64) per hour, and per requesting instance. */
  RELAY_CONNECTION_REQUESTS_PER_ADDRESS_PER_HOUR: z.coerce.number().int().positive().default(60),
  RELAY_CONNECTION_REQUESTS_PER_INSTANCE_PER_HOUR: z.coerce.number().int().positive().default(20),
  /** Pending incoming connection requests an instance may have; further ones are refused until it decides. */
  RELAY_MAX_PENDING_INCOMING: z.coerce.number().int().positive().default(20),
  /**
   * Of those, at most this many from instances registered from one address (IPv6: one /64), so one
   * sender with many instances cannot fill the list; raise it for a host whose customers share an address.
   */
  RELAY_MAX_PENDING_INCOMING_PER_ADDRESS: z.coerce.number().int().positive().default(2),
  /** Behind a proxy: Fastify's trustProxy (false, true, or the proxies' addresses and ranges). */
  RELAY_TRUST_PROXY: z
    .string()
    .default('false')
    .transform((value, context) => {
      const parsed = parseTrustProxy(value)
      if (parsed.ok) return parsed.value
      context.addIssue({
        code: 'custom',
        message: `give true, false, or the proxies' addresses or CIDR ranges; not: ${parsed.bad.join(', ')}`,
      })
      return z.NEVER
    }),
  /** Unique per process; defaults to a random id. */
  RELAY_REPLICA_ID: z.string().min(1).max(100).optional(),
  RELAY_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Per-connection token bucket: burst and refill per second (DESIGN.md: 60 burst, 10/s). */
  RELAY_RATE_CONNECTION_BURST: z.coerce.number().int().positive().default(60),
  RELAY_RATE_CONNECTION_PER_S: z.coerce.number().positive().default(10),
  /** Per-instance token bucket over all its envelopes; a bulk send of 1,000 must fit in one burst. */
  RELAY_RATE_INSTANCE_BURST: z.coerce.number().int().positive().default(2000),
  RELAY_RATE_INSTANCE_PER_S: z.coerce.number().positive().default(200),
  /** Undelivered envelopes fail after this long: 72 h. */
  RELAY_DELIVERY_DEADLINE_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(72 * 3600 * 1000),
  /** Metadata (ids, sizes, timestamps, statuses) is purged after this long: 30 days. */
  RELAY_METADATA_RETENTION_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(30 * 24 * 3600 * 1000),
  /** How long a claimed delivery stays invisible to other replicas: 60 s. */
  RELAY_CLAIM_VISIBILITY_MS: z.coerce.number().int().positive().default(60_000),
  /** Socket lease: renewed every 10 s, expires after 30 s (DESIGN.md replicas). */
  RELAY_LEASE_HEARTBEAT_MS: z.coerce.number().int().positive().default(10_000),
  RELAY_LEASE_TTL_MS: z.coerce.number().int().positive().default(30_000),
  /** Poll backstop beside LISTEN/NOTIFY: 5 s. */
  RELAY_POLL_INTERVAL_MS: z.coerce.number().int().positive().default(5_000),
  RELAY_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().positive().default(15_000),
  /**
   * auto: the relay vacuums its own tables on PGlite, and leaves a server's to its autovacuum (warning at
   * start when that is off); on: always; off: never (the operator schedules VACUUM).
   */
  RELAY_VACUUM: z.enum(['auto', 'on', 'off']).default('auto'),
  /** How often the relay checks whether its tables need VACUUM: 10 s. */
  RELAY_VACUUM_INTERVAL_MS: z.coerce.number().int().positive().default(10_000),
  /** Retention purges (metadata, nonces, attachments): every 60 s. */
  RELAY_PURGE_INTERVAL_MS: z.coerce.number().int().positive().default(60_000),
  /** Bearer token for GET /metrics; without it, /metrics is off. */
  RELAY_METRICS_TOKEN: z.string().min(16).optional(),
  /** Allow http and private addresses as webhook URLs: only for test setups on one machine. */
  RELAY_ALLOW_PRIVATE_WEBHOOKS: z.enum(['true', 'false', '1', '0']).default('false'),
})

export type Config = Readonly<{
  host: string
  port: number
  name: string
  dataDir: string
  databaseUrl: string | undefined
  blobDir: string
  /** How slow an attachment upload may be before it is cut off. */
  uploadPace: UploadPace
  keysFile: string
  registration: 'open' | 'invite'
  registrationsPerAddressPerHour: number
  connectionRequestsPerAddressPerHour: number
  connectionRequestsPerInstancePerHour: number
  maxPendingIncoming: number
  maxPendingIncomingPerAddress: number
  trustProxy: TrustProxy
  replicaId: string
  logLevel: z.infer<typeof ConfigSchema>['RELAY_LOG_LEVEL']
  rate: Readonly<{
    connectionBurst: number
    connectionPerSecond: number
    instanceBurst: number
    instancePerSecond: number
  }>
  deliveryDeadlineMs: number
  metadataRetentionMs: number
  claimVisibilityMs: number
  leaseHeartbeatMs: number
  leaseTtlMs: number
  pollIntervalMs: number
  webhookTimeoutMs: number
  vacuum: 'auto' | 'on' | 'off'
  vacuumIntervalMs: number
  purgeIntervalMs: number
  allowPrivateWebhooks: boolean
  metricsToken: string | undefined
  limits: typeof LIMITS
}>

export class ConfigError extends Error {
  override name = 'ConfigError'
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // An empty variable (common in compose files and systemd units) means "not set".
  const parsed = ConfigSchema.safeParse(
    Object.fromEntries(Object.entries(env).filter(([, value]) => value !== '')),
  )
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  - ${issue.path.join('.')}: ${issue.message}`)
    throw new ConfigError(`The relay configuration is not valid:\n${problems.join('\n')}`)
  }
  const e = parsed.data
  const dataDir = resolve(e.RELAY_DATA_DIR)
  return Object.freeze({
    host: e.RELAY_HOST,
    port: e.RELAY_PORT,
    name: e.RELAY_NAME,
    dataDir,
    databaseUrl: e.DATABASE_URL,
    blobDir: resolve(e.RELAY_BLOB_DIR ?? `${dataDir}/blobs`),
    uploadPace: { idleMs: e.RELAY_UPLOAD_IDLE_MS, minBytesPerSecond: e.RELAY_UPLOAD_MIN_BYTES_PER_S },
    keysFile: resolve(e.RELAY_KEYS_FILE ?? `${dataDir}/relay-keys.json`),
    registration: e.RELAY_REGISTRATION,
    registrationsPerAddressPerHour: e.RELAY_REGISTRATIONS_PER_ADDRESS_PER_HOUR,
    connectionRequestsPerAddressPerHour: e.RELAY_CONNECTION_REQUESTS_PER_ADDRESS_PER_HOUR,
    connectionRequestsPerInstancePerHour: e.RELAY_CONNECTION_REQUESTS_PER_INSTANCE_PER_HOUR,
    maxPendingIncoming: e.RELAY_MAX_PENDING_INCOMING,
    maxPendingIncomingPerAddress: e.RELAY_MAX_PENDING_INCOMING_PER_ADDRESS,
    trustProxy: e.RELAY_TRUST_PROXY,
    replicaId: e.RELAY_REPLICA_ID ?? `replica-${randomBytes(4).toString('hex')}`,
    logLevel: e.RELAY_LOG_LEVEL,
    rate: Object.freeze({
      connectionBurst: e.RELAY_RATE_CONNECTION_BURST,
      connectionPerSecond: e.RELAY_RATE_CONNECTION_PER_S,
      instanceBurst: e.RELAY_RATE_INSTANCE_BURST,
      instancePerSecond: e.RELAY_RATE_INSTANCE_PER_S,
    }),
    deliveryDeadlineMs: e.RELAY_DELIVERY_DEADLINE_MS,
    metadataRetentionMs: e.RELAY_METADATA_RETENTION_MS,
    claimVisibilityMs: e.RELAY_CLAIM_VISIBILITY_MS,
    leaseHeartbeatMs: e.RELAY_LEASE_HEARTBEAT_MS,
    leaseTtlMs: e.RELAY_LEASE_TTL_MS,
    pollIntervalMs: e.RELAY_POLL_INTERVAL_MS,
    webhookTimeoutMs: e.RELAY_WEBHOOK_TIMEOUT_MS,
    vacuum: e.RELAY_VACUUM,
    vacuumIntervalMs: e.RELAY_VACUUM_INTERVAL_MS,
    purgeIntervalMs: e.RELAY_PURGE_INTERVAL_MS,
    allowPrivateWebhooks: e.RELAY_ALLOW_PRIVATE_WEBHOOKS === 'true' || e.RELAY_ALLOW_PRIVATE_WEBHOOKS === '1',
    metricsToken: e.RELAY_METRICS_TOKEN,
    limits: LIMITS,
  })
}
