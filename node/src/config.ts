import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { DEFAULT_UPLOAD_PACE, LIMITS } from '@ochat/shared-protocol'
import {
  booleanVariable,
  type Env,
  loadConfig as loadServerConfig,
  retryScaleVariable,
} from '@ochat/shared-protocol/server'
import { z } from 'zod'
import { backupVariables, scheduledBackupFrom } from './backup/config.ts'
import { relayClientProblem } from './mail/inbound/relay-clients.ts'
import type { InboundSmtpSettings, SmtpServerSettings } from './settings.ts'

export { ConfigError } from '@ochat/shared-protocol/server'

/**
 * The node's environment, one variable a line, each with what it does: node/ARCHITECTURE.md's table is
 * generated from these descriptions (`pnpm docs:config`). Units are in the names.
 */
/**
 * IP addresses and CIDR ranges, comma-separated, each checked; `none` (any case) or nothing: an empty
 * list.
 */
function addressList(text: z.ZodType<string | undefined>) {
  return text
    .transform((value) =>
      (value ?? '').trim().toLowerCase() === 'none'
        ? []
        : (value ?? '')
            .split(',')
            .map((entry) => entry.trim())
            .filter(Boolean),
    )
    .superRefine((entries, context) => {
      for (const entry of entries) {
        const problem = relayClientProblem(entry)
        if (problem !== null) context.addIssue({ code: 'custom', message: problem })
      }
    })
}

