import { Readable } from 'node:stream'
import type { Clock } from '@ochat/shared-protocol/server'
import { and, eq, sql } from 'drizzle-orm'
import type { FastifyBaseLogger } from 'fastify'
import { logFailedRun } from '../../automation/engine.ts'
import { AutomationError } from '../../automation/errors.ts'
import type { Database, Tx } from '../../db/client.ts'
import { once } from '../../db/raw.ts'
import { incomingMails, users } from '../../db/schema.ts'
import type { WriteQueue } from '../../db/write-queue.ts'
import { NodeError } from '../../errors.ts'
import { newEffects } from '../../live/events.ts'
import type { LiveHub } from '../../live/hub.ts'
import type { ModelRegistry } from '../../models/registry.ts'
import { applyPartnerBounce } from '../../ochat/email/bounce.ts'
import { ChannelTokens } from '../../ochat/email/channel-token.ts'
import { findPartnerReply, receivePartnerReply } from '../../ochat/email/receive-reply.ts'
import type { MailSettings, SiteSettings } from '../../settings.ts'
import type { MailSender } from '../sender.ts'
import type { MailTokens } from '../tokens.ts'
import { authenticateSender } from './authentication.ts'
import { emailBody } from './body.ts'
import { applyBounce, isBounce, readReport } from './bounce.ts'
import { type Decision, routeAndPost, seenBefore } from './decide.ts'
import { discardPending, type PendingFile, removeUnreferenced, type StoredFile, syncPlaced } from './files.ts'
import { carriesOurLoopHeader, isAutomatic, overLoopLimit } from './loop-guard.ts'
import { type InboundMail, parseMail } from './parse.ts'
import { keepRaw, SWEEP_EVERY_MS, sweepRaw } from './raw-store.ts'
import { RelayClients } from './relay-clients.ts'
import { type Addressing, bounceTokensOf, takesAddress } from './route.ts'
import { notStored, smtpAnswer } from './smtp-answer.ts'

export type InboundVia = 'smtp' | 'http' | 'cli'
export type InboundOutcome =
  | 'posted'
  | 'created'
  | 'bounce'
  | 'duplicate'
  | 'auto'
  | 'loop'
  | 'refused'
  | 'error'
export type InboundResult = {
  outcome: InboundOutcome
  /** As an administrator reads it. */
  reason: string | null
  recordId: number | null
  messageId: number | null
  /** The incoming_mails row; 0 when the node could not store anything. */
  incomingId: number
  /**
   * What an SMTP server answers the client: 250 for everything taken in or deliberately dropped;
   * 550 5.1.1 / 5.7.1 for refused (with the reason); 554 5.6.0 for unreadable mail; 451 4.3.0 when
   * the node could not store it now (the client retries).
   */
  smtp: { code: number; message: string }
}

/** Everything the intake needs; the node builds it once. */
export type InboundDeps = {
  database: Database
  writes: WriteQueue
  clock: Clock
  registry: ModelRegistry
  live: LiveHub
  config: SiteSettings &
    MailSettings & {
      attachmentDir: string
      dataDir: string
      /** The authserv-ids of the mail servers whose Authentication-Results are believed. */
      mailTrustedAuthserv: readonly string[]
      /** The MTAs that hand the node its mail over SMTP: the only clients that may have added them. */
      smtpRelayClients: readonly string[]
    }
  /** For the mail domain (its settings) and sendNotice (bounces back to refused senders). */
  mail: MailSender
  tokens: MailTokens
  log: Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>
}

/** What the transaction decided, with its incoming_mails row. */
type Filed = Decision & { incomingId: number }

const lastSweep = new WeakMap<Database, number>()
const relayLists = new WeakMap<readonly string[], RelayClients>()
/** Of refused and unreadable mail, the first 256 KiB are kept for the administrator. */
const KEPT_RAW_BYTES = 256 * 1024

/**
 * Takes one email in: parses it, routes it (duplicate, bounce, loop and automatic guards, reply token,
 * threading headers, record and model aliases) and writes everything it makes, with its
 * incoming_mails row, in one transaction. Never throws: bad mail becomes an `error` row.
 */
