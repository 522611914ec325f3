import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { DEFAULT_UPLOAD_PACE, LIMITS, type UploadPace } from '@ochat/shared-protocol'
import { z } from 'zod'

/**
 * The node's configuration, parsed once from the environment at boot. Every problem is listed at once
 * and the process exits; the result is frozen. Units are in the names.
 */
const ConfigSchema = z.object({
  NODE_HOST: z.string().default('127.0.0.1'),
  NODE_PORT: z.coerce.number().int().min(0).max(65535).default(8800),
  /** Company name, shown in the UI and in email notifications. */
  NODE_COMPANY: z.string().trim().min(1).max(200).default('My company'),
  /** The SQLite file, attachments and keys live here. */
  NODE_DATA_DIR: z.string().default('.data/node'),
  /** Base URL people reach the node at: links in emails and the iCal feed. */
  NODE_PUBLIC_URL: z.string().url().optional(),
  NODE_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Locale used to display tracked values (amounts, dates) as people saw them. */
  NODE_LOCALE: z.string().default('en-US'),
  /** Default currency of monetary fields. */
  NODE_CURRENCY: z.string().length(3).default('USD'),
  /** UI sessions expire after this long without use: 14 days. */
  NODE_SESSION_IDLE_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(14 * 24 * 3600 * 1000),
  /**
   * Send cookies only over HTTPS; on by default when NODE_PUBLIC_URL is https. A request a trusted
   * proxy says came over https gets Secure cookies whatever this says.
   */
  NODE_SECURE_COOKIES: z.enum(['true', 'false', '1', '0']).optional(),
  /**
   * Which proxies to believe about the client's address and scheme (X-Forwarded-For, -Proto), as
   * Fastify's trustProxy takes it: true, false (the default), a hop count, or a comma-separated list
   * of addresses and CIDRs. Behind a TLS proxy it must be set, or every client has the proxy's address
   * and login throttling by address treats them as one.
   */
  NODE_TRUST_PROXY: z
    .string()
    .trim()
    .regex(
      /^(true|false|\d+|[0-9a-fA-F.:/]+(\s*,\s*[0-9a-fA-F.:/]+)*)$/,
      'true, false, a hop count, or addresses/CIDRs separated by commas',
    )
    .default('false'),
  /** Chatter attachments: one file at most this size (100 MB). */
  NODE_ATTACHMENT_MAX_BYTES: z.coerce.number().int().positive().default(LIMITS.attachmentBytes),
  /** An upload that sends no byte for this long is cut off and its temp file removed: 30 s. */
  NODE_UPLOAD_IDLE_MS: z.coerce.number().int().min(100).default(DEFAULT_UPLOAD_PACE.idleMs),
  /** An upload slower than this over any such stretch is cut off too: 4 KiB/s. */
  NODE_UPLOAD_MIN_BYTES_PER_S: z.coerce.number().int().min(0).default(DEFAULT_UPLOAD_PACE.minBytesPerSecond),
  /**
   * O'Chat: the secret that seals this instance's secret keys at rest (at least 16 characters), given
   * directly or as a file holding it. Without one, O'Chat stays off and says why.
   */
  NODE_OCHAT_SECRET: z.string().min(16).optional(),
  NODE_OCHAT_SECRET_FILE: z.string().optional(),
  /** Where the relay POSTs deliveries when this node's WebSocket is down: https in production. */
  NODE_OCHAT_WEBHOOK_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** How often connections are read again from the relay (new requests, decisions, key changes): 10 s. */
  NODE_OCHAT_SYNC_MS: z.coerce.number().int().min(100).default(10_000),
  /**
   * Keep an outbound WebSocket to the relay (true, the default: works behind NAT and firewalls). false:
   * receive by webhook only, for a node the relay can reach at NODE_OCHAT_WEBHOOK_URL (a public URL);
   * it sends envelopes and receipts over signed HTTP requests.
   */
  NODE_OCHAT_WEBSOCKET: z.enum(['true', 'false', '1', '0']).default('true'),
})

