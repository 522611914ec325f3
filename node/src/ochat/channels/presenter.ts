import { z } from 'zod'
import { plainText } from '../../chatter/body.ts'
import type { ochatChannels, ochatConnections, ochatFiles } from '../../db/schema.ts'
import { hasReason, type MessageRow, nextStep, statusAt } from '../delivery/status.ts'

export const OchatStatusSchema = z.enum([
  'pending',
  'sent',
  'delivered',
  'read',
  'retrying',
  'failed',
  'bounced',
  'received',
])

export const OchatFileViewSchema = z.object({
  id: z.int(),
  name: z.string(),
  mimeType: z.string(),
  size: z.int(),
  /** pending: uploading (outgoing) or downloading (incoming); ready; failed (with the error). */
  state: z.enum(['pending', 'ready', 'failed']),
  error: z.string().nullable(),
  /** The node attachment: download it from /api/v1/attachments/:id/content once ready. */
  attachmentId: z.int().nullable(),
})

/** relay: sealed, end-to-end encrypted; email: plain email to a partner without a node. */
export const TransportSchema = z.enum(['relay', 'email'])

export const OchatMessageViewSchema = z.object({
  id: z.int(),
  channelId: z.int(),
  /** How it travels; an email channel's messages are not end-to-end encrypted, and the UI says so. */
  transport: TransportSchema,
  direction: z.enum(['out', 'in']),
  envelopeId: z.string(),
  author: z.object({ name: z.string(), company: z.string(), userId: z.int().nullable() }),
  /** Sanitized HTML. */
  html: z.string(),
  status: OchatStatusSchema,
  /** When it took its current status. */
  statusAt: z.int(),
  /** Every status it went through, with its time (null: not reached). */
  times: z.object({
    pending: z.int(),
    sent: z.int().nullable(),
    delivered: z.int().nullable(),
    read: z.int().nullable(),
    retrying: z.int().nullable(),
    /** Failed, or for an email channel's message Bounced. */
    failed: z.int().nullable(),
  }),
  /** Retrying: when the next attempt is due. */
  nextAttemptAt: z.int().nullable(),
  /** Retrying, Failed and Bounced: why, as the relay, the node or the partner's mail server said it. */
  reason: z.string().nullable(),
  /** Retrying, Failed and Bounced: what to check (the seed's troubleshooting). */
  nextStep: z.string().nullable(),
  seq: z.int().nullable(),
  record: z.object({ id: z.int(), name: z.string().nullable() }).nullable(),
  peerRecord: z.object({ model: z.string(), id: z.string(), name: z.string() }).nullable(),
  bulkId: z.string().nullable(),
  files: z.array(OchatFileViewSchema),
  createdAt: z.int(),
})
export type OchatMessageView = z.input<typeof OchatMessageViewSchema>

/**
 * Messages with their files (by message id). `readableRecords` names the records the viewer may read
 * (id → name): a message filed on any other record shows no record at all, since channel members are
 * not all allowed to see every record someone wrote to a partner about. `emailChannels`: the
 * channels among them that go by email.
 */
export function presentMessages(
  rows: MessageRow[],
  files: Map<number, (typeof ochatFiles.$inferSelect)[]>,
  readableRecords: Map<number, string>,
  emailChannels: ReadonlySet<number> = new Set(),
): OchatMessageView[] {
  return rows.map((row) => {
    const name = row.recordId === null ? undefined : readableRecords.get(row.recordId)
    return presentMessage(
      name === undefined ? { ...row, recordId: null } : row,
      files.get(row.id) ?? [],
      name ?? null,
      emailChannels.has(row.channelId) ? 'email' : 'relay',
    )
  })
}

