import { and, eq, inArray, isNull, or } from 'drizzle-orm'
import type { Principal } from '../auth/principal.ts'
import type { Tx } from '../db/client.ts'
import { attachments, messageMentions, partners, users } from '../db/schema.ts'
import { NodeError } from '../errors.ts'
import { follow } from '../followers/repository.ts'
import type { Effects } from '../live/events.ts'
import type { Model } from '../models/registry.ts'
import { messageMail } from '../notifications/mail-content.ts'
import { notifyMessage } from '../notifications/notify.ts'
import type { RecordRow } from '../records/repository.ts'
import { type BodyFormat, renderBody } from './body.ts'
import { resolveMentions } from './mentions.ts'
import { insertMessage, type MessageRow, subtypeByKey } from './repository.ts'

/**
 * Posts a "Send message" (kind message: discussion subtype, reaches followers, may email external ones)
 * or a "Log note" (kind note: internal subtype, internal users only). In one transaction: the message,
 * its mentions and attachments, auto-follows (the internal author, mentioned internal users) and one
 * notification per recipient. Live events are collected in `effects` and published after commit.
 */
export function postMessage(
  tx: Tx,
  input: {
    principal: Principal
    record: RecordRow
    model: Model
    kind: 'message' | 'note'
    body: string
    format: BodyFormat
    /** Partners to notify as mentioned even if their name is not in the text (e.g. picked in the UI). */
    mentionPartnerIds: number[]
    /** Files uploaded by this user beforehand, not yet attached to a message. */
    attachmentIds: number[]
    site: { company: string; publicUrl: string }
    now: number
    effects: Effects
  },
): { message: MessageRow; mentions: { partnerId: number; name: string }[] } {
  const { principal, record } = input
  const rendered = renderBody(input.body, input.format)
  const { html, mentioned } = resolveMentions(tx, rendered)
  if (!html && input.attachmentIds.length === 0)
    throw new NodeError('E_INVALID_BODY', 'body: the message is empty')
  const explicit = input.mentionPartnerIds.length
    ? tx
        .select({ id: partners.id, name: partners.name, internal: partners.internal })
        .from(partners)
        .where(and(inArray(partners.id, input.mentionPartnerIds), eq(partners.active, true)))
        .all()
    : []
  if (explicit.length !== new Set(input.mentionPartnerIds).size)
    throw new NodeError('E_INVALID_BODY', 'mentionPartnerIds: a partner does not exist')
  const allMentioned = new Map([...mentioned, ...explicit].map((partner) => [partner.id, partner]))
  // Internal stays internal: a note cannot name an external partner; refuse rather than silently drop it.
  const external = [...allMentioned.values()].filter((partner) => !partner.internal)
  if (input.kind === 'note' && external.length > 0)
    throw new NodeError(
      'E_MENTION_EXTERNAL_IN_NOTE',
      `a log note cannot mention ${external.map((partner) => partner.name).join(', ')}: they are external contacts`,
    )

  const subtype = subtypeByKey(tx, input.kind === 'note' ? 'note' : 'comment')
  const message = insertMessage(tx, {
    recordId: record.id,
    type: 'comment',
    kind: input.kind,
    subtypeId: subtype.id,
    internal: subtype.internal,
    authorPartnerId: principal.partnerId,
    body: html,
    createdAt: input.now,
  })
  if (allMentioned.size > 0)
    tx.insert(messageMentions)
      .values([...allMentioned.keys()].map((partnerId) => ({ messageId: message.id, partnerId })))
      .run()
  attachFiles(tx, {
    ids: input.attachmentIds,
    userId: principal.userId,
    recordId: record.id,
    messageId: message.id,
  })

  // Auto-follow: the internal author of a post, and mentioned internal users (never customers).
  follow(tx, {
    recordId: record.id,
    partnerId: principal.partnerId,
    subscription: 'all',
    now: input.now,
    existing: 'keep',
  })
  const mentionedUsers = [...allMentioned.values()].filter((partner) => partner.internal)
  if (mentionedUsers.length) {
    const withUser = tx
      .select({ partnerId: users.partnerId })
      .from(users)
      .where(
        and(
          inArray(
            users.partnerId,
            mentionedUsers.map((partner) => partner.id),
          ),
          eq(users.active, true),
        ),
      )
      .all()
    for (const { partnerId } of withUser)
      follow(tx, { recordId: record.id, partnerId, subscription: 'all', now: input.now, existing: 'keep' })
  }

  notifyMessage(tx, {
    message: {
      id: message.id,
      recordId: record.id,
      internal: message.internal,
      subtypeKey: subtype.key,
      authorPartnerId: principal.partnerId,
    },
    explicit: [...allMentioned.keys()].map((partnerId) => ({ partnerId, reason: 'mention' as const })),
    mail: messageMail({
      ...input.site,
      record,
      modelLabel: input.model.label,
      authorName: principal.name,
      html,
      tracking: [],
    }),
    now: input.now,
    effects: input.effects,
  })
  input.effects.events.push({
    scope: 'record',
    recordId: record.id,
    type: 'message.created',
    messageId: message.id,
  })
  return {
    message,
    mentions: [...allMentioned.values()].map((partner) => ({ partnerId: partner.id, name: partner.name })),
  }
}

/** Moves uploads onto a message: the uploader's own files, not on a message yet, uploaded for no record or this one. */
export function attachFiles(
  tx: Tx,
  input: { ids: number[]; userId: number; recordId: number; messageId: number },
): void {
  if (input.ids.length === 0) return
  const ids = [...new Set(input.ids)]
  const updated = tx
    .update(attachments)
    .set({ recordId: input.recordId, messageId: input.messageId })
    .where(
      and(
        inArray(attachments.id, ids),
        eq(attachments.uploadedBy, input.userId),
        isNull(attachments.messageId),
        // A file uploaded for one record stays on it.
        or(isNull(attachments.recordId), eq(attachments.recordId, input.recordId)),
      ),
    )
    .run()
  if (updated.changes !== ids.length)
    throw new NodeError('E_INVALID_BODY', 'attachmentIds: unknown file, or already attached to a message')
}