const NodeEnvSchema = z.object({
  NODE_HOST: z.string().default('127.0.0.1').meta({ description: 'Address to listen on.' }),
  NODE_PORT: z.coerce
    .number()
    .int()
    .min(0)
    .max(65535)
    .default(8800)
    .meta({ description: 'Port to listen on.' }),
  NODE_COMPANY: z
    .string()
    .trim()
    .min(1)
    .max(200)
    .default('My company')
    .meta({ description: 'Company name, shown in the UI and in email notifications.' }),
  NODE_DATA_DIR: z
    .string()
    .default('.data/node')
    .meta({ description: 'The SQLite file, attachments and keys live here.' }),
  NODE_PUBLIC_URL: z.string().url().optional().meta({
    description: "Base URL people reach the node at: links in emails, the iCal feed, the O'Chat webhook.",
    unset: '`http://$NODE_HOST:$NODE_PORT`',
  }),
  NODE_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .meta({ description: 'pino level.' }),
  NODE_LOCALE: z
    .string()
    .default('en-US')
    .meta({ description: 'Locale used to display tracked values (amounts, dates) as people saw them.' }),
  NODE_CURRENCY: z
    .string()
    .length(3)
    .default('USD')
    .meta({ description: 'Default currency of monetary fields.' }),
  NODE_SESSION_IDLE_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(14 * 24 * 3600 * 1000)
    .meta({ description: 'UI sessions expire after this long without use.' }),
  NODE_SECURE_COOKIES: booleanVariable.optional().meta({
    description:
      'Send cookies only over HTTPS. A request a trusted proxy says came over https gets Secure cookies whatever this says.',
    unset: 'on when `NODE_PUBLIC_URL` is https',
  }),
  NODE_TRUST_PROXY: z
    .string()
    .trim()
    .regex(
      /^(true|false|\d+|[0-9a-fA-F.:/]+(\s*,\s*[0-9a-fA-F.:/]+)*)$/,
      'true, false, a hop count, or addresses/CIDRs separated by commas',
    )
    .default('false')
    .transform(parseTrustProxy)
    .meta({
      description:
        "Which proxies to believe about the client's address and scheme. X-Forwarded-For and -Proto are read from: true (any), false (none), a hop count, or a comma-separated list of addresses and CIDRs. Behind a TLS proxy it must be set, or every client has the proxy's address and login throttling by address treats them as one.",
    }),
  NODE_ATTACHMENT_MAX_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(LIMITS.attachmentBytes)
    .meta({ description: 'Chatter attachments: one file at most this size.' }),
  NODE_UPLOAD_IDLE_MS: z.coerce.number().int().min(100).default(DEFAULT_UPLOAD_PACE.idleMs).meta({
    description: 'An upload that sends no byte for this long is cut off (408) and its temp file removed.',
  }),
  NODE_UPLOAD_MIN_BYTES_PER_S: z.coerce
    .number()
    .int()
    .min(0)
    .default(DEFAULT_UPLOAD_PACE.minBytesPerSecond)
    .meta({
      description: 'An upload slower than this over any stretch of `NODE_UPLOAD_IDLE_MS` is cut off too.',
    }),
  NODE_SMTP_URL: z.string().trim().optional().meta({
    description:
      "The outgoing mail server, as a URL. `smtp://user:password@host:587` (STARTTLS required), `smtps://user:password@host:465` (TLS from the start), or `smtp://host:port?security=none` (no encryption: tests and a relay on the same machine). Set here, it wins over the administrator's mail settings; user and password are URL-encoded.",
    unset: "the admin's mail settings; without any, emails wait and say why",
  }),
  NODE_MAIL_FROM: z.email().optional().meta({
    description: 'The From address of every email the node sends, such as `notifications@example.com`.',
    unset: "the admin's mail settings",
  }),
  NODE_MAIL_DOMAIN: z
    .string()
    .trim()
    .toLowerCase()
    .regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$|^localhost$/, 'a domain name')
    .optional()
    .meta({
      description:
        "Domain of the emails' reply and bounce addresses. Its mail must reach this node (`reply+…@`, `bounce+…@`).",
      unset: "the admin's mail settings, else the From address's domain",
    }),
  NODE_MAIL_ATTACHMENTS_MAX_BYTES: z.coerce.number().int().min(0).default(10_000_000).meta({
    description: 'Attachments per email, in all. Past it, they become download links.',
  }),
  NODE_MAIL_LINK_DAYS: z.coerce.number().int().min(1).max(365).default(14).meta({
    description: "Days an email's download links work.",
  }),
  NODE_MAIL_TRUSTED_AUTHSERV: z
    .string()
    .trim()
    .toLowerCase()
    .regex(/^([a-z0-9._-]+(\s*,\s*[a-z0-9._-]+)*)?$/, 'authserv-ids (host names) separated by commas')
    .default('')
    .transform((value) =>
      value
        .split(',')
        .map((id) => id.trim())
        .filter(Boolean),
    )
    .meta({
      description:
        "Incoming mail: the authserv-ids (comma-separated) of the mail servers whose `Authentication-Results` headers are believed, such as your MX's host name. That server must add its header on top and remove any that claim its id from outside. A mail whose From domain passes DMARC, or DKIM or SPF aligned with it, there counts as from its From address; any other is from an outsider: never taken for a user, never passes an `internal` alias.",
      unset: 'none: no incoming mail is authenticated',
    }),
  NODE_SMTP_PORT: z.coerce.number().int().min(0).max(65535).optional().meta({
    description:
      "Incoming mail's SMTP port. Point the mail domain's MX here (or a relay's transport), or pipe mail in with `ochat-node mail-inbound`.",
    unset: 'off',
  }),
  NODE_SMTP_HOST: z.string().trim().min(1).optional().meta({
    description: "Its address. The listener takes mail for the node's own addresses only, never relays.",
    unset: '`NODE_HOST`',
  }),
  NODE_SMTP_MAX_BYTES: z.coerce.number().int().min(1024).default(25_000_000).meta({
    description:
      'Largest incoming message. Past it SMTP answers 552, POST /api/v1/mail/inbound 413, `mail-inbound` 65, and nothing is kept.',
  }),
  NODE_SMTP_MAX_CONNECTIONS: z.coerce.number().int().min(1).default(100).meta({
    description: 'Incoming SMTP connections open at once; one more is answered 421 and closed.',
  }),
  NODE_SMTP_MAX_CONNECTIONS_PER_IP: z.coerce.number().int().min(1).default(10).meta({
    description: 'Of those, from one client address.',
  }),
  NODE_SMTP_RELAY_CLIENTS: addressList(z.string().default('127.0.0.1/8,::1')).meta({
    description:
      'The mail servers that hand the node its mail (your MX or relay), as IP addresses or CIDR ranges, comma-separated. Behind one, every sender comes from its address: its connections are not held to `NODE_SMTP_MAX_CONNECTIONS_PER_IP` nor to 60 messages a minute per client (the total and the 60 a minute per sender address still apply). Over SMTP, only their `Authentication-Results` headers are believed: any other client could have written them itself. `none`: no client is one.',
  }),
  NODE_WEBHOOK_ALLOWLIST: addressList(z.string().optional()).meta({
    description:
      "Outbound webhooks: private addresses (IP addresses or CIDR ranges, comma-separated) that endpoints may still reach, such as an integrator's service on the same host or network. Loopback, private, link-local (cloud metadata included) and other non-public addresses are refused otherwise, after DNS resolution and again at each connection.",
    unset: 'none: only public addresses',
  }),
  NODE_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(15_000).meta({
    description: 'Outbound webhooks: how long a call may take, from connecting to its answer.',
  }),
  NODE_METRICS_TOKEN: z.string().min(16).optional().meta({
    description:
      'Bearer token a Prometheus scraper sends for `GET /metrics` (at least 16 characters). Administrators may read it with their session or an `admin` key.',
    unset: 'administrators only',
  }),
  NODE_SHUTDOWN_MS: z.coerce.number().int().positive().default(20_000).meta({
    description:
      'On SIGTERM or SIGINT: how long the node may take to finish what is in flight (requests, incoming mail, deliveries from the relay, webhook calls, emails being sent) before it exits anyway, with status 1.',
  }),
  NODE_SMTP_TLS_CERT: z.string().optional().meta({
    description:
      'STARTTLS certificate (PEM). With `NODE_SMTP_TLS_KEY`; without both, STARTTLS is not offered.',
  }),
  NODE_SMTP_TLS_KEY: z.string().optional().meta({
    description: 'Its key (PEM).',
  }),
  NODE_OCHAT_SECRET: z.string().min(16).optional().meta({
    description:
      "O'Chat: the operator's secret that seals this instance's secret keys at rest (at least 16 characters).",
    unset: "read from `NODE_OCHAT_SECRET_FILE`; without either, O'Chat is off and says why",
  }),
  NODE_OCHAT_SECRET_FILE: z.string().optional().meta({
    description: "O'Chat: a file holding that secret, read at start when `NODE_OCHAT_SECRET` is not set.",
  }),
  NODE_OCHAT_WEBHOOK_URL: z
    .url({ protocol: /^https?$/ })
    .optional()
    .meta({
      description:
        "O'Chat: where the relay POSTs deliveries while this node's WebSocket is down; https in production.",
      unset: '`$NODE_PUBLIC_URL/ochat/webhook`',
    }),
  NODE_OCHAT_SYNC_MS: z.coerce.number().int().min(100).default(10_000).meta({
    description:
      "O'Chat: how often connections are read again from the relay. That is when new requests, decisions and key changes show.",
  }),
  NODE_OCHAT_WEBSOCKET: booleanVariable.default(true).meta({
    description:
      "O'Chat: keep an outbound WebSocket to the relay (works behind NAT and firewalls). `false`: receive by webhook only, for a node the relay can reach at `NODE_OCHAT_WEBHOOK_URL` (a public URL); envelopes and receipts go out over signed HTTP requests.",
  }),
  NODE_OCHAT_RETRY_SCALE: retryScaleVariable.default(1).meta({
    description:
      "O'Chat: factor on retry delays, for tests and staging. Above 0, at most 1; it scales the outbox's, file transfers' and socket reconnects' delays, not the deadline. Production keeps 1.",
  }),
  // Scheduled backups: NODE_BACKUP_* (backup/config.ts).
  ...backupVariables,
})

