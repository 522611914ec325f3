import {
  type DeliveryItem,
  type ItemResult,
  type MessagePayload,
  newId,
  openEnvelope,
  reason,
  type SignedReceipt,
  signReceipt,
  verifyReceipt,
} from '@ochat/shared-protocol'
import type { Clock } from '@ochat/shared-protocol/server'
import { and, desc, eq, inArray, isNotNull, sql } from 'drizzle-orm'
import { queueRuleEvent } from '../../automation/runner.ts'
import { sanitizeBody } from '../../chatter/body.ts'
import type { Db, Tx } from '../../db/client.ts'
import { once } from '../../db/raw.ts'
import { ochatChannels, ochatConnections, ochatFiles, ochatMessages } from '../../db/schema.ts'
import type { WriteQueue } from '../../db/write-queue.ts'
import type { ChannelRow } from '../channels/repository.ts'
import { ensureChannel, touchChannel } from '../channels/repository.ts'
import { type ConnectionRow, findConnection } from '../connections/repository.ts'
import { type Instance, publicKeyBytes } from '../identity/instance.ts'
import type { Keystore } from '../identity/keystore.ts'
import { foreignName } from './names.ts'
import { notifyMembers } from './notify-members.ts'
import { filesOf } from './payload.ts'
import { applyStatus, insertMessage, type MessageRow, outgoingByEnvelope } from './status.ts'

type EnvelopeItem = Extract<DeliveryItem, { type: 'envelope' }>

export type InboundContext = {
  db: Db
  writes: WriteQueue
  clock: Clock
  instance: Instance
  keystore: Keystore
  /**
   * Reads every connection again from the relay (a new connection, or keys that changed); answers
   * false when it did not (the relay failed, or a read was made a moment ago: runtime.ts).
   */
  syncConnections(): Promise<boolean>
}

export type InboundOutcome = {
  results: ItemResult[]
  /** One signed Delivered receipt per sender, for the envelopes stored now or before. */
  receipts: SignedReceipt[]
  /** Messages added (for live events and notifications), and outgoing ones whose status moved. */
  added: { row: MessageRow; channelId: number; members: number[] }[]
  changed: { row: MessageRow; channelId: number }[]
  /** Incoming files to download. */
  files: number[]
}

type Opened = { item: EnvelopeItem; connection: ConnectionRow; payload: MessagePayload }

/**
 * Receives what the relay delivers, by WebSocket or webhook alike (PROTOCOL.md §6.2, §7): envelopes
 * are checked against the key pinned for their connection, decrypted, validated and sanitized, then
 * stored durably in one transaction with every other item of the batch; only then does the node
 * answer, with a signed Delivered receipt per sender. Receipts and status items move outgoing
 * messages forward. An envelope already stored (the other path, or a retry) is answered again as a
 * duplicate with its receipt, and stored once.
 */
