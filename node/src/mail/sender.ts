import type { Clock } from '@ochat/shared-protocol/server'
import { eq } from 'drizzle-orm'
import type { FastifyBaseLogger } from 'fastify'
import { z } from 'zod'
import type { Database } from '../db/client.ts'
import { mailSettings } from '../db/schema.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import type { LiveEvent } from '../live/events.ts'
import type { MailSettings, SiteSettings } from '../settings.ts'
import { loadEmail } from './load-email.ts'
import {
  anyWaitingTooLong,
  dueEmails,
  emailKey,
  failUnsent,
  failWaitingTooLong,
  type QueuedEmail,
  recordOutcome,
} from './queue.ts'
import { renderEmail } from './render.ts'
import { effectiveMailSettings, type SmtpSettings } from './smtp-settings.ts'
import { ensureThreadIds } from './thread-ids.ts'
import type { MailTokens } from './tokens.ts'
import { SmtpPool } from './transport.ts'

/** Emails read from the queue at a time; sent at most MAX_CONNECTIONS at once by the pool. */
const BATCH = 30
const CONCURRENCY = 3
const Address = z.email()

export type MailSenderDeps = {
  database: Pick<Database, 'db'>
  writes: WriteQueue
  clock: Clock
  config: MailSettings & SiteSettings & { attachmentDir: string }
  tokens: MailTokens
  log: Pick<FastifyBaseLogger, 'warn' | 'error'>
  /** Told after each change of an email's state, for the UI. */
  publish: (events: LiveEvent[]) => void
  /** How often due emails are looked for without a kick (retries come due this way). */
  pollMs?: number
}

/**
 * Sends the queued emails, one per recipient row, after the commit that queued them: kicked when
 * something became due, and polling for retries that come due on their own.
 *
 * A restart loses nothing: the rows are the queue, and a row is `sent` once the server answered 250.
 * It sends nothing twice that was recorded as accepted; what remains is the short window between the
 * server's 250 and the commit of `sent` (one write-queue turn): a crash or power cut there sends that
 * email again after the restart. SMTP has no way to ask a server whether it already has a message, so
 * that window can be made small, not closed; a duplicate there carries the same Message-ID, which
 * mail programs use to show it once.
 */
export class MailSender {
  readonly #deps: MailSenderDeps
  #settings: SmtpSettings | null | undefined
  #pool: SmtpPool | null = null
  #running: Promise<void> | null = null
  #wanted = false
  #closed = false
  readonly #timer: NodeJS.Timeout

  constructor(deps: MailSenderDeps) {
    this.#deps = deps
    this.#timer = setInterval(() => this.kick(), deps.pollMs ?? 30_000)
    this.#timer.unref()
  }

  /** Something became due (a commit that queued mail, a Retry). */
  kick(): void {
    if (this.#closed) return
    this.#wanted = true
    if (this.#running) return
    // One turn later: the kicks of one batch of commits make one pass.
    this.#running = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.#drain())
      .catch((error) => this.#deps.log.error({ err: error }, 'mail sender: a pass failed'))
      .finally(() => {
        this.#running = null
      })
  }

  /** The administrator changed the mail settings: read them again; the old connections close. */
  reconfigure(): void {
    this.#settings = undefined
    const old = this.#pool
    this.#pool = null
    // Emails on the wire finish on the old connections first.
    if (old) void this.idle().then(() => old.close())
    this.kick()
  }

  /** Resolves when nothing due is being sent. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running
  }

  async close(): Promise<void> {
    this.#closed = true
    clearInterval(this.#timer)
    await this.idle()
    this.#pool?.close()
    this.#pool = null
  }

  /** The effective settings, read once until reconfigured. */
  get settings(): SmtpSettings | null {
    if (this.#settings === undefined) {
      const row = this.#deps.database.db.select().from(mailSettings).where(eq(mailSettings.id, 1)).get()
      this.#settings = effectiveMailSettings(this.#deps.config, row).settings
    }
    return this.#settings
  }

  async #drain(): Promise<void> {
    while (this.#wanted && !this.#closed) {
      this.#wanted = false
      await this.#pass()
    }
  }

  async #pass(): Promise<void> {
    const settings = this.settings
    if (!settings) {
      const now = this.#deps.clock.now()
      if (!anyWaitingTooLong(this.#deps.database.db, now)) return
      const changed = await this.#deps.writes.run((tx) => failWaitingTooLong(tx, { now }))
      this.#publish(changed)
      return
    }
    this.#pool ??= new SmtpPool(settings)
    const pool = this.#pool
    // A row whose state could not be written is not picked again in the same pass.
    const seen = new Set<string>()
    for (;;) {
      if (this.#closed) return
      const batch = dueEmails(this.#deps.database.db, { now: this.#deps.clock.now(), limit: BATCH }).filter(
        (email) => !seen.has(emailKey(email)),
      )
      if (batch.length === 0) return
      for (const email of batch) seen.add(emailKey(email))
      let next = 0
      const worker = async () => {
        while (next < batch.length && !this.#closed) {
          const email = batch[next++] as QueuedEmail
          await this.#sendOne(email, settings, pool).catch((error) =>
            this.#deps.log.error(
              { err: error, email: emailKey(email) },
              'mail sender: an email could not be handled',
            ),
          )
        }
      }
      await Promise.all(Array.from({ length: CONCURRENCY }, worker))
    }
  }

  async #sendOne(email: QueuedEmail, settings: SmtpSettings, pool: SmtpPool): Promise<void> {
    const { writes, clock, config, tokens } = this.#deps
    if (!Address.safeParse(email.emailTo).success) {
      const reason = email.emailTo ? `not a valid email address: ${email.emailTo}` : 'no email address'
      await writes.run((tx) => failUnsent(tx, { email, reason }))
      this.#publishEmail(email)
      return
    }
    let message: ReturnType<typeof renderEmail>
    try {
      const context = loadEmail(this.#deps.database.db, email)
      const ids = await writes.run((tx) =>
        ensureThreadIds(tx, { mail: context.mail, mailDomain: settings.mailDomain }),
      )
      message = renderEmail({
        email,
        context,
        ids,
        settings,
        site: config,
        tokens,
        attachmentDir: config.attachmentDir,
        attachmentsMaxBytes: config.mailAttachmentsMaxBytes,
        linkDays: config.mailLinkDays,
        now: clock.now(),
      })
    } catch (error) {
      // One email that cannot be written must not hold up the others: it fails, with the reason.
      const reason = `the email could not be written: ${(error as Error).message}`
      await writes.run((tx) => failUnsent(tx, { email, reason }))
      this.#publishEmail(email)
      return
    }
    const outcome = await pool.send(message)
    await writes.run((tx) => recordOutcome(tx, { email, outcome, now: clock.now() }))
    if (!outcome.ok && !outcome.permanent)
      this.#deps.log.warn(
        { email: emailKey(email), code: outcome.code, reason: outcome.reason },
        'mail: will retry',
      )
    this.#publishEmail(email)
  }

  #publishEmail(email: QueuedEmail): void {
    if (email.source === 'record') this.#publish([{ recordId: email.recordId, messageId: email.messageId }])
  }

  #publish(changed: { recordId: number; messageId: number | null }[]): void {
    if (changed.length === 0) return
    this.#deps.publish(
      changed.map((row) => ({
        scope: 'record' as const,
        recordId: row.recordId,
        type: 'email.status' as const,
        messageId: row.messageId,
      })),
    )
  }
}