export async function receiveMail(
  deps: InboundDeps,
  input: {
    /** The message as it arrives; a Buffer (HTTP, the CLI) is read as a stream of one chunk. */
    raw: Buffer | Readable
    via: InboundVia
    envelope?: { from: string | null; to: string[] }
    /** The SMTP client's address, when the node's own listener took the mail. */
    client?: string
  },
): Promise<InboundResult> {
  const now = deps.clock.now()
  void sweepWhenDue(deps, now)
  const source = Buffer.isBuffer(input.raw) ? Readable.from([input.raw]) : input.raw
  let filed: Filed
  let mail: InboundMail | null = null
  let head: Buffer = Buffer.alloc(0)
  try {
    const parsed = await parseMail(source, deps.config.attachmentDir)
    if ('error' in parsed) {
      // Cut off (the connection broke, or the listener stopped it at its size limit): nothing stored.
      deps.log.warn({ err: parsed.error }, 'mail intake: the message did not arrive whole')
      return notStored(
        'the message did not arrive whole',
        '4.3.0 the message did not arrive whole: try again',
      )
    }
    head = parsed.head
    const base = { via: input.via, size: parsed.size, receivedAt: now }
    if (!parsed.ok) {
      const sender = input.envelope?.from?.toLowerCase() || null
      filed = await fileOnly(deps, {
        ...base,
        sender,
        subject: null,
        emailMessageId: null,
        outcome: 'error',
        reason: parsed.reason,
      })
    } else {
      mail = parsed.mail
      try {
        filed = await takeIn(deps, {
          mail,
          head: parsed.head,
          envelopeTo: input.envelope?.to ?? [],
          smtpClient: input.via === 'smtp' ? (input.client ?? 'unknown') : null,
          base,
        })
      } finally {
        // Those not moved into the store: refused, dropped or failed mail leaves no file behind.
        await discardPending(mail.attachments)
      }
    }
  } catch (error) {
    deps.log.error({ err: error }, 'mail intake: a mail could not be stored')
    return notStored(
      'the node could not store the mail now',
      '4.3.0 Could not store the message now, try again later',
    )
  }
  if (filed.outcome === 'refused' || filed.outcome === 'error')
    await keepRaw({
      writes: deps.writes,
      dataDir: deps.config.dataDir,
      id: filed.incomingId,
      // Enough to see what it was; a stream of large refused mail must not fill the disk.
      raw: head.subarray(0, KEPT_RAW_BYTES),
      now,
    }).catch((error) =>
      deps.log.error(
        { err: error, incomingId: filed.incomingId },
        'mail intake: the raw message was not kept',
      ),
    )
  // Over SMTP the refusal is the answer and the sending server bounces; from the CLI (an MTA's pipe)
  // the exit code is, and the MTA bounces. Only mail handed over by HTTP has nobody else to tell.
  if (filed.notice && mail?.from && input.via === 'http') await noticeRefusal(deps, mail, filed.reason ?? '')
  deps.log.info(
    { incomingId: filed.incomingId, outcome: filed.outcome, reason: filed.reason },
    'mail received',
  )
  tellAdministrators(deps)
  return {
    outcome: filed.outcome,
    reason: filed.reason,
    recordId: filed.recordId,
    messageId: filed.messageId,
    incomingId: filed.incomingId,
    smtp: smtpAnswer(filed),
  }
}

/** Whether an address (RCPT TO) is one this node takes mail for: an alias, reply+…, bounce+…, the catchall. */
export function acceptsRecipient(deps: InboundDeps, address: string): boolean {
  const mailDomain = mailDomainOf(deps)
  return mailDomain !== null && takesAddress(deps.database.db, { address, mailDomain })
}

type Base = { via: InboundVia; size: number; receivedAt: number }

