import { and, eq, inArray, or, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { ochatNotifications } from '../../db/ochat-schema.ts'
import { messages, notifications, outgoingMail, partners } from '../../db/schema.ts'
import { bouncedWebhook } from '../../webhooks/emit.ts'
import type { BounceTarget, MailTokens } from '../tokens.ts'
import type { InboundMail } from './parse.ts'

/** What a delivery report says about one recipient. */
export type DsnEntry = {
  /** Final-Recipient, lower case. */
  recipient: string | null
  /** Original-Recipient (the address as our email named it), lower case. */
  original: string | null
  status: string | null
  diagnostic: string | null
}

/** The delivery reports read from the raw bytes: reports are ASCII (RFC 3464), whatever else the mail holds. */
export type DsnReport = {
  entries: DsnEntry[]
  /**
   * Message-IDs of the returned email (its X-OChat-Message-Id and Message-ID, below the report's own
   * header), without angle brackets.
   */
  quotedIds: string[]
  /** Addresses named as undeliverable in a report that has no delivery-status part. */
  named: string[]
  /** The first line of the explanation, for a report with no Status. */
  summary: string
}

/** Only so much of a report is read: the delivery status sits near the top. */
const REPORT_BYTES = 1024 * 1024

/**
 * A bounce: a delivery report (multipart/report; report-type=delivery-status), a mail from the
 * mailer daemon or postmaster, or a mail to our bounce address. Checked before the auto-reply guard:
 * every report carries Auto-Submitted too.
 */
export function isBounce(mail: InboundMail, bounceTokens: string[]): boolean {
  if (mail.contentType === 'multipart/report' && mail.reportType === 'delivery-status') return true
  const local = mail.from?.address.split('@')[0] ?? ''
  return local === 'mailer-daemon' || local === 'postmaster' || bounceTokens.length > 0
}

export function readReport(raw: Buffer, mail: InboundMail): DsnReport {
  const text = raw
    .subarray(0, REPORT_BYTES)
    .toString('latin1')
    .replace(/\r\n/g, '\n')
    .replace(/\n[ \t]+/g, ' ')
  const entries: DsnEntry[] = []
  for (const block of text.split(/\n\s*\n/)) {
    const recipient = /^Final-Recipient:\s*[^;\n]*;\s*<?([^\s>]+)>?/im.exec(block)?.[1]
    const original = /^Original-Recipient:\s*[^;\n]*;\s*<?([^\s>]+)>?/im.exec(block)?.[1]
    const status = /^Status:\s*([245]\.\d{1,3}\.\d{1,3})/im.exec(block)?.[1]
    if (!recipient && !status) continue
    entries.push({
      recipient: recipient?.toLowerCase() ?? null,
      original: original?.toLowerCase() ?? null,
      status: status ?? null,
      diagnostic: /^Diagnostic-Code:\s*(.+)$/im.exec(block)?.[1]?.trim() ?? null,
    })
  }
  // The report's own Message-ID is in its header; the returned email's are further down.
  const headerEnd = text.indexOf('\n\n')
  const returned = headerEnd < 0 ? '' : text.slice(headerEnd)
  const quotedIds = [
    ...new Set(
      [...returned.matchAll(/^(?:X-OChat-Message-Id|Message-ID):\s*<([^<>\s]+)>/gim)].map(
        (match) => match[1] as string,
      ),
    ),
  ]
  const named = [...mail.text.matchAll(/<([^<>\s@]+@[^<>\s]+)>/g)].map((match) =>
    (match[1] as string).toLowerCase(),
  )
  const summary =
    mail.text
      .split('\n')
      .map((line) => line.trim())
      .find((line) => /\b[45]\d\d\b|#?[45]\.\d\.\d|unknown|no mailbox|full/i.test(line)) ?? ''
  return { entries, quotedIds, named, summary }
}

export type BounceApplied = { reason: string; notificationId: number | null; recordId: number | null }

/** What a bounce that names none of our emails, or more than one, is listed with. */
const NO_MATCHING_EMAIL = 'no matching email'

/**
 * Marks the email the report is about as bounced and counts it on the partner's address; a delay
 * (4.x.x) changes nothing, as the remote server keeps trying. The row is the one the VERP token names;
 * without a token, the only one that matches both the Message-ID the report returns and the address
 * it reports (rowOfReport). Otherwise nothing changes.
 */
export function applyBounce(
  tx: Tx,
  input: { tokens: MailTokens; bounceTokens: string[]; report: DsnReport; mailDomain: string; now: number },
): BounceApplied {
  const { report } = input
  const target = input.bounceTokens
    .map((token) => input.tokens.readBounceToken(token))
    .find((found): found is BounceTarget => found !== null)
  const row = target ? rowOfToken(tx, target) : rowOfReport(tx, report, input.mailDomain)
  if (!row) return { reason: NO_MATCHING_EMAIL, notificationId: null, recordId: null }
  const entry =
    report.entries.find(
      (candidate) => candidate.recipient && candidate.recipient === row.emailTo?.toLowerCase(),
    ) ?? report.entries.find((candidate) => candidate.status !== null)
  const status = entry?.status ?? /#?([245]\.\d{1,3}\.\d{1,3})/.exec(report.summary)?.[1] ?? null
  const detail = [status, entry?.diagnostic ?? report.summary].filter(Boolean).join(' ')
  if (status?.startsWith('4'))
    return {
      reason: `delayed, the remote server keeps trying: ${detail}`,
      notificationId: row.id,
      recordId: row.recordId,
    }
  // A report of delivery (2.x.x, "relayed", "delivered") is no bounce.
  if (status?.startsWith('2'))
    return {
      reason: `delivered, as the report says: ${detail}`,
      notificationId: row.id,
      recordId: row.recordId,
    }
  const reason = `bounced: ${detail || 'the mail came back to the bounce address'}`
  if (row.source === 'record')
    tx.update(notifications)
      .set({ emailStatus: 'bounced', emailError: reason })
      .where(eq(notifications.id, row.id))
      .run()
  else
    tx.update(ochatNotifications)
      .set({ emailStatus: 'bounced', emailError: reason })
      .where(and(eq(ochatNotifications.messageId, row.id), eq(ochatNotifications.userId, row.userId ?? 0)))
      .run()
  if (row.partnerId !== null)
    tx.update(partners)
      .set({ emailBounces: sql`${partners.emailBounces} + 1` })
      .where(eq(partners.id, row.partnerId))
      .run()
  bouncedWebhook(tx, {
    source: row.source,
    id: row.id,
    recordId: row.recordId,
    address: row.emailTo,
    reason,
    now: input.now,
  })
  return { reason, notificationId: row.id, recordId: row.recordId }
}

type BouncedRow = {
  source: 'record' | 'ochat'
  /** The notification, or for O'Chat the message (with `userId`, its key). */
  id: number
  userId?: number
  emailTo: string | null
  partnerId: number | null
  recordId: number | null
}

function rowOfToken(tx: Tx, target: BounceTarget): BouncedRow | undefined {
  if (target.source === 'record') {
    const row = tx
      .select({
        id: notifications.id,
        emailTo: notifications.emailTo,
        partnerId: notifications.partnerId,
        recordId: notifications.recordId,
      })
      .from(notifications)
      .where(and(eq(notifications.id, target.notificationId), eq(notifications.channel, 'email')))
      .get()
    return row ? { source: 'record', ...row } : undefined
  }
  const row = tx
    .select({ emailTo: ochatNotifications.emailTo })
    .from(ochatNotifications)
    .where(
      and(eq(ochatNotifications.messageId, target.messageId), eq(ochatNotifications.userId, target.userId)),
    )
    .get()
  return row
    ? {
        source: 'ochat',
        id: target.messageId,
        userId: target.userId,
        ...row,
        partnerId: null,
        recordId: null,
      }
    : undefined
}

/**
 * Without our token, a report is anyone's word: someone who got one of our emails knows its
 * Message-ID and could report the other recipients as gone. The row must match the returned email's
 * Message-ID and a recipient the report names (Final-Recipient or Original-Recipient; a report with
 * no delivery-status part, only the addresses its text names), and be the only one that does.
 */
function rowOfReport(tx: Tx, report: DsnReport, mailDomain: string): BouncedRow | undefined {
  const ours = report.quotedIds.filter((id) => id.toLowerCase().endsWith(`@${mailDomain.toLowerCase()}`))
  if (ours.length === 0) return undefined
  const reported = new Set(
    report.entries.length > 0
      ? report.entries.flatMap((entry) => [entry.recipient, entry.original].filter((a) => a !== null))
      : report.named,
  )
  if (reported.size === 0) return undefined
  const messageIds = tx
    .select({ id: messages.id })
    .from(messages)
    .where(inArray(messages.emailMessageId, ours))
    .all()
    .map((row) => row.id)
  const mailIds = tx
    .select({ id: outgoingMail.id })
    .from(outgoingMail)
    .where(inArray(outgoingMail.emailMessageId, ours))
    .all()
    .map((row) => row.id)
  const about = [
    messageIds.length ? inArray(notifications.messageId, messageIds) : undefined,
    mailIds.length ? inArray(notifications.mailId, mailIds) : undefined,
  ].filter((condition) => condition !== undefined)
  if (about.length === 0) return undefined
  const matches = tx
    .select({
      id: notifications.id,
      emailTo: notifications.emailTo,
      partnerId: notifications.partnerId,
      recordId: notifications.recordId,
    })
    .from(notifications)
    .where(and(eq(notifications.channel, 'email'), or(...about)))
    .all()
    .filter((row) => row.emailTo !== null && reported.has(row.emailTo.toLowerCase()))
  const [only, ...more] = matches
  return only && more.length === 0 ? { source: 'record', ...only } : undefined
}