export function presentMessage(
  row: MessageRow,
  files: (typeof ochatFiles.$inferSelect)[],
  recordName: string | null,
  transport: 'relay' | 'email' = 'relay',
): OchatMessageView {
  return {
    id: row.id,
    channelId: row.channelId,
    transport,
    direction: row.direction,
    envelopeId: row.envelopeId,
    author: { name: row.authorName, company: row.authorCompany, userId: row.authorUserId },
    html: row.html,
    status: row.status,
    statusAt: statusAt(row),
    times: {
      pending: row.createdAt,
      sent: row.sentAt,
      delivered: row.deliveredAt,
      read: row.readAt,
      retrying: row.retryingAt,
      failed: row.failedAt,
    },
    nextAttemptAt: row.status === 'retrying' ? row.nextAttemptAt : null,
    reason: hasReason(row.status) ? row.statusReason : null,
    nextStep: nextStep(row, transport),
    seq: row.seq,
    record: row.recordId === null ? null : { id: row.recordId, name: recordName },
    peerRecord: row.peerRecord,
    bulkId: row.bulkId,
    files: files.map((file) => ({
      id: file.id,
      name: file.name,
      mimeType: file.mimeType,
      size: file.size,
      state: file.state,
      error: file.error,
      attachmentId: file.state === 'ready' ? file.attachmentId : null,
    })),
    createdAt: row.createdAt,
  }
}

export const ChannelViewSchema = z.object({
  id: z.int(),
  connectionId: z.string(),
  /** An email channel's peer has no instance (an empty id). */
  peer: z.object({ instanceId: z.string(), name: z.string() }),
  /** relay: end-to-end encrypted; email: plain email to `email`, not end-to-end encrypted. */
  transport: TransportSchema,
  /** Email channels: the partner's address. */
  email: z.string().nullable(),
  contact: z.object({ id: z.int(), name: z.string() }).nullable(),
  /** The connection's state: only accepted channels take new messages. */
  state: z.enum(['pending', 'accepted', 'rejected', 'revoked']),
  /** The peer's keys changed and no admin verified them yet: nothing flows. */
  paused: z.boolean(),
  /** Rejected or revoked: who ended it (the other company, or this one) and when; null otherwise. */
  closed: z.object({ byPeer: z.boolean(), at: z.int() }).nullable(),
  unread: z.int(),
  lastActivityAt: z.int(),
  lastMessage: z
    .object({
      id: z.int(),
      direction: z.enum(['out', 'in']),
      preview: z.string(),
      status: OchatStatusSchema,
      at: z.int(),
    })
    .nullable(),
})
export type ChannelView = z.input<typeof ChannelViewSchema>

/** A channel as channelRows (repository.ts) reads it: its connection, contact, unread count and last message. */
export type ChannelFacts = {
  channel: typeof ochatChannels.$inferSelect
  connection: typeof ochatConnections.$inferSelect
  contactName: string | null
  unread: number
  lastMessage: MessageRow | undefined
}

export function presentChannel(facts: ChannelFacts): ChannelView {
  const { channel, connection, contactName, lastMessage: message } = facts
  return {
    id: channel.id,
    connectionId: connection.id,
    peer: { instanceId: connection.peerInstanceId, name: connection.peerName },
    transport: connection.transport,
    email: connection.transport === 'email' ? connection.emailAddress : null,
    contact:
      connection.contactPartnerId !== null && contactName !== null
        ? { id: connection.contactPartnerId, name: contactName }
        : null,
    state: connection.state,
    paused: connection.keyChangedAt !== null,
    closed: closedBy(connection),
    unread: facts.unread,
    lastActivityAt: channel.lastActivityAt,
    lastMessage: message
      ? {
          id: message.id,
          direction: message.direction,
          preview: plainText(message.html).slice(0, 120),
          status: message.status,
          at: message.createdAt,
        }
      : null,
  }
}

/** Opening a thread: how many of the opener's notifications it read, and how many messages it opened. */
export const ThreadOpenedViewSchema = z.object({ read: z.int(), opened: z.int() })

/**
 * Who ended a rejected or revoked connection, from its history: the relay names the instance that
 * acted, an email partner's history the admin here who stopped it.
 */
function closedBy(connection: typeof ochatConnections.$inferSelect): { byPeer: boolean; at: number } | null {
  if (connection.state !== 'revoked' && connection.state !== 'rejected') return null
  const entry = connection.history.findLast((item) => item.state === connection.state)
  if (!entry) return { byPeer: false, at: connection.updatedAt }
  return { byPeer: entry.by === connection.peerInstanceId && entry.by !== '', at: entry.at }
}
