import type { Effects, LiveEvent } from '../live/events.ts'
import { LiveHub } from '../live/hub.ts'

/** Events of the writes that may queue emails: a message, an assignment, an O'Chat message, a Retry. */
const MAY_QUEUE_MAIL = new Set<LiveEvent['type']>([
  'message.created',
  'record.updated',
  'activities.changed',
  'inbox.changed',
  'ochat.message',
  'email.status',
])

/**
 * The live hub, also telling the mail sender when a write that may have queued emails committed.
 * Every such write publishes its live events right after its commit (never before, never for a
 * rolled-back one), which is exactly when its emails may go: "after commit" without each command
 * having to know about mail.
 */
export class LiveHubKickingMail extends LiveHub {
  onMailMayBeDue: () => void = () => {}
  /**
   * After any write: it may have queued webhook messages (webhooks/events.ts), which carry no live
   * event of their own.
   */
  onPublished: () => void = () => {}

  override publish(effects: Effects): void {
    super.publish(effects)
    if (effects.events.some((event) => MAY_QUEUE_MAIL.has(event.type))) this.onMailMayBeDue()
    if (effects.events.length > 0) this.onPublished()
  }
}
