import { z } from 'zod'
import type { mailSettings } from '../db/schema.ts'
import { SmtpSecuritySchema } from './settings-schema.ts'
import type { MailEnvSettings, MailSettingsView } from './smtp-settings.ts'
import type { SmtpOutcome } from './transport.ts'

const SourceSchema = z
  .enum(['environment', 'admin', 'unset'])
  .meta({ description: 'environment: read-only here; admin: saved on this page; unset: nobody set it' })

export const MailSettingsViewSchema = z.object({
  host: z.string().nullable(),
  port: z.number().int().nullable(),
  security: SmtpSecuritySchema,
  user: z.string().nullable(),
  /** The password itself never leaves the node. */
  passwordSet: z.boolean(),
  from: z.string().nullable(),
  mailDomain: z.string().nullable(),
  /** server: host, port, security, user and password, which come as one (NODE_SMTP_URL). */
  sources: z.object({ server: SourceSchema, from: SourceSchema, mailDomain: SourceSchema }),
  /** Whether the node can send mail with these settings. */
  ready: z.boolean(),
  /** What is still needed before mail can be sent, in plain words. */
  missing: z.array(z.string()),
})
export type MailSettingsViewBody = z.infer<typeof MailSettingsViewSchema>

type SettingsRow = typeof mailSettings.$inferSelect

/**
 * The settings as the admin page shows them: what the environment sets as boot read it, and otherwise
 * what the admin saved, incomplete settings included, so the form can be finished where it was left.
 * A value nobody set stays empty (the sender's fallbacks are described on the page, not filled in).
 */
export function presentMailSettings(
  view: MailSettingsView,
  row: SettingsRow | undefined,
  env: MailEnvSettings,
): MailSettingsViewBody {
  const { sources } = view
  const server = sources.server === 'environment' ? env.smtp : row && savedServer(row)
  return {
    host: server?.host ?? null,
    port: server?.port ?? null,
    security: server?.security ?? 'starttls',
    user: server?.user ?? null,
    passwordSet: Boolean(server?.password),
    from: (sources.from === 'environment' ? env.mailFrom : row?.fromAddress) ?? null,
    mailDomain: (sources.mailDomain === 'environment' ? env.mailDomain : row?.mailDomain) ?? null,
    sources,
    ready: view.settings !== null,
    missing: view.missing,
  }
}

function savedServer(row: SettingsRow) {
  return {
    host: row.smtpHost,
    port: row.smtpPort,
    security: row.smtpSecurity,
    user: row.smtpUser,
    password: row.smtpPassword,
  }
}

export const TestEmailResultSchema = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    /** The server's reply code, 250 when it accepted the mail. */
    code: z.number().int(),
    /** The server's reply, word for word (often with its queue id). */
    response: z.string(),
  }),
  z.object({
    ok: z.literal(false),
    /** The server's reply code, or null when it could not be reached or the connection failed. */
    code: z.number().int().nullable(),
    permanent: z.boolean(),
    /** What went wrong, in the server's or the network's words. */
    reason: z.string(),
    /** What to check next, in plain words. */
    hint: z.string(),
  }),
])
export type TestEmailResult = z.infer<typeof TestEmailResultSchema>

export function presentTestOutcome(outcome: SmtpOutcome): TestEmailResult {
  if (outcome.ok) return { ok: true, code: outcome.code, response: outcome.response }
  return {
    ok: false,
    code: outcome.code,
    permanent: outcome.permanent,
    reason: outcome.reason,
    hint: hintFor(outcome.code, outcome.reason),
  }
}

const AUTH_WORDS = /\b(auth\w*|login|credentials?|password|username)\b|EAUTH/i
const TLS_WORDS =
  /\b(tls|ssl|starttls|certificate|self[- ]signed|wrong version number|handshake|ETLS|EPROTO|ERR_SSL\w*|UNABLE_TO_VERIFY\w*|CERT_\w+)\b/i
const NETWORK_WORDS =
  /\b(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ECONNRESET|ECONNECTION|ESOCKET|getaddrinfo|timed? ?out|refused|unreachable)\b/i

/**
 * The next step for a failed test, from the SMTP reply code (RFC 5321 section 4.2, RFC 4954 for
 * 530/534/535) or, without one, from the words of the network or TLS error.
 */
export function hintFor(code: number | null, reason: string): string {
  // 530 and 454 also answer a client that did not start TLS where the server requires it.
  if (TLS_WORDS.test(reason) && (code === null || code === 530 || code === 454))
    return 'The secure connection failed: try the other security mode (port 465 usually means TLS, port 587 STARTTLS), and check that the host name matches the server certificate.'
  if (code === 530 || code === 534 || code === 535 || (code === null && AUTH_WORDS.test(reason)))
    return 'The server did not accept the login: check the user name and password (some providers need an app password for SMTP), and that this account may send mail.'
  if (code === null && NETWORK_WORDS.test(reason))
    return 'The mail server could not be reached: check the host name and port, and that this server may connect out to it (firewall, provider blocking port 25).'
  if (code === null)
    return 'The connection to the mail server failed: check the host name, port and security mode.'
  if (code === 550 || code === 551 || code === 553 || code === 554 || code === 501)
    return 'The server refused the sender or the recipient: check the From address (many servers only let a login send as its own addresses) and the address you sent the test to.'
  if (code === 552) return 'The server refused the message size or is over quota: ask the mail provider.'
  if (code >= 400 && code < 500)
    return 'The server asked to try again later (a temporary refusal): wait a few minutes and send the test again; if it lasts, ask the mail provider.'
  return "The server refused the email: its answer above says why; your mail provider's documentation explains the code."
}
