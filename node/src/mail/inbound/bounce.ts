import { and, eq, inArray, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { ochatNotifications } from '../../db/ochat-schema.ts'
import { messages, notifications, outgoingMail, partners } from '../../db/schema.ts'
import type { BounceTarget, MailTokens } from '../tokens.ts'
import type { InboundMail } from './parse.ts'

/** What a delivery report says about one recipient. */
export type DsnEntry = { recipient: string | null; status: string | null; diagnostic: string | null }

/** The delivery reports read from the raw bytes: reports are ASCII (RFC 3464), whatever else the mail holds. */
export type DsnReport = {
  entries: DsnEntry[]
  /** Message-IDs quoted in the report (the returned headers), without angle brackets. */
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
    const status = /^Status:\s*([245]\.\d{1,3}\.\d{1,3})/im.exec(block)?.[1]
    if (!recipient && !status) continue
    entries.push({
      recipient: recipient?.toLowerCase() ?? null,
      status: status ?? null,
      diagnostic: /^Diagnostic-Code:\s*(.+)$/im.exec(block)?.[1]?.trim() ?? null,
    })
  }
  const quotedIds = [...text.matchAll(/^Message-ID:\s*<([^<>\s]+)>/gim)].map((match) => match[1] as string)
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

/**
 * Marks the email the report is about as bounced and counts it on the partner's address; a delay
 * (4.x.x) changes nothing, as the remote server keeps trying. The row is the one the VERP token names;
 * without a token, the one whose Message-ID the report quotes, to the address it reports.
 */
export function applyBounce(
  tx: Tx,
  input: { tokens: MailTokens; bounceTokens: string[]; report: DsnReport; mailDomain: string },
): BounceApplied {
  const { report } = input
  const target = input.bounceTokens
    .map((token) => input.tokens.readBounceToken(token))
    .find((found): found is BounceTarget => found !== null)
  const row = target ? rowOfToken(tx, target) : rowOfQuotedIds(tx, report, input.mailDomain)
  if (!row)
    return {
      reason: 'a bounce about no email of ours: nothing changed',
      notificationId: null,
      recordId: null,
    }
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

function rowOfQuotedIds(tx: Tx, report: DsnReport, mailDomain: string): BouncedRow | undefined {
  const ours = report.quotedIds.filter((id) => id.toLowerCase().endsWith(`@${mailDomain.toLowerCase()}`))
  if (ours.length === 0) return undefined
  const messageIds = tx
    .select({ id: messages.id })
    .from(messages)
    .where(inArray(messages.emailMessageId, ours))
    .all()
  const mailIds = tx
    .select({ id: outgoingMail.id })
    .from(outgoingMail)
    .where(inArray(outgoingMail.emailMessageId, ours))
    .all()
  const candidates = [
    ...(messageIds.length
      ? tx
          .select()
          .from(notifications)
          .where(
            and(
              inArray(
                notifications.messageId,
                messageIds.map((row) => row.id),
              ),
              eq(notifications.channel, 'email'),
            ),
          )
          .all()
      : []),
    ...(mailIds.length
      ? tx
          .select()
          .from(notifications)
          .where(
            inArray(
              notifications.mailId,
              mailIds.map((row) => row.id),
            ),
          )
          .all()
      : []),
  ]
  const reported = new Set([
    ...report.entries.flatMap((entry) => (entry.recipient ? [entry.recipient] : [])),
    ...report.named,
  ])
  const row = candidates.find(
    (candidate) => candidate.emailTo && reported.has(candidate.emailTo.toLowerCase()),
  )
  return row
    ? { source: 'record', id: row.id, emailTo: row.emailTo, partnerId: row.partnerId, recordId: row.recordId }
    : undefined
}