/**
 * The node's configuration: the environment, read once at boot and turned into what the node runs with.
 * Its type is this schema's output. The locale and currency must be ones Intl knows, and a secret file
 * must be readable: found here, with the other problems, rather than on first use.
 */
export const ConfigSchema = NodeEnvSchema.transform((e, context) => {
  const dataDir = resolve(e.NODE_DATA_DIR)
  const publicUrl = (e.NODE_PUBLIC_URL ?? `http://${e.NODE_HOST}:${e.NODE_PORT}`).replace(/\/$/, '')
  try {
    new Intl.NumberFormat(e.NODE_LOCALE, { style: 'currency', currency: e.NODE_CURRENCY })
  } catch {
    context.addIssue({
      code: 'custom',
      path: ['NODE_LOCALE/NODE_CURRENCY'],
      message: 'unknown locale or currency',
    })
  }
  return {
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
    secureCookies: e.NODE_SECURE_COOKIES ?? new URL(publicUrl).protocol === 'https:',
    trustProxy: e.NODE_TRUST_PROXY,
    attachmentMaxBytes: e.NODE_ATTACHMENT_MAX_BYTES,
    uploadPace: { idleMs: e.NODE_UPLOAD_IDLE_MS, minBytesPerSecond: e.NODE_UPLOAD_MIN_BYTES_PER_S },
    /** The outgoing mail server of NODE_SMTP_URL; null: the administrator's settings apply. */
    smtp: parseSmtpUrl(e.NODE_SMTP_URL, context),
    mailFrom: e.NODE_MAIL_FROM ?? null,
    mailDomain: e.NODE_MAIL_DOMAIN ?? null,
    mailAttachmentsMaxBytes: e.NODE_MAIL_ATTACHMENTS_MAX_BYTES,
    mailLinkDays: e.NODE_MAIL_LINK_DAYS,
    /** Authserv-ids, lower case, whose Authentication-Results prove an incoming mail's From. */
    mailTrustedAuthserv: e.NODE_MAIL_TRUSTED_AUTHSERV,
    /** Incoming mail's SMTP listener; null: off (mail may still come by HTTP or the CLI). */
    inboundSmtp: inboundSmtpFrom(e, context),
    /** Addresses and CIDR ranges of the MTAs that hand the node its mail over SMTP. */
    smtpRelayClients: e.NODE_SMTP_RELAY_CLIENTS,
    /** Largest incoming message, in bytes, however it comes. */
    inboundMaxBytes: e.NODE_SMTP_MAX_BYTES,
    /** Private addresses and ranges outbound webhooks may still reach. */
    webhookAllowlist: e.NODE_WEBHOOK_ALLOWLIST,
    webhookTimeoutMs: e.NODE_WEBHOOK_TIMEOUT_MS,
    /** How long `serve` may take to stop on SIGTERM before it exits anyway. */
    shutdownMs: e.NODE_SHUTDOWN_MS,
    /** What a scraper sends for /metrics; undefined: only administrators may read it. */
    metricsToken: e.NODE_METRICS_TOKEN,
    /** The operator's secret sealing O'Chat keys; undefined: O'Chat is off. */
    ochatSecret: e.NODE_OCHAT_SECRET ?? readSecretFile(e.NODE_OCHAT_SECRET_FILE, context),
    ochatWebhookUrl: e.NODE_OCHAT_WEBHOOK_URL ?? `${publicUrl}/ochat/webhook`,
    ochatSyncMs: e.NODE_OCHAT_SYNC_MS,
    /** false: no outbound socket to the relay, deliveries arrive by webhook only. */
    ochatWebSocket: e.NODE_OCHAT_WEBSOCKET,
    /** Factor on every O'Chat retry delay, in (0, 1]: 1 in production, less in tests. */
    ochatRetryScale: e.NODE_OCHAT_RETRY_SCALE,
    /** Scheduled backups; null: off. */
    backup: scheduledBackupFrom(e, context),
  }
})

