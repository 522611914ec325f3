import type { Clock } from '@ochat/shared-protocol/server'
import { eq } from 'drizzle-orm'
import type { FastifyBaseLogger } from 'fastify'
import { z } from 'zod'
import type { Database } from '../db/client.ts'
import { mailSettings } from '../db/schema.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import type { LiveEvent } from '../live/events.ts'
import { headerText } from '../notifications/mail-content.ts'
import { findMessage } from '../ochat/delivery/status.ts'
import { ChannelTokens } from '../ochat/email/channel-token.ts'
import { ensurePartnerThreadIds, partnerThreadIdsIfAssigned } from '../ochat/email/thread.ts'
import { messageEvents } from '../ochat/events.ts'
import type { MailSettings, SiteSettings } from '../settings.ts'
import { loadEmail } from './load-email.ts'
import {
  anyWaitingTooLong,
  claimEmail,
  dueEmails,
  emailKey,
  failUnsent,
  failWaitingTooLong,
  type QueuedEmail,
  recordOutcome,
  releaseClaims,
} from './queue.ts'
import { renderEmail } from './render.ts'
import { effectiveMailSettings, type MailSettingsView, type SmtpSettings } from './smtp-settings.ts'
import { ensureThreadIds, existingThreadIds, type ThreadIds } from './thread-ids.ts'
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
 * A restart loses nothing: the rows are the queue. A row is claimed (`sending`) before its email goes
 * out, so Cancel and Retry cannot change it under the send, and a row whose outcome could not be
 * written (a full disk) stays claimed instead of being sent again on every pass. It sends nothing
 * twice that was recorded as accepted; what remains is the short window between the server's 250 and
 * the commit of `sent` (one write-queue turn): a crash or power cut there puts the row back in the
 * queue at the next start, and the email goes again. SMTP has no way to ask a server whether it already has a message, so
 * that window can be made small, not closed; a duplicate there carries the same Message-ID, which
 * mail programs use to show it once.
 */
export class MailSender {
  readonly #deps: MailSenderDeps
  readonly #channelTokens: ChannelTokens
  #view: MailSettingsView | undefined
  #pool: SmtpPool | null = null
  #running: Promise<void> | null = null
  #wanted = false
  #closed = false
  #closing: Promise<void> | undefined
  readonly #timer: NodeJS.Timeout