export type Config = Readonly<{
  host: string
  port: number
  company: string
  dataDir: string
  databaseFile: string
  attachmentDir: string
  publicUrl: string
  logLevel: z.infer<typeof ConfigSchema>['NODE_LOG_LEVEL']
  locale: string
  currency: string
  sessionIdleMs: number
  secureCookies: boolean
  /** Fastify's trustProxy: which proxies' X-Forwarded-* headers are believed (a hop count as a function). */
  trustProxy: boolean | string[] | ((address: string, hop: number) => boolean)
  attachmentMaxBytes: number
  /** How slow a client's upload may be before it is cut off. */
  uploadPace: UploadPace
  /** The operator's secret sealing O'Chat keys; undefined: O'Chat is off. */
  ochatSecret: string | undefined
  ochatWebhookUrl: string
  ochatSyncMs: number
  /** false: no outbound socket to the relay, deliveries arrive by webhook only. */
  ochatWebSocket: boolean
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
    throw new ConfigError(`The node configuration is not valid:\n${problems.join('\n')}`)
  }
  const e = parsed.data
  const dataDir = resolve(e.NODE_DATA_DIR)
  const publicUrl = (e.NODE_PUBLIC_URL ?? `http://${e.NODE_HOST}:${e.NODE_PORT}`).replace(/\/$/, '')
  try {
    new Intl.NumberFormat(e.NODE_LOCALE, { style: 'currency', currency: e.NODE_CURRENCY })
  } catch {
    throw new ConfigError(
      `The node configuration is not valid:\n  - NODE_LOCALE/NODE_CURRENCY: unknown locale or currency`,
    )
  }
  let ochatSecret = e.NODE_OCHAT_SECRET
  if (ochatSecret === undefined && e.NODE_OCHAT_SECRET_FILE !== undefined) {
    try {
      ochatSecret = readFileSync(e.NODE_OCHAT_SECRET_FILE, 'utf8').trim()
    } catch (error) {
      throw new ConfigError(
        `The node configuration is not valid:\n  - NODE_OCHAT_SECRET_FILE: cannot read ${e.NODE_OCHAT_SECRET_FILE} (${(error as Error).message})`,
      )
    }
    if (ochatSecret.length < 16)
      throw new ConfigError(
        'The node configuration is not valid:\n  - NODE_OCHAT_SECRET_FILE: the secret must be at least 16 characters',
      )
  }
  return Object.freeze({
    host: e.NODE_HOST,
    port: e.NODE_PORT,
    company: e.NODE_COMPANY,
    dataDir,
    databaseFile: resolve(dataDir, 'node.sqlite'),
    attachmentDir: resolve(dataDir, 'attachments'),
    publicUrl,
    logLevel: e.NODE_LOG_LEVEL,
    locale: e.NODE_LOCALE,
    currency: e.NODE_CURRENCY,
    sessionIdleMs: e.NODE_SESSION_IDLE_MS,
    secureCookies:
      e.NODE_SECURE_COOKIES === undefined
        ? new URL(publicUrl).protocol === 'https:'
        : e.NODE_SECURE_COOKIES === 'true' || e.NODE_SECURE_COOKIES === '1',
    trustProxy: parseTrustProxy(e.NODE_TRUST_PROXY),
    attachmentMaxBytes: e.NODE_ATTACHMENT_MAX_BYTES,
    uploadPace: { idleMs: e.NODE_UPLOAD_IDLE_MS, minBytesPerSecond: e.NODE_UPLOAD_MIN_BYTES_PER_S },
    ochatSecret,
    ochatWebhookUrl: e.NODE_OCHAT_WEBHOOK_URL ?? `${publicUrl}/ochat/webhook`,
    ochatSyncMs: e.NODE_OCHAT_SYNC_MS,
    ochatWebSocket: e.NODE_OCHAT_WEBSOCKET === 'true' || e.NODE_OCHAT_WEBSOCKET === '1',
  })
}

function parseTrustProxy(value: string): Config['trustProxy'] {
  if (value === 'true' || value === 'false') return value === 'true'
  // A hop count: believe that many proxies nearest the node (what Fastify does with a number).
  if (/^\d+$/.test(value)) {
    const hops = Number(value)
    return (_address, hop) => hop < hops
  }
  return value.split(',').map((part) => part.trim())
}
