import type { ActivityRow } from '../activities/repository.ts'
import type { Tx } from '../db/client.ts'
import type { FollowerRow } from '../followers/repository.ts'
import type { Model } from '../models/registry.ts'
import type { ConnectionRow } from '../ochat/connections/repository.ts'
import type { MessageRow as OchatMessageRow } from '../ochat/delivery/status.ts'
import type { RecordRow } from '../records/repository.ts'
import { emitWebhook } from './events.ts'

/**
 * The domain's events, as integrators receive them: each called in the transaction of its change.
 * The data is what the REST API shows of the object, in its field names.
 */

export function recordWebhook(
  tx: Tx,
  type: 'record.created' | 'record.updated',
  input: { record: RecordRow; model: Model; now: number },
): void {
  const { record, model } = input
  // Restricted fields are for internal users: only endpoints allowed internal items get them.
  const restricted = model.fields.filter((field) => field.restricted).map((field) => field.name)
  const open = Object.fromEntries(
    Object.entries(record.values).filter(([name]) => !restricted.includes(name)),
  )
  emitWebhook(tx, {
    type,
    internal: false,
    ...(restricted.length > 0 ? { internalData: { values: record.values } } : {}),
    data: {
      id: record.id,
      model: model.name,
      name: record.name,
      values: open,
      assigneeId: record.assigneeId,
      version: record.version,
      createdAt: record.createdAt,
      updatedAt: record.updatedAt,
      archivedAt: record.archivedAt,
    },
    path: `/api/v1/records/${record.id}`,
    now: input.now,
  })
}

export function recordDeletedWebhook(
  tx: Tx,
  input: { record: RecordRow; modelName: string; now: number },
): void {
  emitWebhook(tx, {
    type: 'record.deleted',
    internal: false,
    data: { id: input.record.id, model: input.modelName, name: input.record.name },
    path: `/api/v1/records/${input.record.id}`,
    now: input.now,
  })
}

export function messageWebhook(
  tx: Tx,
  input: {
    message: {
      id: number
      recordId: number
      kind: string
      type: string
      internal: boolean
      authorPartnerId: number | null
      body: string
      createdAt: number
    }
    subtypeKey: string
  },
): void {
  const { message } = input
  emitWebhook(tx, {
    type: 'message.posted',
    // A log note, or any message of an internal subtype, is an internal item.
    internal: message.internal,
    data: {
      id: message.id,
      recordId: message.recordId,
      kind: message.kind,
      type: message.type,
      subtype: input.subtypeKey,
      internal: message.internal,
      authorPartnerId: message.authorPartnerId,
      body: message.body,
      createdAt: message.createdAt,
    },
    path: `/api/v1/messages/${message.id}`,
    now: message.createdAt,
  })
}

export function activityWebhook(
  tx: Tx,
  type: 'activity.scheduled' | 'activity.done' | 'activity.canceled',
  input: { activity: ActivityRow; typeKey?: string; now: number },
): void {
  const { activity } = input
  emitWebhook(tx, {
    type,
    // Activities are internal users' work, as their done message is (the activities subtype): only
    // endpoints allowed internal items hear of them.
    internal: true,
    data: {
      id: activity.id,
      recordId: activity.recordId,
      ...(input.typeKey ? { type: input.typeKey } : {}),
      summary: activity.summary,
      deadline: activity.deadline,
      assigneeId: activity.assigneeId,
      status: activity.status,
      note: activity.note,
      feedback: activity.feedback,
      doneAt: activity.doneAt,
      createdAt: activity.createdAt,
      updatedAt: activity.updatedAt,
    },
    path: `/api/v1/activities/${activity.id}`,
    now: input.now,
  })
}

export function followerWebhook(tx: Tx, input: { follower: FollowerRow; now: number }): void {
  const { follower } = input
  emitWebhook(tx, {
    type: 'follower.added',
    internal: false,
    data: {
      id: follower.id,
      recordId: follower.recordId,
      partnerId: follower.partnerId,
      subscription: follower.subscription,
      subtypes: follower.subtypes,
      createdAt: follower.createdAt,
    },
    path: `/api/v1/records/${follower.recordId}/followers`,
    now: input.now,
  })
}

/** An O'Chat message from a partner company (by the relay, or an email channel's reply), stored. */
export function ochatReceivedWebhook(tx: Tx, message: OchatMessageRow): void {
  emitWebhook(tx, {
    type: 'ochat.message.received',
    internal: false,
    data: {
      id: message.id,
      channelId: message.channelId,
      authorName: message.authorName,
      authorCompany: message.authorCompany,
      html: message.html,
      recordId: message.recordId,
      createdAt: message.createdAt,
    },
    path: `/api/v1/ochat/channels/${message.channelId}/messages`,
    now: message.createdAt,
  })
}

/** An outgoing O'Chat message moved: Sent, Delivered, Read, Retrying, Failed. */
export function ochatStatusWebhook(tx: Tx, message: OchatMessageRow, now: number): void {
  emitWebhook(tx, {
    type: 'ochat.message.status_changed',
    internal: false,
    data: {
      id: message.id,
      channelId: message.channelId,
      status: message.status,
      reason: message.statusReason,
      seq: message.seq,
      nextAttemptAt: message.nextAttemptAt,
    },
    path: `/api/v1/ochat/channels/${message.channelId}/messages`,
    now,
  })
}

/** A connection with a partner company was requested, accepted, rejected, revoked, paused by a key change. */
export function ochatConnectionWebhook(tx: Tx, connection: ConnectionRow): void {
  emitWebhook(tx, {
    type: 'ochat.connection.changed',
    internal: false,
    data: {
      id: connection.id,
      state: connection.state,
      peerInstanceId: connection.peerInstanceId,
      peerName: connection.peerName,
      transport: connection.transport,
      keyChanged: connection.keyChangedAt !== null,
      updatedAt: connection.updatedAt,
    },
    path: `/api/v1/ochat/connections/${connection.id}`,
    now: connection.updatedAt,
  })
}

/**
 * An email came back undelivered: its recipient is Bounced. `record`: a notification about a record
 * (`id` is the notification's); `ochat`: an O'Chat message emailed to a user (`id` is the message's).
 */
export function bouncedWebhook(
  tx: Tx,
  input: {
    source: 'record' | 'ochat'
    id: number
    recordId: number | null
    address: string | null
    reason: string
    now: number
  },
): void {
  emitWebhook(tx, {
    type: 'mail.bounced',
    internal: false,
    data: {
      id: input.id,
      source: input.source,
      recordId: input.recordId,
      address: input.address,
      reason: input.reason,
    },
    path: input.recordId === null ? '/api/v1/inbox' : `/api/v1/records/${input.recordId}/emails`,
    now: input.now,
  })
}