  constructor(deps: MailSenderDeps) {
    this.#deps = deps
    this.#channelTokens = ChannelTokens.of(deps.database.db, deps.clock.now())
    // Before anything runs: what a stopped process was sending is due again.
    releaseClaims(deps.database.db)
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
        // A kick that came as the last pass was ending found it still running: it is honoured now.
        if (this.#wanted) this.kick()
      })
  }

  /** The administrator changed the mail settings: read them again; the old connections close. */
  reconfigure(): void {
    this.#view = undefined
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

  /**
   * One email outside the queue, best effort: a notice to someone whose mail was refused. It says it
   * is automatic and carries our loop header, so an auto-responder answering it is dropped on the way
   * in; without a mail server it is not sent. Rejects when the server refuses it.
   */
  async sendNotice(input: { to: string; subject: string; text: string; inReplyTo?: string }): Promise<void> {
    const settings = this.settings
    if (!settings || this.#closed) return
    this.#pool ??= new SmtpPool(settings)
    const outcome = await this.#pool.send({
      from: { name: headerText(this.#deps.config.company), address: settings.from },
      to: input.to,
      subject: headerText(input.subject),
      text: input.text,
      headers: { 'Auto-Submitted': 'auto-replied', 'X-OChat-Loop': settings.mailDomain },
      ...(input.inReplyTo ? { inReplyTo: input.inReplyTo, references: [input.inReplyTo] } : {}),
      // A notice that cannot be delivered is not reported back to anyone: the null sender.
      envelope: { from: '', to: input.to },
    })
    if (!outcome.ok) throw new Error(`the notice to ${input.to} was refused: ${outcome.reason}`)
  }

  /** Stops sending; a second call waits for the first. */
  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    this.#closed = true
    clearInterval(this.#timer)
    await this.idle()
    // Rows claimed by a pass that stopped early go back to the queue for the next start.
    await this.#deps.writes.run((tx) => releaseClaims(tx))
    this.#pool?.close()
    this.#pool = null
  }

  /** The effective settings, read once until reconfigured. */
  get settings(): SmtpSettings | null {
    return this.#effective().settings
  }

  /** The mail domain, which incoming mail is taken for even while no outgoing server is set up. */
  get mailDomain(): string | null {
    return this.#effective().mailDomain
  }

  #effective(): MailSettingsView {
    if (this.#view === undefined) {
      const row = this.#deps.database.db.select().from(mailSettings).where(eq(mailSettings.id, 1)).get()
      this.#view = effectiveMailSettings(this.#deps.config, row)
    }
    return this.#view
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
      this.#publish(changed.records)
      this.#publishMessages(changed.partnerMessages)
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
      // One write takes the whole batch: rows changed since they were read (canceled, retried) are left.
      const claimed = await this.#deps.writes.run((tx) => batch.filter((email) => claimEmail(tx, email)))
      let next = 0
      const worker = async () => {
        while (next < claimed.length && !this.#closed) {
          const email = claimed[next++] as QueuedEmail
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
      await writes.run((tx) => failUnsent(tx, { email, reason, now: clock.now() }))
      this.#publishEmail(email)
      return
    }
    let message: ReturnType<typeof renderEmail>
    try {
      const context = loadEmail(this.#deps.database.db, email)
      const { references, ...ids } = await this.#threadIds(email, context, settings)
      message = renderEmail({
        email,
        context,
        ids,
        ...(references ? { references } : {}),
        settings,
        site: config,
        tokens,
        channelTokens: this.#channelTokens,
        attachmentDir: config.attachmentDir,
        attachmentsMaxBytes: config.mailAttachmentsMaxBytes,
        linkDays: config.mailLinkDays,
        now: clock.now(),
      })
    } catch (error) {
      // One email that cannot be written must not hold up the others: it fails, with the reason.
      const reason = `the email could not be written: ${(error as Error).message}`
      await writes.run((tx) => failUnsent(tx, { email, reason, now: clock.now() }))
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

  /** Read when assigned already: only an email's first attempt goes through the write queue for them. */
  async #threadIds(
    email: QueuedEmail,
    context: ReturnType<typeof loadEmail>,
    settings: SmtpSettings,
  ): Promise<ThreadIds & { references?: string[] }> {
    const { database, writes } = this.#deps
    if (email.source === 'partner')
      return (
        partnerThreadIdsIfAssigned(database.db, email) ??
        (await writes.run((tx) =>
          ensurePartnerThreadIds(tx, {
            messageId: email.messageId,
            mailId: email.mailId,
            mailDomain: settings.mailDomain,
          }),
        ))
      )
    return (
      existingThreadIds(database.db, { mail: context.mail }) ??
      (await writes.run((tx) => ensureThreadIds(tx, { mail: context.mail, mailDomain: settings.mailDomain })))
    )
  }

  #publishEmail(email: QueuedEmail): void {
    if (email.source === 'record') this.#publish([{ recordId: email.recordId, messageId: email.messageId }])
    if (email.source === 'partner') this.#publishMessages([email.messageId])
  }

  /** An email channel's messages moved with their emails: their channels' members hear it. */
  #publishMessages(messageIds: number[]): void {
    const db = this.#deps.database.db
    const changes = messageIds.flatMap((id) => {
      const row = findMessage(db, id)
      return row ? [{ row, channelId: row.channelId }] : []
    })
    if (changes.length > 0) this.#deps.publish(messageEvents(db, changes))
  }

  /** Record pages hear of their emails' changes; a digest is on no record page. */
  #publish(changed: { recordId: number | null; messageId: number | null }[]): void {
    const onRecords = changed.filter(
      (row): row is { recordId: number; messageId: number | null } => row.recordId !== null,
    )
    if (onRecords.length === 0) return
    this.#deps.publish(
      onRecords.map((row) => ({
        scope: 'record' as const,
        recordId: row.recordId,
        type: 'email.status' as const,
        messageId: row.messageId,
      })),
    )
  }
}
