import { newId } from '@ochat/shared-protocol'
import { and, eq, inArray } from 'drizzle-orm'
import { insertAttachment } from '../../attachments/repository.ts'
import { queueRuleEvent } from '../../automation/runner.ts'
import type { Tx } from '../../db/client.ts'
import { ochatEmailSends, ochatFiles, ochatMessages } from '../../db/schema.ts'
import type { Effects } from '../../live/events.ts'
import { type PendingFile, placePending, type StoredFile } from '../../mail/inbound/files.ts'
import type { InboundMail } from '../../mail/inbound/parse.ts'
import { findChannel, touchChannel } from '../channels/repository.ts'
import { type ConnectionRow, findConnection } from '../connections/repository.ts'
import { notifyMembers } from '../delivery/notify-members.ts'
import { findMessage, insertMessage, type MessageRow, updateMessage } from '../delivery/status.ts'
import { messageEvent } from '../events.ts'
import type { ChannelTokens } from './channel-token.ts'

/** The email channel a mail answers, and how it was found. */
export type PartnerReplyTarget = {
  channelId: number
  connection: ConnectionRow
  /** Our message it answers, when known. */
  parent: MessageRow | null
  /** The address our email went to (the token's message's), which may answer besides the channel's. */
  issuedTo: string | null
}

/** What became of a reply; the intake files it as it files any mail (`incoming_mails`). */
export type PartnerReplyOutcome =
  | { outcome: 'posted'; reason: null; channelId: number; messageId: number }
  | { outcome: 'duplicate'; reason: string; channelId: number; messageId: number }
  | { outcome: 'refused'; reason: string; policy: true; notice: true }

/**
 * The email channel a mail replies into: by our channel reply token among its recipients
 * (`reply+c…@<mail domain>`), else by In-Reply-To / References naming an email of an email channel
 * (newest first). A forged or stale token names nothing. A mail written to another reply address (a
 * record's) is that address's business, whatever its References say. Null: the mail is not for an
 * email channel.
 */
export function findPartnerReply(
  tx: Tx,
  input: {
    /** To, Cc, Delivered-To and RCPT TO, lower case. */
    recipients: string[]
    mailDomain: string
    /** In-Reply-To first, then References newest first, without angle brackets. */
    threadIds: string[]
    tokens: ChannelTokens
  },
): PartnerReplyTarget | null {
  const suffix = `@${input.mailDomain.toLowerCase()}`
  const replyAddresses = input.recipients.filter(
    (address) => address.endsWith(suffix) && address.startsWith('reply+'),
  )
  for (const address of replyAddresses) {
    const target = input.tokens.readReplyToken(address.slice('reply+'.length, -suffix.length))
    if (!target) continue
    const found = emailChannel(tx, target.channelId)
    const parent = findMessage(tx, target.messageId)
    if (!found || !parent || parent.channelId !== target.channelId) continue
    const send = tx
      .select({ emailTo: ochatEmailSends.emailTo })
      .from(ochatEmailSends)
      .where(eq(ochatEmailSends.messageId, parent.id))
      .get()
    return { channelId: target.channelId, connection: found, parent, issuedTo: send?.emailTo ?? null }
  }
  if (replyAddresses.length > 0 || input.threadIds.length === 0) return null
  const known = tx
    .select()
    .from(ochatMessages)
    .where(inArray(ochatMessages.emailMessageId, input.threadIds.slice(0, 32)))
    .all()
  for (const id of input.threadIds) {
    const parent = known.find((row) => row.emailMessageId === id)
    const found = parent && emailChannel(tx, parent.channelId)
    if (parent && found) return { channelId: parent.channelId, connection: found, parent, issuedTo: null }
  }
  return null
}

function emailChannel(tx: Tx, channelId: number): ConnectionRow | undefined {
  const channel = findChannel(tx, channelId)
  const connection = channel && findConnection(tx, channel.connectionId)
  return connection?.transport === 'email' ? connection : undefined
}

/**
 * A partner's reply, posted in its channel as an incoming message: the sanitized body without the
 * quoted history (mail/inbound/body.ts made `html`), its attachments as the message's files, filed
 * on our record when it answers a message about one, and told to the channel's members like any
 * incoming O'Chat message. Only the channel's address, or the one our email went to, may write:
 * anyone else holding a forwarded email is refused. Runs in the intake's transaction; the live events
 * go into `effects`, published after its commit.
 */