export type Config = Readonly<z.output<typeof ConfigSchema>>

/** Reads the node's configuration; throws a ConfigError listing every problem. */
export function loadConfig(env: Env = process.env): Config {
  return loadServerConfig(ConfigSchema, env, 'node')
}

/**
 * The first administrator `serve` creates when the node has none, and the password `init` takes. Kept
 * out of Config on purpose: Config is handed to every plugin, and a password has no business there.
 * Documented in the same table as the node's other variables (scripts/config-docs.ts).
 */
export const FirstAdminSchema = z
  .object({
    OCHAT_ADMIN_LOGIN: z.string().optional().meta({
      description:
        'Login of a first administrator that `ochat-node serve` creates when the node has none. For containers and scripts; needs `OCHAT_ADMIN_PASSWORD`.',
    }),
    OCHAT_ADMIN_PASSWORD: z.string().optional().meta({
      description:
        "That administrator's password. `ochat-node init` reads it too, so it stays out of shell history.",
    }),
    OCHAT_ADMIN_NAME: z.string().optional().meta({
      description: "That administrator's name.",
      unset: 'the login',
    }),
    OCHAT_ADMIN_EMAIL: z.string().optional().meta({ description: "That administrator's email address." }),
  })
  .transform((e) => ({
    login: e.OCHAT_ADMIN_LOGIN,
    password: e.OCHAT_ADMIN_PASSWORD,
    name: e.OCHAT_ADMIN_NAME,
    email: e.OCHAT_ADMIN_EMAIL,
  }))