export async function receiveItems(ctx: InboundContext, items: DeliveryItem[]): Promise<InboundOutcome> {
  const results = new Map<string, ItemResult>()
  const envelopes = items.filter((item): item is EnvelopeItem => item.type === 'envelope')

  let verdicts = envelopes.map(checker(ctx, false))
  // A receipt signed by neither the key we pinned nor the new one we know of may be signed by keys
  // the peer rotated a moment ago.
  const unverifiedReceipt = items.some(
    (item) =>
      item.type === 'receipt' &&
      !receiptSigner(ctx.db, ctx.instance, item.receipt, 'pinnedKeys') &&
      !receiptSigner(ctx.db, ctx.instance, item.receipt, 'peerKeys'),
  )
  // A connection accepted a moment ago, or keys that changed: read the relay's view, then look again.
  // Without a fresh read, what waited for it stays retryable (`error:`), never refused as forged.
  if (unverifiedReceipt || verdicts.some((verdict) => verdict.kind === 'sync')) {
    if (await ctx.syncConnections().catch(() => false)) verdicts = envelopes.map(checker(ctx, true))
  }
  const opened: Opened[] = []
  for (const verdict of verdicts) {
    if (verdict.kind === 'ok') opened.push(verdict.opened)
    else if (verdict.kind === 'refuse')
      results.set(verdict.id, { ok: false, id: verdict.id, reason: verdict.reason })
    else
      results.set(verdict.id, {
        ok: false,
        id: verdict.id,
        reason: reason(
          'error',
          "the connection or the sender's keys could not be checked with the relay yet",
        ),
      })
  }

  const now = ctx.clock.now()
  const stored = await ctx.writes.run((tx) => {
    const out: Pick<InboundOutcome, 'added' | 'changed' | 'files'> & {
      stored: { id: string; from: string }[]
    } = {
      added: [],
      changed: [],
      files: [],
      stored: [],
    }
    for (const entry of opened) {
      const { channel } = ensureChannel(tx, entry.connection.id, now)
      const duplicate = incomingByEnvelope(tx, channel.id, entry.item.id)
      out.stored.push({ id: entry.item.id, from: entry.item.envelope.header.from })
      if (duplicate) {
        results.set(entry.item.id, { ok: true, id: entry.item.id, duplicate: true })
        continue
      }
      const row = storeMessage(tx, { ...entry, channel, keystore: ctx.keystore, now })
      const members = notifyMembers(tx, {
        row,
        channelId: channel.id,
        peerName: entry.connection.peerName,
        now,
      })
      touchChannel(tx, channel.id, now)
      out.added.push({ row, channelId: channel.id, members })
      if (entry.payload.attachments.length > 0)
        out.files.push(...(filesOf(tx, [row.id]).get(row.id) ?? []).map((file) => file.id))
      results.set(entry.item.id, { ok: true, id: entry.item.id })
    }
    for (const item of items) {
      if (item.type === 'receipt') {
        const outcome = applyReceipt(tx, ctx.instance, item.receipt)
        results.set(item.id, outcome.result(item.id))
        out.changed.push(...outcome.changed)
      } else if (item.type === 'status') {
        out.changed.push(...applyRelayStatus(tx, item.event))
        results.set(item.id, { ok: true, id: item.id })
      }
    }
    return out
  })

  const bySender = new Map<string, string[]>()
  for (const entry of stored.stored) bySender.set(entry.from, [...(bySender.get(entry.from) ?? []), entry.id])
  const receipts = [...bySender].map(([to, envelopeIds]) =>
    signReceipt(
      { v: 1, id: newId(now), kind: 'delivered', from: ctx.instance.instanceId, to, envelopeIds, at: now },
      ctx.instance.identity.secretKey,
    ),
  )
  return {
    results: items.map(
      (item) => results.get(item.id) ?? { ok: false, id: item.id, reason: reason('error', 'not processed') },
    ),
    receipts,
    added: stored.added,
    changed: stored.changed,
    files: stored.files,
  }
}

type Verdict =
  | { kind: 'ok'; opened: Opened }
  | { kind: 'refuse'; id: string; reason: string }
  | { kind: 'sync'; id: string }

/** Checks a batch's envelopes, reading each connection once (a batch is mostly one peer's). */
function checker(ctx: InboundContext, synced: boolean): (item: EnvelopeItem) => Verdict {
  const connections = new Map<string, ConnectionRow | undefined>()
  return (item) => {
    if (!connections.has(item.connectionId))
      connections.set(item.connectionId, findConnection(ctx.db, item.connectionId))
    return check(ctx, item, connections.get(item.connectionId), synced)
  }
}

function check(
  ctx: InboundContext,
  item: EnvelopeItem,
  connection: ConnectionRow | undefined,
  synced: boolean,
): Verdict {
  // An email partner has no node: nothing from the relay is ever its message.
  if (
    !connection ||
    connection.transport === 'email' ||
    connection.peerInstanceId !== item.envelope.header.from
  ) {
    if (!synced) return { kind: 'sync', id: item.id }
    return { kind: 'refuse', id: item.id, reason: reason('invalid', 'no such connection with the sender') }
  }
  if (connection.state !== 'accepted') {
    if (connection.state === 'pending' && !synced) return { kind: 'sync', id: item.id }
    return {
      kind: 'refuse',
      id: item.id,
      reason: reason(
        connection.state === 'pending' ? 'error' : 'invalid',
        `the connection is ${connection.state}`,
      ),
    }
  }
  if (connection.keyChangedAt !== null)
    // Not `invalid:`: the relay keeps retrying, and the message arrives once an admin verified the new keys.
    return {
      kind: 'refuse',
      id: item.id,
      reason: reason(
        'blocked',
        "the sender's keys changed; this channel is paused until an admin verifies the new safety code",
      ),
    }
  const open = (boxKeys: typeof ctx.instance.boxKeys) =>
    openEnvelope({
      envelope: item.envelope,
      recipientInstanceId: ctx.instance.instanceId,
      senderInstanceId: connection.peerInstanceId,
      senderIdentityKey: publicKeyBytes(connection.pinnedKeys.identityKey),
      senderEncryptionKey: publicKeyBytes(connection.pinnedKeys.encryptionKey),
      boxKeys,
    })
  let opened = open(ctx.instance.boxKeys)
  // Sealed to the keys we rotated away from, by a peer that has not read our new ones yet.
  const previous = ctx.instance.previous
  if (
    !opened.ok &&
    opened.code === 'E_ENVELOPE_UNDECRYPTABLE' &&
    previous &&
    ctx.clock.now() < previous.until
  )
    opened = open(previous.boxKeys)
  if (!opened.ok) {
    // The sender may have rotated its keys since we last looked: check once before calling it forged.
    const keyProblem =
      opened.code === 'E_ENVELOPE_BAD_SIGNATURE' || opened.code === 'E_ENVELOPE_UNDECRYPTABLE'
    if (keyProblem && !synced) return { kind: 'sync', id: item.id }
    return { kind: 'refuse', id: item.id, reason: opened.reason }
  }
  return { kind: 'ok', opened: { item, connection, payload: opened.value.payload } }
}

