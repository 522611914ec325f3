import nodemailer, { type Transporter } from 'nodemailer'
import type Mail from 'nodemailer/lib/mailer'
import type SMTPPool from 'nodemailer/lib/smtp-pool'
import type SMTPTransport from 'nodemailer/lib/smtp-transport'
import type { SmtpSettings } from './smtp-settings.ts'

/** What the server said to one email: accepted, or refused for now (retry) or for good. */
export type SmtpOutcome =
  | { ok: true; code: number; response: string }
  | { ok: false; permanent: boolean; code: number | null; reason: string }

/** At most this many connections to the server: mail servers throttle or refuse clients that open more. */
const MAX_CONNECTIONS = 3

/**
 * The connection options of each security mode. STARTTLS is required, never opportunistic: a server
 * (or someone between) that does not offer it gets no password and no mail.
 */
function connection(settings: SmtpSettings): SMTPTransport.Options {
  return {
    host: settings.host,
    port: settings.port,
    secure: settings.security === 'tls',
    requireTLS: settings.security === 'starttls',
    ignoreTLS: settings.security === 'none',
    ...(settings.user ? { auth: { user: settings.user, pass: settings.password ?? '' } } : {}),
    // A server that does not answer is a temporary failure, retried later, not a stuck queue.
    connectionTimeout: 30_000,
    greetingTimeout: 30_000,
    socketTimeout: 60_000,
  }
}

/** A pooled transport for the sender: connections are reused across emails, at most MAX_CONNECTIONS. */
export class SmtpPool {
  readonly #transport: Transporter<SMTPPool.SentMessageInfo>

  constructor(settings: SmtpSettings) {
    this.#transport = nodemailer.createTransport({
      ...connection(settings),
      pool: true,
      maxConnections: MAX_CONNECTIONS,
      maxMessages: 100,
    } as SMTPPool.Options)
  }

  send(message: Mail.Options): Promise<SmtpOutcome> {
    return this.#transport.sendMail(message).then(accepted, refused)
  }

  close(): void {
    this.#transport.close()
  }
}

/** One email from the admin page, over its own connection, to show what the server answers. */
export async function sendTestEmail(
  settings: SmtpSettings,
  input: { to: string; company: string },
): Promise<SmtpOutcome> {
  const transport = nodemailer.createTransport(connection(settings))
  try {
    return await transport
      .sendMail({
        from: { name: input.company, address: settings.from },
        to: input.to,
        subject: `Test email from ${input.company}`.replace(/[\p{Cc}\u2028\u2029]+/gu, ' '),
        text: `This is a test email from ${input.company}. Outgoing mail works: the server ${settings.host} accepted it.`,
        headers: { 'Auto-Submitted': 'auto-generated' },
      })
      .then(accepted, refused)
  } finally {
    transport.close()
  }
}

function accepted(info: SMTPTransport.SentMessageInfo): SmtpOutcome {
  const response = String(info.response ?? '')
  const code = Number.parseInt(response.slice(0, 3), 10)
  return { ok: true, code: Number.isFinite(code) ? code : 250, response }
}

/** SMTP commands whose 5xx refuses this email (its recipient, its content), not the whole setup. */
const EMAIL_COMMANDS = new Set(['RCPT TO', 'DATA'])

/**
 * An SMTP reply of 5xx to this email's recipient or content is permanent (RFC 5321 section 4.2.1):
 * the same email would be refused again. Everything else is temporary: 4xx replies; a server that
 * cannot be reached, times out, drops the connection, fails the TLS handshake or the login; and a 5xx
 * to the greeting or to MAIL FROM (a From address the login may not send as). Those say nothing about
 * this email and are fixed on the server or in the settings, after which the queued mail should still
 * go out, rather than the whole queue failing at once.
 */
function refused(error: unknown): SmtpOutcome {
  const failure = error as {
    responseCode?: number
    response?: string
    code?: string
    command?: string
    message?: string
  }
  const code = typeof failure.responseCode === 'number' ? failure.responseCode : null
  const reason = (failure.response || failure.message || String(error)).replace(/\s+/g, ' ').trim()
  const aboutThisEmail = failure.command === undefined || EMAIL_COMMANDS.has(failure.command)
  // An email nodemailer could not build (a broken address, an unreadable attachment) fails again too.
  const unbuildable = code === null && (failure.code === 'EMESSAGE' || failure.code === 'EENVELOPE')
  const permanent =
    unbuildable || (failure.code !== 'EAUTH' && aboutThisEmail && code !== null && code >= 500 && code < 600)
  return { ok: false, permanent, code, reason: reason || 'the mail server refused the email' }
}
