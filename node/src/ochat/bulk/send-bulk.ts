import { newId } from '@ochat/shared-protocol'
import type { Principal } from '../../auth/principal.ts'
import { renderBody } from '../../chatter/body.ts'
import type { Tx } from '../../db/client.ts'
import { ochatBulkSends } from '../../db/schema.ts'
import type { WriteQueue } from '../../db/write-queue.ts'
import { NodeError } from '../../errors.ts'
import type { ModelRegistry } from '../../models/registry.ts'
import { findChannel } from '../channels/repository.ts'
import type { SendInput } from '../channels/schema.ts'
import { checkFiles, writableChannel, writeMessages } from '../channels/write-messages.ts'
import { findConnection } from '../connections/repository.ts'
import type { MessageRow } from '../delivery/status.ts'
import type { Ochat } from '../runtime.ts'

/** Refusals listed in one answer, at most (ErrorBody details). */
const MAX_LISTED = 50

/**
 * Every channel the caller cannot write to, named: a bulk send goes to all its recipients or to none,
 * so one refused recipient fails the request and the caller sees which ones to remove. A channel the
 * caller may not see is "not found or not yours", the same words as a missing one.
 */
function checkRecipients(tx: Tx, principal: Principal, channelIds: number[]): void {
  const refused: { path: string; message: string }[] = []
  for (const [index, channelId] of channelIds.entries()) {
    try {
      writableChannel(tx, principal, channelId)
    } catch (error) {
      if (!(error instanceof NodeError)) throw error
      const peer =
        error.code === 'E_NOT_FOUND'
          ? undefined
          : findConnection(tx, findChannel(tx, channelId)?.connectionId ?? '')?.peerName
      const why =
        error.code === 'E_NOT_FOUND'
          ? 'not found, or you cannot write to it'
          : error.code === 'E_OCHAT_CHANNEL_PAUSED'
            ? "paused: the other company's keys changed and the new safety code is not verified yet"
            : error.detail
      refused.push({
        path: `channelIds.${index}`,
        message: `channel ${channelId}${peer ? ` (${peer})` : ''}: ${why}`,
      })
    }
  }
  const first = refused[0]
  if (first)
    throw new NodeError(
      'E_OCHAT_BULK_RECIPIENT',
      refused.length === 1 ? first.message : `${first.message}; and ${refused.length - 1} more`,
      { details: refused.slice(0, MAX_LISTED) },
    )
}

/**
 * One message to several connections: one outgoing message per channel, each
 * with its own envelope and status, tied together by the bulk id. Their files are checked once here
 * and uploaded once for all of them (files/). Nothing leaves the process; the caller hands the
 * messages to O'Chat after the commit.
 */
export function sendBulk(
  tx: Tx,
  input: {
    principal: Principal
    registry: ModelRegistry
    channelIds: number[]
    /** Sanitized HTML. */
    html: string
    attachmentIds: number[]
    /** Our company, as shown beside the author. */
    company: string
    now: number
  },
): { bulkId: string; rows: MessageRow[] } {
  checkRecipients(tx, input.principal, input.channelIds)
  const files = checkFiles(tx, {
    principal: input.principal,
    registry: input.registry,
    attachmentIds: input.attachmentIds,
  })
  const bulkId = newId(input.now)
  tx.insert(ochatBulkSends)
    .values({
      id: bulkId,
      authorUserId: input.principal.userId,
      html: input.html,
      recipients: input.channelIds.length,
      createdAt: input.now,
    })
    .run()
  const rows = writeMessages(tx, {
    principal: input.principal,
    channelIds: input.channelIds,
    html: input.html,
    files,
    recordId: null,
    bulkId,
    company: input.company,
    now: input.now,
  })
  return { bulkId, rows }
}

/**
 * A bulk send as a user asks for it: rendered and sanitized, written in one write-queue job
 * (sendBulk), then handed to the outbox and told live. Answers the bulk id.
 */
export async function sendBulkMessage(input: {
  ochat: Ochat
  writes: WriteQueue
  principal: Principal
  registry: ModelRegistry
  message: SendInput & { channelIds: number[] }
  now: () => number
}): Promise<string> {
  const { ochat, message } = input
  const instance = ochat.instance()
  const html = renderBody(message.body, message.format)
  if (!html && message.attachmentIds.length === 0)
    throw new NodeError('E_INVALID_BODY', 'body: nothing left to send after sanitizing')
  const { bulkId, rows } = await input.writes.run((tx) =>
    sendBulk(tx, {
      principal: input.principal,
      registry: input.registry,
      channelIds: message.channelIds,
      html,
      attachmentIds: message.attachmentIds,
      company: instance.name,
      now: input.now(),
    }),
  )
  const ids = rows.map((row) => row.id)
  ochat.sent(ids, message.attachmentIds.length > 0 ? ids : [])
  ochat.publishStatus(rows.map((row) => ({ row, channelId: row.channelId })))
  return bulkId
}
