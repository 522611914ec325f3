import type { Principal } from '../auth/principal.ts'
import { escapeHtml, plainText } from '../chatter/body.ts'
import type { Tx } from '../db/client.ts'
import type { Effects } from '../live/events.ts'
import type { Model } from '../models/registry.ts'
import { headerText } from '../notifications/mail-content.ts'
import { deliver } from '../notifications/notify.ts'
import type { Recipient } from '../notifications/recipients.ts'
import { channelOf } from '../notifications/recipients.ts'
import { candidates } from '../notifications/repository.ts'
import type { RecordRow } from '../records/repository.ts'
import type { ActivityRow, ActivityTypeRow, Assignee } from './repository.ts'

/**
 * Tells a user they were given an activity: an inbox notification or an
 * email, per their preference, with reason `activity`. Nobody is told about what they assigned
 * themselves, and inactive users are not told at all.
 */
export function notifyAssignee(
  tx: Tx,
  input: {
    principal: Principal
    activity: ActivityRow
    type: ActivityTypeRow
    assignee: Assignee
    record: RecordRow
    model: Model
    site: { company: string; publicUrl: string }
    now: number
    effects: Effects
  },
): void {
  if (input.assignee.userId === input.principal.userId) return
  const [candidate] = candidates(tx, [input.assignee.partnerId])
  if (!candidate?.partnerActive || candidate.userActive === false) return
  const recipient: Recipient = {
    partnerId: candidate.partnerId,
    name: candidate.name,
    email: candidate.email,
    userId: candidate.userId,
    channel: channelOf(candidate),
    reason: 'activity',
  }
  const { activity, type, record, model, site } = input
  const title = activityTitle(activity, type)
  deliver(tx, {
    recipients: [recipient],
    recordId: record.id,
    messageId: null,
    activityId: activity.id,
    mail: () => ({
      subject: headerText(`"${record.name}: ${title}" assigned to you`),
      body: [
        `<p><strong>${escapeHtml(input.principal.name)}</strong> assigned you an activity on ${escapeHtml(model.label)} ${escapeHtml(record.name)}:</p>`,
        `<p>${escapeHtml(type.name)}: ${escapeHtml(title)}, due ${escapeHtml(activity.deadline)}</p>`,
        activity.note ? `<blockquote>${activity.note}</blockquote>` : '',
        `<p><a href="${escapeHtml(`${site.publicUrl}/#/records/${record.id}`)}">View ${escapeHtml(model.label)}</a></p>`,
        `<p>— ${escapeHtml(site.company)}</p>`,
      ].join(''),
    }),
    now: input.now,
    effects: input.effects,
  })
}

/** Used in subjects and calendar entries: the summary, or the note's first words, or the type. */
export function activityTitle(activity: ActivityRow, type: ActivityTypeRow): string {
  return activity.summary ?? (plainText(activity.note).slice(0, 80) || type.name)
}