function storeMessage(
  tx: Tx,
  input: Opened & { channel: ChannelRow; keystore: Keystore; now: number },
): MessageRow {
  const { payload, item, channel } = input
  // Sanitized on arrival: whatever the other company's node sent, only the allowlist is stored and shown.
  const html = sanitizeBody(payload.html)
  const row = insertMessage(tx, {
    channelId: channel.id,
    direction: 'in',
    envelopeId: item.id,
    authorUserId: null,
    authorName: foreignName(payload.sender.name, 'Unknown'),
    authorCompany: foreignName(payload.sender.company, input.connection.peerName),
    html,
    recordId: boundRecord(tx, channel.id, payload),
    peerRecord: payload.record ? { ...payload.record, name: foreignName(payload.record.name, '') } : null,
    inReplyTo: payload.inReplyTo ?? null,
    bulkId: payload.bulkId ?? null,
    status: 'received',
    seq: item.seq,
    createdAt: input.now,
    sentAt: payload.sentAt,
    outboxDueAt: null,
  })
  if (payload.attachments.length > 0)
    tx.insert(ochatFiles)
      .values(
        payload.attachments.map((file, position) => ({
          messageId: row.id,
          position,
          name: foreignName(file.name, 'file'),
          mimeType: file.type,
          size: file.size,
          sha256: file.sha256,
          blobId: file.blobId,
          sealedKey: input.keystore.seal(Buffer.from(file.key, 'base64url')),
          state: 'pending' as const,
        })),
      )
      .run()
  if (row.recordId !== null)
    queueRuleEvent(tx, { kind: 'message_received', recordId: row.recordId, via: 'ochat', now: input.now })
  return row
}

/**
 * Which of our records an incoming message belongs to. A reply names our record (`peerRecord`): it is
 * honoured only if we sent a message about that record on this channel, so a peer cannot post into a
 * record it was never told about. A message about one of their records goes where an earlier message
 * about the same record was filed here.
 */
function boundRecord(tx: Tx, channelId: number, payload: MessagePayload): number | null {
  const ours = payload.peerRecord
  if (ours && /^\d+$/.test(ours.id)) {
    const sent = tx
      .select({ recordId: ochatMessages.recordId })
      .from(ochatMessages)
      .where(
        and(
          eq(ochatMessages.channelId, channelId),
          eq(ochatMessages.direction, 'out'),
          eq(ochatMessages.recordId, Number(ours.id)),
        ),
      )
      .get()
    if (sent?.recordId != null) return sent.recordId
  }
  const theirs = payload.record
  if (theirs) {
    const earlier = tx
      .select({ recordId: ochatMessages.recordId, peerRecord: ochatMessages.peerRecord })
      .from(ochatMessages)
      .where(
        and(
          eq(ochatMessages.channelId, channelId),
          isNotNull(ochatMessages.recordId),
          isNotNull(ochatMessages.peerRecord),
        ),
      )
      .orderBy(desc(ochatMessages.id))
      .limit(200)
      .all()
      .find((row) => row.peerRecord?.model === theirs.model && row.peerRecord.id === theirs.id)
    if (earlier?.recordId != null) return earlier.recordId
  }
  return null
}

/** An incoming message already stored, by its envelope id (the other path, or a retry). */
function incomingByEnvelope(tx: Tx, channelId: number, envelopeId: string) {
  const query = once(tx, 'ochat.message.incomingByEnvelope', () =>
    tx
      .select({ id: ochatMessages.id })
      .from(ochatMessages)
      .where(
        and(
          eq(ochatMessages.channelId, sql.placeholder('channelId')),
          eq(ochatMessages.direction, 'in'),
          eq(ochatMessages.envelopeId, sql.placeholder('envelopeId')),
        ),
      )
      .prepare(),
  )
  return query.get({ channelId, envelopeId })
}

