import { and, eq, sql } from 'drizzle-orm'
import { queueRuleEvent } from '../../automation/runner.ts'
import type { Tx } from '../../db/client.ts'
import { inList, once } from '../../db/raw.ts'
import { type OchatStatus, ochatMessages } from '../../db/schema.ts'
import { ochatReceivedWebhook, ochatStatusWebhook } from '../../webhooks/emit.ts'

export type MessageRow = typeof ochatMessages.$inferSelect

/**
 * How far along an outgoing message is. A status only moves forward, whatever order the relay's
 * items arrive in: a late Retrying after Delivered, or a Delivered receipt after Read, changes nothing.
 * Sent and Retrying share a rank (the relay retries after it stored the message); Failed can still be
 * overtaken by a signed Delivered or Read receipt, which is proof the message arrived.
 */
const RANK: Record<OchatStatus, number> = {
  pending: 0,
  retrying: 1,
  sent: 1,
  failed: 2,
  bounced: 2,
  delivered: 3,
  read: 4,
  received: 0,
}

export function mayMove(from: OchatStatus, to: OchatStatus): boolean {
  if (from === 'received' || to === 'received') return false
  // A delivery report comes after the mail server accepted the email (Sent), or overtakes its answer.
  if (to === 'bounced') return from === 'pending' || from === 'sent' || from === 'retrying'
  if (to === 'retrying') return from === 'pending' || from === 'sent' || from === 'retrying'
  if (to === 'failed') return from === 'pending' || from === 'sent' || from === 'retrying'
  if (to === 'sent') return from === 'pending' || from === 'retrying'
  return RANK[to] > RANK[from]
}

export type StatusChange = {
  status: OchatStatus
  at: number
  seq?: number
  nextAttemptAt?: number
  reason?: string
}

/**
 * A receipt can overtake the relay's answer to our submit (the answer was lost with a dropped socket):
 * the message stays in the outbox, due now, and the resubmit is answered as a duplicate with its
 * sequence number, so the sender sees no gap. Otherwise the outbox is done with it.
 */
function answerStillDue(row: MessageRow): number | null {
  return row.direction === 'out' && row.seq === null && row.outboxDueAt !== null ? 0 : null
}

/** The columns a change writes: each status keeps its own timestamp. */
function columns(change: StatusChange, row: MessageRow): Partial<MessageRow> {
  switch (change.status) {
    case 'sent':
      return {
        status: 'sent',
        sentAt: change.at,
        seq: change.seq ?? row.seq,
        nextAttemptAt: null,
        statusReason: null,
        outboxDueAt: null,
      }
    case 'retrying':
      return {
        status: 'retrying',
        retryingAt: change.at,
        nextAttemptAt: change.nextAttemptAt ?? null,
        statusReason: change.reason ?? null,
      }
    case 'failed':
      return {
        status: 'failed',
        failedAt: change.at,
        nextAttemptAt: null,
        statusReason: change.reason ?? null,
        outboxDueAt: null,
      }
    case 'bounced':
      // An email channel's message: its time is kept where a failure's is.
      return {
        status: 'bounced',
        failedAt: change.at,
        nextAttemptAt: null,
        statusReason: change.reason ?? null,
        outboxDueAt: null,
      }
    case 'delivered':
      return {
        status: 'delivered',
        deliveredAt: change.at,
        nextAttemptAt: null,
        statusReason: null,
        outboxDueAt: answerStillDue(row),
      }
    case 'read':
      return {
        status: 'read',
        readAt: change.at,
        deliveredAt: row.deliveredAt ?? change.at,
        nextAttemptAt: null,
        statusReason: null,
        outboxDueAt: answerStillDue(row),
      }
    default:
      return {}
  }
}

