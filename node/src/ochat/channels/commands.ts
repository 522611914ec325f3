import type { Principal } from '../../auth/principal.ts'
import { renderBody } from '../../chatter/body.ts'
import type { WriteQueue } from '../../db/write-queue.ts'
import { NodeError } from '../../errors.ts'
import type { ModelRegistry } from '../../models/registry.ts'
import { loadRecord, readableChannel } from '../../policies/index.ts'
import { findConnection } from '../connections/repository.ts'
import { markChannelNotificationsRead } from '../delivery/notify-members.ts'
import { findMessage, type MessageRow } from '../delivery/status.ts'
import { retryPartnerEmail } from '../email/retry.ts'
import type { Ochat } from '../runtime.ts'
import {
  emailChannelIds,
  fileOnRecord,
  markThreadOpened,
  resetForRetry,
  samePeerRecord,
} from './repository.ts'
import type { SendInput } from './schema.ts'
import { checkFiles, writableChannel, writeMessages } from './write-messages.ts'

/**
 * Sends a message to one channel, optionally about one of our records (replies come back to it):
 * rendered and sanitized, written Pending with its files in one write-queue job, then handed to the
 * outbox and told live.
 */
export async function sendMessage(input: {
  ochat: Ochat
  writes: WriteQueue
  principal: Principal
  registry: ModelRegistry
  channelId: number
  /** The record the message is about, which the sender must be able to see; null: none. */
  recordId: number | null
  message: SendInput
  now: () => number
}): Promise<MessageRow> {
  const { ochat, principal, registry, message } = input
  const instance = ochat.instance()
  const html = renderBody(message.body, message.format)
  if (!html && message.attachmentIds.length === 0)
    throw new NodeError('E_INVALID_BODY', 'body: nothing left to send after sanitizing')
  const { row, byEmail } = await input.writes.run((tx) => {
    if (input.recordId !== null) loadRecord(tx, { principal, registry, recordId: input.recordId })
    const files = checkFiles(tx, { principal, registry, attachmentIds: message.attachmentIds })
    const [row] = writeMessages(tx, {
      principal,
      channelIds: [input.channelId],
      html,
      files,
      recordId: input.recordId,
      bulkId: null,
      company: instance.name,
      now: input.now(),
    })
    return { row, byEmail: emailChannelIds(tx, [input.channelId]).size > 0 }
  })
  if (!row) throw new NodeError('E_INTERNAL')
  // An email channel's message is queued for the mail sender, which its live event kicks.
  if (!byEmail) ochat.sent([row.id], message.attachmentIds.length > 0 ? [row.id] : [])
  ochat.publishStatus([{ row, channelId: row.channelId }])
  return row
}

/** Opening a thread: its notifications are read, and Read receipts leave for what arrived (batched). */
export async function openThread(input: {
  ochat: Ochat
  writes: WriteQueue
  principal: Principal
  channelId: number
  nowMs: number
}): Promise<{ read: number; opened: number }> {
  const { principal, channelId, nowMs } = input
  const { read, opened } = await input.writes.run((tx) => {
    const channel = readableChannel(tx, principal, channelId)
    const read = markChannelNotificationsRead(tx, { channelId, userId: principal.userId, now: nowMs })
    const receipts = findConnection(tx, channel.connectionId)?.transport !== 'email'
    return { read, opened: markThreadOpened(tx, { channelId, nowMs, receipts }) }
  })
  if (opened > 0) input.ochat.kickReadReceipts()
  if (read > 0) input.ochat.publishChannels([principal.userId])
  return { read, opened }
}

/**
 * A Failed message is sent again, under a new envelope id (the relay already ended the old one). In
 * an email channel a Bounced one may be too (the partner's mailbox was full); its email is queued again.
 */
export async function retryMessage(input: {
  ochat: Ochat
  writes: WriteQueue
  principal: Principal
  messageId: number
  nowMs: number
}): Promise<MessageRow> {
  const { row, byEmail } = await input.writes.run((tx) => {
    const row = findMessage(tx, input.messageId)
    if (!row) throw new NodeError('E_NOT_FOUND')
    const channel = readableChannel(tx, input.principal, row.channelId)
    const byEmail = findConnection(tx, channel.connectionId)?.transport === 'email'
    const retryable = row.status === 'failed' || (byEmail && row.status === 'bounced')
    if (row.direction !== 'out' || !retryable)
      throw new NodeError('E_OCHAT_NOT_RETRYABLE', `the message is ${row.status}`)
    if (byEmail) {
      // The connection must still take messages (not revoked meanwhile).
      writableChannel(tx, input.principal, row.channelId)
      const reset = retryPartnerEmail(tx, { row, nowMs: input.nowMs })
      if (!reset) throw new NodeError('E_OCHAT_NOT_RETRYABLE', 'its email is being sent')
      return { row: reset, byEmail }
    }
    const reset = resetForRetry(tx, { id: row.id, nowMs: input.nowMs })
    if (!reset) throw new NodeError('E_NOT_FOUND')
    return { row: reset, byEmail }
  })
  if (byEmail) {
    // Its live event kicks the mail sender.
    input.ochat.publishStatus([{ row, channelId: row.channelId }])
    return row
  }
  input.ochat.kickOutbox()
  // Files that failed to upload are tried again; the outbox waits for them.
  input.ochat.transfers?.upload([row.id])
  input.ochat.publishStatus([{ row, channelId: row.channelId }])
  return row
}

/**
 * Files an incoming thread about one of the other company's records on one of ours: this message
 * and every other of the channel about the same record of theirs. Later ones follow it there.
 */
export async function fileThreadOnRecord(input: {
  writes: WriteQueue
  principal: Principal
  registry: ModelRegistry
  messageId: number
  recordId: number
}): Promise<MessageRow[]> {
  const { principal, registry, recordId } = input
  return input.writes.run((tx) => {
    const row = findMessage(tx, input.messageId)
    if (!row) throw new NodeError('E_NOT_FOUND')
    readableChannel(tx, principal, row.channelId)
    loadRecord(tx, { principal, registry, recordId })
    const same = samePeerRecord(tx, row)
    fileOnRecord(tx, { messageIds: same.map((other) => other.id), recordId })
    return same.map((other) => ({ ...other, recordId }))
  })
}