export type FirstAdmin = Readonly<z.output<typeof FirstAdminSchema>>

/** Every variable the node reads, Config's and the first administrator's: its documentation table. */
export const NodeVariablesSchema = z.object({ ...NodeEnvSchema.shape, ...FirstAdminSchema.in.shape })

/** Reads OCHAT_ADMIN_*, only where `serve` and `init` need them; throws a ConfigError on a problem. */
export function firstAdminFrom(env: Env = process.env): FirstAdmin {
  return loadServerConfig(FirstAdminSchema, env, 'first administrator')
}

/** NODE_OCHAT_SECRET_FILE's secret, trimmed; undefined without a file. */
function readSecretFile(file: string | undefined, context: z.RefinementCtx): string | undefined {
  if (file === undefined) return undefined
  let secret: string
  try {
    secret = readFileSync(file, 'utf8').trim()
  } catch (error) {
    context.addIssue({
      code: 'custom',
      path: ['NODE_OCHAT_SECRET_FILE'],
      message: `cannot read ${file} (${(error as Error).message})`,
    })
    return undefined
  }
  if (secret.length < 16)
    context.addIssue({
      code: 'custom',
      path: ['NODE_OCHAT_SECRET_FILE'],
      message: 'the secret must be at least 16 characters',
    })
  return secret
}