export function receivePartnerReply(
  tx: Tx,
  input: {
    target: PartnerReplyTarget
    mail: Pick<InboundMail, 'messageId' | 'from'>
    html: string
    /** The attachments, written to temp files before the transaction (mail/inbound/files.ts). */
    pending: PendingFile[]
    /** Filled with the files placed in the store, so that a rolled-back transaction can remove them. */
    stored: StoredFile[]
    /** Filled with the store's directories that got a file: fsynced after the commit. */
    directories: Set<string>
    attachmentDir: string
    now: number
    effects: Effects
  },
): PartnerReplyOutcome {
  const { target, mail, now } = input
  const { connection, channelId } = target
  const sender = mail.from?.address.toLowerCase() ?? ''
  const allowed = [connection.emailAddress, target.issuedTo].filter(Boolean)
  if (!sender || !allowed.includes(sender))
    return {
      outcome: 'refused',
      reason: `${sender || 'a sender with no address'} may not write into this conversation: only the partner's address may`,
      policy: true,
      notice: true,
    }
  if (connection.state !== 'accepted')
    return {
      outcome: 'refused',
      reason: `this conversation is closed (${connection.state}): the message was not taken in`,
      policy: true,
      notice: true,
    }
  if (mail.messageId) {
    const seen = tx
      .select({ id: ochatMessages.id })
      .from(ochatMessages)
      .where(and(eq(ochatMessages.channelId, channelId), eq(ochatMessages.emailMessageId, mail.messageId)))
      .get()
    if (seen)
      return {
        outcome: 'duplicate',
        reason: 'this email is in the conversation already',
        channelId,
        messageId: seen.id,
      }
  }
  if (!input.html && input.pending.length === 0)
    return {
      outcome: 'refused',
      reason: 'the reply is empty once the quoted history is left out',
      policy: true,
      notice: true,
    }
  // Placed only now that the reply is to be posted: refused mail leaves no file behind.
  const files = placePending(input.attachmentDir, input.pending, input.directories)
  input.stored.push(...files)
  const row = insertMessage(tx, {
    channelId,
    direction: 'in',
    envelopeId: newId(now),
    authorUserId: null,
    authorName: mail.from?.name.trim() || sender,
    authorCompany: connection.peerName,
    html: input.html,
    // An answer to a message about one of our records goes on that record too.
    recordId: target.parent?.recordId ?? null,
    peerRecord: null,
    inReplyTo: target.parent?.envelopeId ?? null,
    bulkId: null,
    status: 'received',
    seq: null,
    createdAt: now,
    sentAt: null,
    outboxDueAt: null,
  })
  // It came in by email, though on an O'Chat channel: rules waiting for email hear of it.
  if (row.recordId !== null)
    queueRuleEvent(tx, { kind: 'message_received', recordId: row.recordId, via: 'email', now })
  // The partner's Message-ID threads our next email under this one; a mail without one gets ours.
  const emailMessageId = mail.messageId ?? `ochat.in.${newId(now)}@email-partner.invalid`
  updateMessage(tx, row.id, { emailMessageId })
  for (const [position, file] of files.entries()) {
    const attachment = insertAttachment(tx, {
      ...file,
      recordId: row.recordId,
      messageId: null,
      uploadedBy: null,
      createdAt: now,
    })
    tx.insert(ochatFiles)
      .values({
        messageId: row.id,
        position,
        attachmentId: attachment.id,
        name: file.fileName,
        mimeType: file.mimeType,
        size: file.size,
        sha256: Buffer.from(file.sha256, 'hex').toString('base64url'),
        state: 'ready',
      })
      .run()
  }
  touchChannel(tx, channelId, now)
  const stored = { ...row, emailMessageId }
  const members = notifyMembers(tx, { row: stored, channelId, peerName: connection.peerName, now })
  for (const userId of members)
    input.effects.events.push(messageEvent(userId, channelId, stored), {
      scope: 'user',
      userId,
      type: 'ochat.channels',
    })
  return { outcome: 'posted', reason: null, channelId, messageId: row.id }
}
