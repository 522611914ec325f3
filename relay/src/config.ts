import { randomBytes } from 'node:crypto'
import { resolve } from 'node:path'
import { DEFAULT_UPLOAD_PACE, DisplayNameSchema, LIMITS, RETRY_SCHEDULE } from '@ochat/shared-protocol'
import {
  booleanVariable,
  type Env,
  loadConfig as loadServerConfig,
  retryScaleVariable,
} from '@ochat/shared-protocol/server'
import { z } from 'zod'
import { parseTrustProxy } from './limits/client-address.ts'
import type { Settings } from './settings.ts'

export { ConfigError } from '@ochat/shared-protocol/server'

/**
 * The relay's environment, one variable a line, each with what it does: relay/ARCHITECTURE.md's table
 * is generated from these descriptions (`pnpm docs:config`). Units are in the names.
 */
const RelayEnvSchema = z.object({
  RELAY_HOST: z.string().default('127.0.0.1').meta({ description: 'Address to listen on.' }),
  RELAY_PORT: z.coerce
    .number()
    .int()
    .min(0)
    .max(65535)
    .default(8700)
    .meta({ description: 'Port to listen on.' }),
  // Served in /v1/info, whose answer is checked against the wire schema: a name the schema refuses
  // (control characters) would make every /v1/info a 500, so it is refused here, at boot.
  RELAY_NAME: z
    .string()
    .trim()
    .pipe(DisplayNameSchema)
    .default("O'Chat relay")
    .meta({ description: 'Name shown to nodes in `/v1/info`.' }),
  RELAY_DATA_DIR: z
    .string()
    .default('.data/relay')
    .meta({ description: 'PGlite data, relay keys and blobs live here unless set separately.' }),
  DATABASE_URL: z.string().url().optional().meta({
    description: '`postgres://…` to use PostgreSQL.',
    unset: 'PGlite in `$RELAY_DATA_DIR/pglite`',
  }),
  RELAY_BLOB_DIR: z.string().optional().meta({
    description: 'Attachment ciphertext; replicas share it (a volume they all mount).',
    unset: '`$RELAY_DATA_DIR/blobs`',
  }),
  RELAY_UPLOAD_IDLE_MS: z.coerce.number().int().min(100).default(DEFAULT_UPLOAD_PACE.idleMs).meta({
    description: 'An upload that sends no byte for this long is cut off (408) and its partial file removed.',
  }),
  RELAY_UPLOAD_MIN_BYTES_PER_S: z.coerce
    .number()
    .int()
    .min(0)
    .default(DEFAULT_UPLOAD_PACE.minBytesPerSecond)
    .meta({
      description: 'An upload slower than this over any stretch of `RELAY_UPLOAD_IDLE_MS` is cut off too.',
    }),
  RELAY_KEYS_FILE: z.string().optional().meta({
    description: "The relay's signing keys, created on first start; replicas share it.",
    unset: '`$RELAY_DATA_DIR/relay-keys.json`',
  }),
  RELAY_REGISTRATION: z.enum(['open', 'invite']).default('invite').meta({
    description:
      '`open`: anyone may register; `invite`: a one-time token from `ochat-relay invite` is required.',
  }),
  RELAY_REGISTRATIONS_PER_ADDRESS_PER_HOUR: z.coerce.number().int().positive().default(10).meta({
    description: 'New instances per client address (IPv6: per /64) per hour, with open registration.',
  }),
  RELAY_CONNECTION_REQUESTS_PER_ADDRESS_PER_HOUR: z.coerce
    .number()
    .int()
    .positive()
    .default(60)
    .meta({ description: 'Connection requests per client address (IPv6: per /64) per hour.' }),
  RELAY_CONNECTION_REQUESTS_PER_INSTANCE_PER_HOUR: z.coerce
    .number()
    .int()
    .positive()
    .default(20)
    .meta({ description: 'Connection requests per requesting instance per hour.' }),
  RELAY_MAX_PENDING_INCOMING: z.coerce.number().int().positive().default(20).meta({
    description:
      'Pending incoming connection requests an instance may have; further ones are refused (429) until it decides some.',
  }),
  RELAY_MAX_PENDING_INCOMING_PER_ADDRESS: z.coerce.number().int().positive().default(2).meta({
    description:
      'Of those, at most this many from instances registered from one address (IPv6: one /64), so one sender with many instances cannot fill the list; raise it for a host whose customers share an address.',
  }),
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
    })
    .meta({
      description:
        "Behind a TLS proxy: the proxy's addresses or CIDR ranges (or `true`), so client addresses come from X-Forwarded-For.",
    }),
  RELAY_REPLICA_ID: z.string().min(1).max(100).optional().meta({
    description: 'Names this process in leases and claims; unique per process.',
    unset: 'random',
  }),
  RELAY_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .meta({ description: 'pino level; logs never hold message content or keys.' }),
  RELAY_RATE_CONNECTION_BURST: z.coerce
    .number()
    .int()
    .positive()
    .default(60)
    .meta({ description: 'Per (sender, recipient) token bucket: burst, in envelopes.' }),
  RELAY_RATE_CONNECTION_PER_S: z.coerce
    .number()
    .positive()
    .default(10)
    .meta({ description: 'Per (sender, recipient) token bucket: refill, in envelopes per second.' }),
  RELAY_RATE_INSTANCE_BURST: z.coerce.number().int().positive().default(2000).meta({
    description:
      'Per sender token bucket over all its envelopes: burst; a bulk send of 1,000 must fit in one.',
  }),
  RELAY_RATE_INSTANCE_PER_S: z.coerce
    .number()
    .positive()
    .default(200)
    .meta({ description: 'Per sender token bucket: refill, in envelopes per second.' }),
  RELAY_DELIVERY_DEADLINE_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(RETRY_SCHEDULE.deadlineMs)
    .meta({ description: "Undelivered envelopes fail after this long (the protocol's 72 h)." }),
  RELAY_RETRY_SCALE: retryScaleVariable.default(1).meta({
    description:
      'Factor on webhook retry delays (above 0, at most 1), not the deadline. For tests and staging; production keeps 1.',
  }),
  RELAY_METADATA_RETENTION_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(30 * 24 * 3600 * 1000)
    .meta({ description: 'Envelope metadata (ids, sizes, timestamps, statuses) is purged after this long.' }),
  RELAY_CLAIM_VISIBILITY_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(60_000)
    .meta({ description: 'How long a claimed delivery stays invisible to other replicas.' }),
  RELAY_LEASE_HEARTBEAT_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(10_000)
    .meta({ description: 'How often a replica renews the lease on the instance sockets it holds.' }),
  RELAY_LEASE_TTL_MS: z.coerce.number().int().positive().default(30_000).meta({
    description: 'A socket lease not renewed for this long expires, and another replica may take over.',
  }),
  RELAY_POLL_INTERVAL_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(5_000)
    .meta({ description: 'Poll for queued deliveries, as a backstop beside LISTEN/NOTIFY.' }),
  RELAY_WEBHOOK_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(15_000)
    .meta({ description: 'Time allowed for one webhook POST.' }),
  RELAY_SHUTDOWN_MS: z.coerce.number().int().positive().default(20_000).meta({
    description:
      'On SIGTERM or SIGINT: how long the relay may take to finish what is in flight (webhook POSTs, submits, acks, requests) before it exits anyway, with status 1.',
  }),
  RELAY_VACUUM: z.enum(['auto', 'on', 'off']).default('auto').meta({
    description:
      "`auto`: the relay vacuums its own tables on PGlite, and leaves a server's to its autovacuum (warning at start when that is off); `on`: always; `off`: never (the operator schedules VACUUM).",
  }),
  RELAY_VACUUM_INTERVAL_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(10_000)
    .meta({ description: 'How often the relay checks whether its tables need VACUUM.' }),
  RELAY_PURGE_INTERVAL_MS: z.coerce.number().int().positive().default(60_000).meta({
    description: 'How often retention purges run (nonces, metadata past retention, fetched attachments).',
  }),
  RELAY_METRICS_TOKEN: z.string().min(16).optional().meta({
    description: 'Bearer token for `GET /metrics` (at least 16 characters).',
    unset: '`/metrics` is off',
  }),
  RELAY_ALLOW_PRIVATE_WEBHOOKS: booleanVariable.default(false).meta({
    description: 'Allow http and private addresses as webhook URLs: only for test setups on one machine.',
  }),
})