/** Channels whose connection's peer is `instanceId`, with the keys pinned on each and those reported now. */
function channelsOfPeer(tx: Tx, instanceId: string) {
  const query = once(tx, 'ochat.channel.ofPeer', () =>
    tx
      .select({
        channelId: ochatChannels.id,
        pinnedKeys: ochatConnections.pinnedKeys,
        peerKeys: ochatConnections.peerKeys,
        keyChangedAt: ochatConnections.keyChangedAt,
        state: ochatConnections.state,
      })
      .from(ochatChannels)
      .innerJoin(ochatConnections, eq(ochatConnections.id, ochatChannels.connectionId))
      .where(eq(ochatConnections.peerInstanceId, sql.placeholder('instanceId')))
      .prepare(),
  )
  return query.all({ instanceId })
}

/**
 * Whether `identityKey` signed this receipt. A receipt is looked at before its batch's transaction
 * (to know whether to read the relay's view first) and again inside it: the answer for one key is
 * kept with the receipt, so each signature is verified once.
 */
const verified = new WeakMap<SignedReceipt, Map<string, boolean>>()
function signedBy(signed: SignedReceipt, instance: Instance, identityKey: string): boolean {
  let byKey = verified.get(signed)
  if (!byKey) {
    byKey = new Map()
    verified.set(signed, byKey)
  }
  let ok = byKey.get(identityKey)
  if (ok === undefined) {
    ok = verifyReceipt(signed, {
      from: signed.receipt.from,
      to: instance.instanceId,
      signerIdentityKey: publicKeyBytes(identityKey),
    }).ok
    byKey.set(identityKey, ok)
  }
  return ok
}

/** The channel whose `keys` (pinned, or reported by the relay) signed this receipt, if any. */
function receiptSigner(tx: Tx, instance: Instance, signed: SignedReceipt, keys: 'pinnedKeys' | 'peerKeys') {
  return channelsOfPeer(tx, signed.receipt.from).find(
    (channel) =>
      (keys === 'pinnedKeys' || channel.keyChangedAt !== null) &&
      signedBy(signed, instance, channel[keys].identityKey),
  )
}

/** A Delivered or Read receipt, verified against the key pinned for its signer, moves our messages on. */
function applyReceipt(tx: Tx, instance: Instance, signed: SignedReceipt) {
  const channels = channelsOfPeer(tx, signed.receipt.from)
  const changed: { row: MessageRow; channelId: number }[] = []
  if (!receiptSigner(tx, instance, signed, 'pinnedKeys')) {
    // Signed by the peer's new keys, not verified here yet: not `invalid:`, so the relay keeps it and
    // offers it again; it counts once an admin verified the new safety code (a Read is not lost).
    if (receiptSigner(tx, instance, signed, 'peerKeys'))
      return {
        changed,
        result: (id: string): ItemResult => ({
          ok: false,
          id,
          reason: reason(
            'blocked',
            "signed with the sender's new keys; this channel is paused until an admin verifies the new safety code",
          ),
        }),
      }
    return {
      changed,
      result: (id: string): ItemResult => ({
        ok: false,
        id,
        reason: reason('invalid', 'receipt is not signed by a pinned key of its sender'),
      }),
    }
  }
  const { receipt } = signed
  for (const channel of channels) {
    for (const row of outgoingByEnvelope(tx, channel.channelId, receipt.envelopeIds)) {
      const updated = applyStatus(tx, row, { status: receipt.kind, at: receipt.at })
      if (updated) changed.push({ row: updated, channelId: channel.channelId })
    }
  }
  return { changed, result: (id: string): ItemResult => ({ ok: true, id }) }
}

/** Retrying and Failed from the relay, about our envelopes to `event.to`. */
function applyRelayStatus(tx: Tx, event: Extract<DeliveryItem, { type: 'status' }>['event']) {
  const changed: { row: MessageRow; channelId: number }[] = []
  if (event.status === 'sent') return changed
  const channelIds = channelsOfPeer(tx, event.to).map((channel) => channel.channelId)
  if (channelIds.length === 0) return changed
  const rows = tx
    .select()
    .from(ochatMessages)
    .where(
      and(
        inArray(ochatMessages.channelId, channelIds),
        eq(ochatMessages.direction, 'out'),
        eq(ochatMessages.envelopeId, event.envelopeId),
      ),
    )
    .all()
  for (const row of rows) {
    const updated =
      event.status === 'retrying'
        ? applyStatus(tx, row, {
            status: 'retrying',
            at: event.at,
            nextAttemptAt: event.nextAttemptAt,
            reason: event.reason,
          })
        : applyStatus(tx, row, { status: 'failed', at: event.at, reason: event.reason })
    if (updated) changed.push({ row: updated, channelId: row.channelId })
  }
  return changed
}
