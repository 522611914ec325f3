import { and, asc, eq } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import {
  attachments,
  followers,
  messages,
  ochatChannels,
  ochatConnections,
  ochatFiles,
  ochatMessages,
  outgoingMail,
  partners,
  records,
} from '../db/schema.ts'
import type { QueuedEmail } from './queue.ts'

/** What one recipient's email is made of, read from the database. */
export type EmailContext = {
  mail: {
    id: number
    kind: 'message' | 'activity' | 'ochat' | 'digest'
    subject: string
    body: string
    recordId: number | null
    messageId: number | null
  }
  record: { id: number; name: string } | null
  /** Internal followers get an unfollow link; contacts and people told once (a mention) do not. */
  unfollow: { recordId: number; partnerId: number } | null
  /** The message's files, in the order they were attached. */
  files: { id: number; fileName: string; mimeType: string; size: number; sha256: string }[]
  /** The email of a message in an email channel: replies come back to this channel and message. */
  partner?: { channelId: number; messageId: number; peerName: string }
}

/** Throws when what the email needs is gone: the sender fails that email with the reason. */
export function loadEmail(tx: Tx, email: QueuedEmail): EmailContext {
  if (email.mailId === null) throw new Error('its content was not stored')
  const mail = tx
    .select({
      id: outgoingMail.id,
      kind: outgoingMail.kind,
      subject: outgoingMail.subject,
      body: outgoingMail.body,
      recordId: outgoingMail.recordId,
      messageId: outgoingMail.messageId,
    })
    .from(outgoingMail)
    .where(eq(outgoingMail.id, email.mailId))
    .get()
  if (!mail) throw new Error('its content is gone')
  if (email.source === 'partner') return partnerEmail(tx, mail, email.messageId)
  if (email.source === 'ochat' || mail.recordId === null)
    return { mail, record: null, unfollow: null, files: [] }
  const record = tx
    .select({ id: records.id, name: records.name })
    .from(records)
    .where(eq(records.id, mail.recordId))
    .get()
  if (!record) throw new Error('its record is gone')
  if (mail.messageId !== null) {
    const message = tx
      .select({ deletedAt: messages.deletedAt })
      .from(messages)
      .where(eq(messages.id, mail.messageId))
      .get()
    if (!message || message.deletedAt !== null) throw new Error('its message was deleted')
  }
  const internalFollower =
    email.userId !== null &&
    tx
      .select({ internal: partners.internal })
      .from(followers)
      .innerJoin(partners, eq(partners.id, followers.partnerId))
      .where(and(eq(followers.recordId, record.id), eq(followers.partnerId, email.partnerId)))
      .get()?.internal === true
  const files =
    mail.messageId === null
      ? []
      : tx
          .select({
            id: attachments.id,
            fileName: attachments.fileName,
            mimeType: attachments.mimeType,
            size: attachments.size,
            sha256: attachments.sha256,
          })
          .from(attachments)
          .where(eq(attachments.messageId, mail.messageId))
          .orderBy(asc(attachments.id))
          .all()
  return {
    mail,
    record,
    unfollow: internalFollower ? { recordId: record.id, partnerId: email.partnerId } : null,
    files,
  }
}

/** An email channel's message: its files are the O'Chat message's, attached as a record's are. */
function partnerEmail(tx: Tx, mail: EmailContext['mail'], messageId: number): EmailContext {
  const message = tx
    .select({ channelId: ochatMessages.channelId, peerName: ochatConnections.peerName })
    .from(ochatMessages)
    .innerJoin(ochatChannels, eq(ochatChannels.id, ochatMessages.channelId))
    .innerJoin(ochatConnections, eq(ochatConnections.id, ochatChannels.connectionId))
    .where(eq(ochatMessages.id, messageId))
    .get()
  if (!message) throw new Error('its message is gone')
  const files = tx
    .select({
      id: attachments.id,
      fileName: ochatFiles.name,
      mimeType: ochatFiles.mimeType,
      size: attachments.size,
      sha256: attachments.sha256,
    })
    .from(ochatFiles)
    .innerJoin(attachments, eq(attachments.id, ochatFiles.attachmentId))
    .where(eq(ochatFiles.messageId, messageId))
    .orderBy(asc(ochatFiles.position))
    .all()
  return {
    mail,
    record: null,
    unfollow: null,
    files,
    partner: { channelId: message.channelId, messageId, peerName: message.peerName },
  }
}
