import type { mailSettings } from '../db/schema.ts'
import type { MailSettings, SmtpSecurity, SmtpServerSettings } from '../settings.ts'

export type { SmtpSecurity } from '../settings.ts'

/** Everything the sender needs to send: the server, the From address, the domain of its addresses. */
export type SmtpSettings = Readonly<{
  host: string
  port: number
  security: SmtpSecurity
  user: string | null
  password: string | null
  from: string
  mailDomain: string
}>

/** The environment's part of the mail settings (NODE_SMTP_URL, NODE_MAIL_FROM, NODE_MAIL_DOMAIN). */
export type MailEnvSettings = Pick<MailSettings, 'smtp' | 'mailFrom' | 'mailDomain'>

type Source = 'environment' | 'admin' | 'unset'

/** Where each effective value came from, for the admin page. */
export type MailSettingsView = {
  settings: SmtpSettings | null
  /** The domain of aliases, reply and bounce addresses, known even before a server is set up. */
  mailDomain: string | null
  sources: Record<'server' | 'from' | 'mailDomain', Source>
  /** What is still needed before mail can be sent, in plain words. */
  missing: string[]
}

/**
 * The settings the sender uses: the environment wins field by field over what an administrator saved.
 * The server (host, port, security, user, password) is one field: NODE_SMTP_URL sets all of it, and a
 * password from one place with a host from the other would be nobody's intent. Without a mail domain,
 * the From address's domain is used: it is the domain most likely to receive the replies.
 */
export function effectiveMailSettings(
  env: MailEnvSettings,
  row: typeof mailSettings.$inferSelect | undefined,
): MailSettingsView {
  const rowServer: SmtpServerSettings | null = row?.smtpHost
    ? {
        host: row.smtpHost,
        port: row.smtpPort ?? defaultPort(row.smtpSecurity),
        security: row.smtpSecurity,
        user: row.smtpUser || null,
        password: row.smtpPassword || null,
      }
    : null
  const server = env.smtp ?? rowServer
  const from = env.mailFrom ?? (row?.fromAddress || null)
  const setDomain = env.mailDomain ?? (row?.mailDomain || null)
  const mailDomain = setDomain ?? (from ? domainOf(from) : null)
  const sources = {
    server: env.smtp ? 'environment' : rowServer ? 'admin' : 'unset',
    from: env.mailFrom ? 'environment' : row?.fromAddress ? 'admin' : 'unset',
    mailDomain: env.mailDomain ? 'environment' : row?.mailDomain ? 'admin' : 'unset',
  } satisfies MailSettingsView['sources']
  const missing: string[] = []
  if (!server) missing.push('an outgoing mail server (host and port)')
  if (!from) missing.push('a From address')
  else if (!mailDomain) missing.push('a mail domain')
  const settings = server && from && mailDomain ? { ...server, from, mailDomain } : null
  return { settings, mailDomain, sources, missing }
}

/** The usual port of each security mode (RFC 8314: 465 for TLS, 587 for submission with STARTTLS). */
export function defaultPort(security: SmtpSecurity): number {
  return security === 'tls' ? 465 : security === 'starttls' ? 587 : 25
}

function domainOf(address: string): string | null {
  const at = address.lastIndexOf('@')
  const domain =
    at > 0
      ? address
          .slice(at + 1)
          .trim()
          .toLowerCase()
      : ''
  return domain || null
}