/** Applies a change if it moves the message forward; answers the updated row, or undefined. */
export function applyStatus(tx: Tx, row: MessageRow, change: StatusChange): MessageRow | undefined {
  if (!mayMove(row.status, change.status)) {
    // The relay's answer to a submit can come after the recipient's receipt (an answer lost with a
    // dropped socket, then a resubmit answered as a duplicate): the status stays, but the sequence
    // number and the time it was stored are still recorded, or the sender would see a gap.
    if (change.status === 'sent' && row.direction === 'out' && (row.seq === null || row.sentAt === null))
      updateMessage(tx, row.id, { seq: row.seq ?? change.seq ?? null, sentAt: row.sentAt ?? change.at })
    return undefined
  }
  const set = columns(change, row)
  updateMessage(tx, row.id, set)
  const moved = { ...row, ...set }
  if (row.direction === 'out' && moved.status !== row.status) ochatStatusWebhook(tx, moved, change.at)
  // Failed for good: the relay gave up, or the partner's mail server bounced it (an email channel).
  const lost = moved.status === 'failed' || moved.status === 'bounced'
  if (row.direction === 'out' && lost && moved.status !== row.status && moved.recordId !== null)
    queueRuleEvent(tx, { kind: 'ochat_failed', recordId: moved.recordId, now: change.at })
  return moved
}

/** Columns an update may set without encoding (plain integers and text; not `peerRecord`, JSON). */
type PlainColumns = Omit<MessageRow, 'id' | 'peerRecord'>

/**
 * Sets some columns of one message. Statuses change for every message sent, so there is one
 * statement per set of columns, prepared once (db/raw.ts); the sets are the few in `columns` above
 * and the outbox's.
 */
export function updateMessage(tx: Tx, id: number, set: Partial<PlainColumns>): void {
  const keys = Object.keys(set).sort() as (keyof PlainColumns)[]
  if (keys.length === 0) return
  const statement = once(tx, `ochat.message.set:${keys.join(',')}`, () =>
    tx
      .update(ochatMessages)
      .set(Object.fromEntries(keys.map((key) => [key, sql`${sql.placeholder(key)}`])))
      .where(eq(ochatMessages.id, sql.placeholder('id')))
      .prepare(),
  )
  statement.run({ ...set, id })
}

export type NewMessage = Pick<
  MessageRow,
  | 'channelId'
  | 'direction'
  | 'envelopeId'
  | 'authorUserId'
  | 'authorName'
  | 'authorCompany'
  | 'html'
  | 'recordId'
  | 'peerRecord'
  | 'inReplyTo'
  | 'bulkId'
  | 'status'
  | 'seq'
  | 'createdAt'
  | 'sentAt'
  | 'outboxDueAt'
>

/** Inserts a message (sent here or received), answering its row; prepared once (db/raw.ts). */
export function insertMessage(tx: Tx, values: NewMessage): MessageRow {
  const p = (name: keyof NewMessage) => sql.placeholder(name)
  const statement = once(tx, 'ochat.message.insert', () =>
    tx
      .insert(ochatMessages)
      .values({
        channelId: p('channelId'),
        direction: p('direction'),
        envelopeId: p('envelopeId'),
        authorUserId: p('authorUserId'),
        authorName: p('authorName'),
        authorCompany: p('authorCompany'),
        html: p('html'),
        recordId: p('recordId'),
        // JSON: encoded below, so that no record stays SQL NULL (not the text "null").
        peerRecord: sql`${p('peerRecord')}`,
        inReplyTo: p('inReplyTo'),
        bulkId: p('bulkId'),
        status: p('status'),
        seq: p('seq'),
        createdAt: p('createdAt'),
        sentAt: p('sentAt'),
        outboxDueAt: p('outboxDueAt'),
      })
      .returning()
      .prepare(),
  )
  const row = statement.get({
    ...values,
    peerRecord: values.peerRecord === null ? null : JSON.stringify(values.peerRecord),
  })
  if (!row) throw new Error('the message insert returned no row')
  if (row.direction === 'in') ochatReceivedWebhook(tx, row)
  return row
}

/** One message by id. */
export function findMessage(tx: Tx, id: number): MessageRow | undefined {
  return once(tx, 'ochat.message.byId', () =>
    tx
      .select()
      .from(ochatMessages)
      .where(eq(ochatMessages.id, sql.placeholder('id')))
      .prepare(),
  ).get({ id })
}