/** The incoming SMTP listener's settings; the TLS files are read at start, by the listener. */
function inboundSmtpFrom(
  e: {
    NODE_HOST: string
    NODE_SMTP_PORT?: number | undefined
    NODE_SMTP_HOST?: string | undefined
    NODE_SMTP_TLS_CERT?: string | undefined
    NODE_SMTP_TLS_KEY?: string | undefined
    NODE_SMTP_MAX_CONNECTIONS: number
    NODE_SMTP_MAX_CONNECTIONS_PER_IP: number
    NODE_SMTP_RELAY_CLIENTS: string[]
  },
  context: z.RefinementCtx,
): InboundSmtpSettings | null {
  const cert = e.NODE_SMTP_TLS_CERT || undefined
  const key = e.NODE_SMTP_TLS_KEY || undefined
  if ((cert === undefined) !== (key === undefined))
    context.addIssue({
      code: 'custom',
      path: [cert === undefined ? 'NODE_SMTP_TLS_CERT' : 'NODE_SMTP_TLS_KEY'],
      message: 'STARTTLS needs both NODE_SMTP_TLS_CERT and NODE_SMTP_TLS_KEY',
    })
  for (const [variable, file] of [
    ['NODE_SMTP_TLS_CERT', cert],
    ['NODE_SMTP_TLS_KEY', key],
  ] as const) {
    if (file === undefined) continue
    try {
      readFileSync(file)
    } catch (error) {
      context.addIssue({
        code: 'custom',
        path: [variable],
        message: `cannot read ${file} (${(error as Error).message})`,
      })
    }
  }
  if (e.NODE_SMTP_PORT === undefined) return null
  return {
    host: e.NODE_SMTP_HOST ?? e.NODE_HOST,
    port: e.NODE_SMTP_PORT,
    tls: cert !== undefined && key !== undefined ? { certFile: resolve(cert), keyFile: resolve(key) } : null,
    maxConnections: e.NODE_SMTP_MAX_CONNECTIONS,
    maxConnectionsPerIp: e.NODE_SMTP_MAX_CONNECTIONS_PER_IP,
    relayClients: e.NODE_SMTP_RELAY_CLIENTS,
  }
}

/**
 * NODE_SMTP_URL as a server. The scheme says how the connection is protected, and nothing weaker is
 * ever negotiated: `smtp://` requires STARTTLS unless `?security=none` says the server is local.
 */
function parseSmtpUrl(value: string | undefined, context: z.RefinementCtx): SmtpServerSettings | null {
  if (value === undefined || value === '') return null
  const refuse = (message: string) => {
    context.addIssue({ code: 'custom', path: ['NODE_SMTP_URL'], message })
    return null
  }
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return refuse('not a URL: expected smtp://user:password@host:587 or smtps://user:password@host:465')
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:')
    return refuse(`unknown scheme ${url.protocol.replace(/:$/, '')}: expected smtp or smtps`)
  if (!url.hostname) return refuse('no host')
  const extra = [...url.searchParams.keys()].filter((key) => key !== 'security')
  if (extra.length > 0 || (url.pathname !== '' && url.pathname !== '/'))
    return refuse(
      `unexpected ${extra.length > 0 ? `parameter ${extra[0]}` : 'path'}: only ?security=none is understood`,
    )
  const security = url.searchParams.get('security')
  if (security !== null && security !== 'none')
    return refuse(`security=${security}: only security=none is understood`)
  if (security === 'none' && url.protocol === 'smtps:')
    return refuse('smtps:// is TLS: it cannot have security=none')
  let user: string | null
  let password: string | null
  try {
    user = url.username ? decodeURIComponent(url.username) : null
    password = url.password ? decodeURIComponent(url.password) : null
  } catch {
    return refuse('the user or password is not URL-encoded correctly')
  }
  if (password !== null && user === null) return refuse('a password without a user')
  return {
    // IPv6 hosts come bracketed from URL; sockets want them bare.
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : url.protocol === 'smtps:' ? 465 : 587,
    security: url.protocol === 'smtps:' ? 'tls' : security === 'none' ? 'none' : 'starttls',
    user,
    password,
  }
}

/** Fastify's trustProxy: which proxies' X-Forwarded-* headers are believed (a hop count as a function). */
function parseTrustProxy(value: string): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (value === 'true' || value === 'false') return value === 'true'
  // A hop count: believe that many proxies nearest the node (what Fastify does with a number).
  if (/^\d+$/.test(value)) {
    const hops = Number(value)
    return (_address, hop) => hop < hops
  }
  return value.split(',').map((part) => part.trim())
}
