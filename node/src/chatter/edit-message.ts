import { and, eq, inArray } from 'drizzle-orm'
import type { Principal } from '../auth/principal.ts'
import type { Tx } from '../db/client.ts'
import { messageMentions, messages, messageVersions, notifications } from '../db/schema.ts'
import { NodeError } from '../errors.ts'
import type { Effects } from '../live/events.ts'
import { authorizeMessageChange } from '../policies/index.ts'
import { type BodyFormat, renderBody } from './body.ts'
import { resolveMentions } from './mentions.ts'
import type { MessageRow } from './repository.ts'

/** Only people's comments and notes change; system, tracking and activity messages are the record's history. */
function assertEditable(principal: Principal, message: MessageRow): void {
  if (message.type !== 'comment') throw new NodeError('E_MESSAGE_IMMUTABLE')
  if (message.deletedAt !== null) throw new NodeError('E_MESSAGE_IMMUTABLE', 'the message was deleted')
  authorizeMessageChange(principal, message)
}

/**
 * Replaces a comment's body, keeping the previous one as a version and marking the message edited.
 * Mentions are re-read from the new body; a note still cannot name an external partner. Emails already
 * sent are not recalled, and nobody is notified again.
 */
export function editMessage(
  tx: Tx,
  input: {
    principal: Principal
    message: MessageRow
    body: string
    format: BodyFormat
    now: number
    effects: Effects
  },
): void {
  const { message } = input
  assertEditable(input.principal, message)
  const { html, mentioned } = resolveMentions(tx, renderBody(input.body, input.format))
  if (!html) throw new NodeError('E_INVALID_BODY', 'body: the message is empty; delete it instead')
  if (message.internal && mentioned.some((partner) => !partner.internal))
    throw new NodeError('E_MENTION_EXTERNAL_IN_NOTE')
  tx.insert(messageVersions)
    .values({
      messageId: message.id,
      body: message.body,
      replacedBy: input.principal.userId,
      replacedAt: input.now,
    })
    .run()
  tx.update(messages).set({ body: html, editedAt: input.now }).where(eq(messages.id, message.id)).run()
  tx.delete(messageMentions).where(eq(messageMentions.messageId, message.id)).run()
  if (mentioned.length)
    tx.insert(messageMentions)
      .values(mentioned.map((partner) => ({ messageId: message.id, partnerId: partner.id })))
      .run()
  input.effects.events.push({
    scope: 'record',
    recordId: message.recordId,
    type: 'message.updated',
    messageId: message.id,
  })
}

/** Soft delete: the body is kept as a last version and emptied; the tombstone stays in the thread. */
export function deleteMessage(
  tx: Tx,
  input: { principal: Principal; message: MessageRow; now: number; effects: Effects },
): void {
  const { message } = input
  assertEditable(input.principal, message)
  tx.insert(messageVersions)
    .values({
      messageId: message.id,
      body: message.body,
      replacedBy: input.principal.userId,
      replacedAt: input.now,
    })
    .run()
  tx.update(messages).set({ body: '', deletedAt: input.now }).where(eq(messages.id, message.id)).run()
  // Emails of it still waiting are called off: a deleted message must not reach anyone afterwards.
  tx.update(notifications)
    .set({ emailStatus: 'canceled', emailNextAt: null, emailError: 'the message was deleted' })
    .where(
      and(
        eq(notifications.messageId, message.id),
        eq(notifications.channel, 'email'),
        inArray(notifications.emailStatus, ['queued', 'failed']),
      ),
    )
    .run()
  input.effects.events.push({
    scope: 'record',
    recordId: message.recordId,
    type: 'message.updated',
    messageId: message.id,
  })
}