async function takeIn(
  deps: InboundDeps,
  input: {
    mail: InboundMail
    /** The first bytes of the message (parse.ts HEAD_BYTES): delivery reports are read from them. */
    head: Buffer
    envelopeTo: string[]
    smtpClient: string | null
    base: Base
  },
): Promise<Filed> {
  const { base } = input
  const mailDomain = mailDomainOf(deps) ?? 'mail-domain.invalid'
  // A Message-ID on our own mail domain is ours to give. Taken from outside, it could make the replies
  // to one of our emails thread into the sender's record: such a mail is read as having none.
  const mail = input.mail.messageId?.toLowerCase().endsWith(`@${mailDomain.toLowerCase()}`)
    ? { ...input.mail, messageId: null }
    : input.mail
  const sender = mail.from?.address ?? ''
  const addressing: Addressing = {
    recipients: [...new Set([...mail.recipients, ...input.envelopeTo.map((to) => to.toLowerCase())])],
    mailDomain,
  }
  const bounceTokens = bounceTokensOf(addressing)
  const row = { ...base, sender, subject: mail.subject.slice(0, 998), emailMessageId: mail.messageId }
  const bounce = isBounce(mail, bounceTokens)
  const dropped = bounce || carriesOurLoopHeader(mail, mailDomain) || isAutomatic(mail)
  const html = dropped ? '' : emailBody(mail)
  const auth = authenticateSender(mail, {
    trusted: deps.config.mailTrustedAuthserv,
    smtpClient: input.smtpClient,
    relays: relayClientsOf(deps.config.smtpRelayClients),
  })
  const channelTokens = ChannelTokens.of(deps.database.db, base.receivedAt)
  const effects = newEffects()
  // Attachments were written while the mail was parsed, so the transaction never waits on the disk; it
  // moves them into the store only when it posts the mail. These are the ones it moved, and the
  // directories it moved them into.
  const stored: StoredFile[] = []
  const directories = new Set<string>()
  const pending: PendingFile[] = dropped ? [] : mail.attachments
  let committed = false
  try {
    const filed = await deps.writes.run((tx) => {
      const insert = (entry: Decision): Filed => {
        const id = insertIncoming(tx, {
          ...row,
          outcome: entry.outcome,
          reason: [entry.reason, entry.note].filter(Boolean).join('; ') || null,
          recordId: entry.recordId,
          messageId: entry.messageId,
          aliasId: entry.aliasId ?? null,
        })
        return { ...entry, incomingId: id }
      }
      const none = { recordId: null, messageId: null }
      if (mail.messageId && seenBefore(tx, mail.messageId))
        return insert({
          outcome: 'duplicate',
          reason: 'a mail with this Message-ID was received already',
          ...none,
        })
      if (bounce) {
        const report = readReport(input.head, mail)
        // An email channel's message first: its bounce token and Message-IDs are its own.
        const partner = applyPartnerBounce(tx, {
          tokens: channelTokens,
          bounceTokens,
          report,
          mailDomain,
          now: base.receivedAt,
          effects,
        })
        if (partner) return insert({ outcome: 'bounce', reason: partner.reason, ...none })
        const applied = applyBounce(tx, {
          tokens: deps.tokens,
          bounceTokens,
          report,
          mailDomain,
          now: base.receivedAt,
        })
        return insert({
          outcome: 'bounce',
          reason: applied.reason,
          recordId: applied.recordId,
          messageId: null,
        })
      }
      if (carriesOurLoopHeader(mail, mailDomain))
        return insert({
          outcome: 'loop',
          reason: 'it carries our own loop header: a mail we sent came back',
          ...none,
        })
      if (isAutomatic(mail))
        return insert({
          outcome: 'auto',
          reason: 'an automatic reply or bulk mail: dropped, not answered',
          ...none,
        })
      // A reply into an email channel (its token, or References to its emails) goes there.
      const partnerReply = findPartnerReply(tx, {
        recipients: addressing.recipients,
        mailDomain,
        threadIds: mail.threadIds,
        tokens: channelTokens,
      })
      if (partnerReply) {
        if (overLoopLimit(tx, { sender, outcome: 'posted', now: base.receivedAt }))
          return insert({
            outcome: 'loop',
            reason: `more than 20 mails from ${sender} in 120 minutes: dropped as a loop`,
            ...none,
          })
        const taken = receivePartnerReply(tx, {
          target: partnerReply,
          mail,
          html,
          pending,
          stored,
          directories,
          attachmentDir: deps.config.attachmentDir,
          now: base.receivedAt,
          effects,
        })
        return insert(
          taken.outcome === 'refused'
            ? {
                outcome: 'refused',
                reason: taken.reason,
                ...none,
                policy: true,
                notice: true,
                note: auth.detail,
              }
            : { outcome: taken.outcome, reason: taken.reason, ...none, note: auth.detail },
        )
      }
      return insert(
        routeAndPost(deps, tx, {
          mail,
          addressing,
          sender,
          auth,
          html,
          pending,
          stored,
          directories,
          now: base.receivedAt,
          effects,
        }),
      )
    })
    committed = true
    deps.live.publish(effects)
    // Before the answer: a mail acknowledged has its files on disk for good. Should that fail, the
    // client is answered 451 and its retry is a duplicate of what was stored.
    await syncPlaced(directories)
    return filed
  } catch (error) {
    if (committed) throw error
    removeUnreferenced(deps.database.db, deps.config.attachmentDir, stored)
    // A rule that cannot run on this mail would fail the same way again: refused, with the rule and
    // why kept for the administrator, who can fix the rule. The sender learns nothing of the rule.
    if (error instanceof AutomationError) {
      await logFailedRun(deps.writes, error, base.receivedAt, (events) => deps.live.publish({ events }))
      const reason = `an automation rule could not run on it: ${error.detail.replace(/^blocked: /, '')}`
      return {
        ...(await fileOnly(deps, { ...row, outcome: 'refused', reason })),
        policy: true,
        told: 'the company could not file this message; its administrators can see why',
      }
    }
    // Nothing of the mail was written: it is filed as unreadable, with why, for an administrator.
    const reason =
      error instanceof NodeError
        ? `could not be taken in: ${error.message}`
        : 'could not be taken in: an unexpected error'
    if (!(error instanceof NodeError)) deps.log.error({ err: error }, 'mail intake: taking a mail in failed')
    return fileOnly(deps, { ...row, outcome: 'error', reason })
  }
}

