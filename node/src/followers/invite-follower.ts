import type { Principal } from '../auth/principal.ts'
import { renderBody } from '../chatter/body.ts'
import { insertMessage, subtypeByKey } from '../chatter/repository.ts'
import type { Tx } from '../db/client.ts'
import { NodeError } from '../errors.ts'
import type { Effects } from '../live/events.ts'
import type { Model } from '../models/registry.ts'
import { messageMail } from '../notifications/mail-content.ts'
import { deliver } from '../notifications/notify.ts'
import { explicitRecipients } from '../notifications/recipients.ts'
import { candidates } from '../notifications/repository.ts'
import type { RecordRow } from '../records/repository.ts'

/**
 * The message that comes with an invitation to follow: kept in the chatter (so the record says who
 * was invited and why) but told only to the one invited, not to every follower. A colleague's
 * invitation is an internal note; a contact's is a message, emailed to them.
 */
export function inviteFollower(
  tx: Tx,
  input: {
    principal: Principal
    record: RecordRow
    model: Model
    partnerId: number
    /** Markdown, as typed in the composer. */
    text: string
    site: { company: string; publicUrl: string }
    now: number
    effects: Effects
  },
): void {
  const html = renderBody(input.text, 'markdown')
  if (!html) throw new NodeError('E_INVALID_BODY', 'message: the invitation message is empty')
  const invited = candidates(tx, [input.partnerId])[0]
  if (!invited) throw new NodeError('E_INVALID_BODY', 'partnerId: the partner does not exist')
  const subtype = subtypeByKey(tx, invited.internal ? 'note' : 'comment')
  const message = insertMessage(tx, {
    recordId: input.record.id,
    type: 'comment',
    kind: invited.internal ? 'note' : 'message',
    subtypeId: subtype.id,
    internal: subtype.internal,
    authorPartnerId: input.principal.partnerId,
    body: html,
    createdAt: input.now,
  })
  deliver(tx, {
    recipients: explicitRecipients({
      explicit: [{ ...invited, reason: 'mention' }],
      internal: message.internal,
      authorPartnerId: input.principal.partnerId,
    }),
    recordId: input.record.id,
    messageId: message.id,
    activityId: null,
    mail: messageMail({
      ...input.site,
      record: input.record,
      modelLabel: input.model.label,
      authorName: input.principal.name,
      html,
      tracking: [],
    }),
    now: input.now,
    effects: input.effects,
  })
  input.effects.events.push({
    scope: 'record',
    recordId: input.record.id,
    type: 'message.created',
    messageId: message.id,
  })
}