/** Outgoing messages of one channel by envelope id. */
export function outgoingByEnvelope(tx: Tx, channelId: number, envelopeIds: string[]): MessageRow[] {
  if (envelopeIds.length === 0) return []
  const query = once(tx, 'ochat.message.outgoingByEnvelope', () =>
    tx
      .select()
      .from(ochatMessages)
      .where(
        and(
          eq(ochatMessages.channelId, sql.placeholder('channelId')),
          eq(ochatMessages.direction, 'out'),
          inList(ochatMessages.envelopeId, 'envelopeIds'),
        ),
      )
      .prepare(),
  )
  return query.all({ channelId, envelopeIds: JSON.stringify(envelopeIds) })
}

/** When the message took its current status. */
export function statusAt(row: MessageRow): number {
  switch (row.status) {
    case 'sent':
      return row.sentAt ?? row.createdAt
    case 'delivered':
      return row.deliveredAt ?? row.createdAt
    case 'read':
      return row.readAt ?? row.createdAt
    case 'retrying':
      return row.retryingAt ?? row.createdAt
    case 'failed':
    case 'bounced':
      return row.failedAt ?? row.createdAt
    default:
      return row.createdAt
  }
}

/** The statuses that come with a reason (and a next step). */
export function hasReason(status: OchatStatus): boolean {
  return status === 'retrying' || status === 'failed' || status === 'bounced'
}

/**
 * What to check when a message is Retrying, Failed or Bounced, from the reason's kind (the seed's
 * troubleshooting): the user gets the reason and the next step.
 */
export function nextStep(
  row: Pick<MessageRow, 'status' | 'statusReason'>,
  transport: 'relay' | 'email' = 'relay',
): string | null {
  if (!hasReason(row.status)) return null
  const reason = row.statusReason ?? ''
  if (transport === 'email') return emailNextStep(row.status, reason)
  // Retrying goes on by itself; a Failed message has used every attempt and waits for a person.
  const then = row.status === 'retrying' ? "O'Chat retries automatically." : 'Then retry the message.'
  if (reason.includes('cannot reach the relay') || reason.includes('relay could not be reached'))
    return `Check this server's internet connection and the relay URL. ${then}`
  if (reason.includes('could not be uploaded'))
    return "Check that the file is still on this node and within O'Chat's limits (100 MB per file, 500 MB per message), then retry the message."
  if (reason.startsWith('auth-required:'))
    return "Verify this node's O'Chat registration is still valid (O'Chat → Registration) and that its clock is right."
  if (reason.includes('suspended'))
    return "This node's registration is suspended on the relay: contact the relay's operator."
  if (reason.startsWith('blocked:'))
    return 'The connection is not accepted any more, or the other company paused it: check the connection.'
  if (reason.startsWith('rate-limited:'))
    return "The relay asked us to slow down; O'Chat retries automatically."
  if (reason.startsWith('invalid:'))
    return "The other company's node refused this message as invalid; check both sides' safety code and versions."
  return `The recipient's instance may be offline, or its webhook URL (/ochat/webhook) unreachable: ask them to check it. ${row.status === 'retrying' ? "O'Chat retries until the deadline." : 'Then retry the message.'}`
}

/** The same for an email channel: what its mail server's answer asks of a person here. */
function emailNextStep(status: OchatStatus, reason: string): string {
  if (status === 'retrying')
    return "The partner's mail server asked to try again later; O'Chat retries automatically for two days."
  if (status === 'bounced')
    return "The email came back undeliverable: check the partner's address with them, then retry the message."
  if (reason.includes('no outgoing mail server'))
    return 'Set up outgoing mail (Settings → Mail), then retry the message.'
  if (reason.includes('could not be written'))
    return 'Check that the files of the message are still on this node, then retry the message.'
  if (reason.includes('gave up after two days'))
    return "The partner's mail server did not take the email for two days: check with the partner, then retry the message."
  return "The partner's mail server refused the email: check the address and the reason with the partner, then retry the message."
}