type IncomingRow = Omit<typeof incomingMails.$inferInsert, 'id' | 'rawFile' | 'rawExpiresAt'> & {
  sender: string | null
  subject: string | null
  emailMessageId: string | null
  reason: string | null
  recordId: number | null
  messageId: number | null
  aliasId: number | null
}

/** Every mail taken in gets one: the statement is built once per connection. Answers its id. */
function insertIncoming(tx: Tx, row: IncomingRow): number {
  const statement = once(tx, 'mailIn.insertIncoming', () =>
    tx
      .insert(incomingMails)
      .values({
        via: sql.placeholder('via'),
        size: sql.placeholder('size'),
        receivedAt: sql.placeholder('receivedAt'),
        sender: sql.placeholder('sender'),
        subject: sql.placeholder('subject'),
        emailMessageId: sql.placeholder('emailMessageId'),
        outcome: sql.placeholder('outcome'),
        reason: sql.placeholder('reason'),
        recordId: sql.placeholder('recordId'),
        messageId: sql.placeholder('messageId'),
        aliasId: sql.placeholder('aliasId'),
      })
      .returning({ id: incomingMails.id })
      .prepare(),
  )
  const inserted = statement.get(row)
  if (!inserted) throw new Error('incoming_mails: the insert returned no row')
  return inserted.id
}

/** The incoming mail log changed: administrators' open log pages reload. */
function tellAdministrators(deps: InboundDeps): void {
  const db = deps.database.db
  // Every mail taken in asks: built once per connection.
  const query = once(db, 'mailIn.admins', () =>
    db
      .select({ id: users.id })
      .from(users)
      .where(and(eq(users.role, 'admin'), eq(users.active, true)))
      .prepare(),
  )
  const admins = query.all()
  deps.live.publish({
    events: admins.map((admin) => ({
      scope: 'user' as const,
      userId: admin.id,
      type: 'mail.incoming' as const,
    })),
  })
}

async function fileOnly(
  deps: InboundDeps,
  row: Base & {
    sender: string | null
    subject: string | null
    emailMessageId: string | null
    outcome: 'error' | 'refused'
    reason: string
  },
): Promise<Filed> {
  const inserted = await deps.writes.run((tx) =>
    tx.insert(incomingMails).values(row).returning({ id: incomingMails.id }).get(),
  )
  return {
    outcome: row.outcome,
    reason: row.reason,
    recordId: null,
    messageId: null,
    incomingId: inserted.id,
  }
}

/**
 * Tells a refused sender why. Over SMTP the refusal is the answer itself and the sending server
 * writes the bounce; mail handed over by HTTP or the CLI has nobody else to tell them. Never to a
 * mailer daemon or to our own domain, which would start a loop.
 */
async function noticeRefusal(deps: InboundDeps, mail: InboundMail, reason: string): Promise<void> {
  const to = mail.from?.address ?? ''
  const mailDomain = mailDomainOf(deps)
  const local = to.split('@')[0] ?? ''
  if (!to || local === 'mailer-daemon' || local === 'postmaster') return
  if (mailDomain && to.endsWith(`@${mailDomain.toLowerCase()}`)) return
  await deps.mail
    .sendNotice({
      to,
      subject: `Not delivered: ${mail.subject || '(no subject)'}`,
      text: `Your message could not be delivered to ${deps.config.company}: ${reason}.`,
      ...(mail.messageId ? { inReplyTo: `<${mail.messageId}>` } : {}),
    })
    .catch((error) => deps.log.warn({ err: error }, 'mail intake: the refusal notice was not sent'))
}

/** The config's list is frozen for the life of the node: parsed once. */
function relayClientsOf(entries: readonly string[]): RelayClients {
  let relays = relayLists.get(entries)
  if (!relays) {
    relays = new RelayClients(entries)
    relayLists.set(entries, relays)
  }
  return relays
}

function mailDomainOf(deps: InboundDeps): string | null {
  return deps.mail.mailDomain ?? deps.config.mailDomain ?? null
}

async function sweepWhenDue(deps: InboundDeps, now: number): Promise<void> {
  const last = lastSweep.get(deps.database)
  if (last !== undefined && now - last < SWEEP_EVERY_MS) return
  lastSweep.set(deps.database, now)
  await sweepRaw({ database: deps.database, writes: deps.writes, dataDir: deps.config.dataDir, now }).catch(
    (error) => deps.log.warn({ err: error }, 'mail intake: sweeping raw messages failed'),
  )
}
