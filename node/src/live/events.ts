import type { OchatStatus } from '../db/schema.ts'

/**
 * What the node pushes to connected UI clients. Record events go to sockets that subscribed to that
 * record (access checked when they subscribed); user events go to that user's sockets only.
 */
export type LiveEvent =
  | { scope: 'record'; recordId: number; type: 'message.created' | 'message.updated'; messageId: number }
  | { scope: 'record'; recordId: number; type: 'record.updated' | 'followers.changed' | 'activities.changed' }
  /**
   * The email of a message (or, messageId null, of an activity) to one or more recipients changed
   * state: queued, sent, failed, bounced, canceled. The mail sender pushes it after each answer;
   * retry and cancel too. Clients read the statuses again (GET /api/v1/records/{id}/emails).
   */
  | { scope: 'record'; recordId: number; type: 'email.status'; messageId: number | null }
  | { scope: 'user'; userId: number; type: 'inbox.changed' }
  | { scope: 'user'; userId: number; type: 'activities.changed' }
  /** O'Chat: a message was added to a channel, or its delivery status changed (with the new one). */
  | {
      scope: 'user'
      userId: number
      type: 'ochat.message'
      channelId: number
      messageId: number
      status: OchatStatus
      /** When it took this status, ms. */
      at: number
      /** Retrying: the next attempt; Failed: nothing. */
      nextAttemptAt?: number
      reason?: string
    }
  /** O'Chat: a file of a message moved (upload or download progress, ready, failed). */
  | {
      scope: 'user'
      userId: number
      type: 'ochat.file'
      messageId: number
      fileId: number
      state: 'pending' | 'ready' | 'failed'
      /** Bytes done so far, of `size`. */
      done: number
      size: number
    }
  /**
   * O'Chat: a message of a bulk send moved; its summary's counts changed (GET /api/v1/ochat/bulk/:id).
   * Told to the bulk's author and to administrators, who are the ones who may read it.
   */
  | { scope: 'user'; userId: number; type: 'ochat.bulk'; bulkId: string }
  | { scope: 'user'; userId: number; type: 'ochat.channels' | 'ochat.connections' | 'ochat.registration' }
  /** A mail came in and was filed, whatever became of it: told to administrators, who read the log. */
  | { scope: 'user'; userId: number; type: 'mail.incoming' }
  /** An automation rule ran (done, skipped or failed): told to administrators, who read its runs. */
  | { scope: 'user'; userId: number; type: 'automation.run'; ruleId: number }
  /** An outbound webhook endpoint's deliveries or state changed: told to administrators. */
  | { scope: 'user'; userId: number; type: 'webhooks.changed'; endpointId: number }

/** Events collected by a command inside its transaction, published by the route after commit. */
export type Effects = { events: LiveEvent[] }

export function newEffects(): Effects {
  return { events: [] }
}