/**
 * The relay's configuration: the environment, read once at boot and turned into what the relay runs
 * with. Its type is this schema's output.
 */
export const ConfigSchema = RelayEnvSchema.transform((e) => {
  const dataDir = resolve(e.RELAY_DATA_DIR)
  // What routes, commands and workers are given, piece by piece (settings.ts holds the types).
  const settings = {
    name: e.RELAY_NAME,
    registration: e.RELAY_REGISTRATION,
    registrationsPerAddressPerHour: e.RELAY_REGISTRATIONS_PER_ADDRESS_PER_HOUR,
    connectionRequestsPerAddressPerHour: e.RELAY_CONNECTION_REQUESTS_PER_ADDRESS_PER_HOUR,
    connectionRequestsPerInstancePerHour: e.RELAY_CONNECTION_REQUESTS_PER_INSTANCE_PER_HOUR,
    maxPendingIncoming: e.RELAY_MAX_PENDING_INCOMING,
    maxPendingIncomingPerAddress: e.RELAY_MAX_PENDING_INCOMING_PER_ADDRESS,
    trustProxy: e.RELAY_TRUST_PROXY,
    replicaId: e.RELAY_REPLICA_ID ?? `replica-${randomBytes(4).toString('hex')}`,
    rate: {
      connectionBurst: e.RELAY_RATE_CONNECTION_BURST,
      connectionPerSecond: e.RELAY_RATE_CONNECTION_PER_S,
      instanceBurst: e.RELAY_RATE_INSTANCE_BURST,
      instancePerSecond: e.RELAY_RATE_INSTANCE_PER_S,
    },
    deliveryDeadlineMs: e.RELAY_DELIVERY_DEADLINE_MS,
    retryScale: e.RELAY_RETRY_SCALE,
    claimVisibilityMs: e.RELAY_CLAIM_VISIBILITY_MS,
    leaseTtlMs: e.RELAY_LEASE_TTL_MS,
    webhookTimeoutMs: e.RELAY_WEBHOOK_TIMEOUT_MS,
    allowPrivateWebhooks: e.RELAY_ALLOW_PRIVATE_WEBHOOKS,
  } satisfies Settings
  // The rest is for boot (relay.ts, app.ts) alone.
  return {
    ...settings,
    host: e.RELAY_HOST,
    port: e.RELAY_PORT,
    dataDir,
    databaseUrl: e.DATABASE_URL,
    blobDir: resolve(e.RELAY_BLOB_DIR ?? `${dataDir}/blobs`),
    uploadPace: { idleMs: e.RELAY_UPLOAD_IDLE_MS, minBytesPerSecond: e.RELAY_UPLOAD_MIN_BYTES_PER_S },
    keysFile: resolve(e.RELAY_KEYS_FILE ?? `${dataDir}/relay-keys.json`),
    logLevel: e.RELAY_LOG_LEVEL,
    metadataRetentionMs: e.RELAY_METADATA_RETENTION_MS,
    leaseHeartbeatMs: e.RELAY_LEASE_HEARTBEAT_MS,
    pollIntervalMs: e.RELAY_POLL_INTERVAL_MS,
    shutdownMs: e.RELAY_SHUTDOWN_MS,
    vacuum: e.RELAY_VACUUM,
    vacuumIntervalMs: e.RELAY_VACUUM_INTERVAL_MS,
    purgeIntervalMs: e.RELAY_PURGE_INTERVAL_MS,
    metricsToken: e.RELAY_METRICS_TOKEN,
    limits: LIMITS,
  }
})

export type Config = Readonly<z.output<typeof ConfigSchema>>

/** Reads the relay's configuration; throws a ConfigError listing every problem. */
export function loadConfig(env: Env = process.env): Config {
  return loadServerConfig(ConfigSchema, env, 'relay')
}
