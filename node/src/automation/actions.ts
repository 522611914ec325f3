import { addDelay, localDate } from '../activities/dates.ts'
import { resolveAssignee, resolveType, scheduleActivity } from '../activities/schedule-activity.ts'
import type { Principal } from '../auth/principal.ts'
import { postMessage } from '../chatter/post-message.ts'
import type { Tx } from '../db/client.ts'
import { follow, unfollow } from '../followers/repository.ts'
import type { Effects } from '../live/events.ts'
import type { Model, ModelRegistry } from '../models/registry.ts'
import type { RecordRow } from '../records/repository.ts'
import { updateRecord } from '../records/write-record.ts'
import { createFromRule } from './actions-create.ts'
import { callWebhook, sendEmail } from './actions-send.ts'
import { fill, partnerInField, type Site } from './record-values.ts'
import type { Action } from './schema.ts'

export type { Site } from './record-values.ts'

export type Context = {
  model: Model
  record: RecordRow
  principal: Principal
  site: Site
  now: number
  effects: Effects
  /** The rule running: a webhook it calls names it. */
  rule: { id: number; name: string }
  /** Where a record of another model is created finds that model. */
  registry: ModelRegistry
}

/**
 * One action of a rule, through the same commands a person's request runs (validation, tracking,
 * notifications, webhooks); answers the record as it is after it, and what it did, in words.
 */
export function runAction(tx: Tx, action: Action, context: Context): { record: RecordRow; said: string } {
  const { model, record, principal } = context
  switch (action.type) {
    case 'post_message': {
      postMessage(tx, {
        principal,
        record,
        model,
        kind: action.kind,
        body: fill(tx, action.body, { record, model, site: context.site, timeZone: principal.timeZone }),
        format: 'html',
        mentionPartnerIds: [],
        attachmentIds: [],
        site: context.site,
        now: context.now,
        effects: context.effects,
      })
      return { record, said: action.kind === 'note' ? 'logged a note' : 'posted a message' }
    }
    case 'set_values': {
      const updated = updateRecord(tx, {
        principal,
        model,
        registry: context.registry,
        record,
        version: record.version,
        values: action.values,
        site: context.site,
        now: context.now,
        effects: context.effects,
      })
      const fields = Object.keys(action.values).join(', ')
      return { record: updated, said: `set ${fields}` }
    }
    case 'schedule_activity': {
      const userId =
        'userId' in action.assignee
          ? action.assignee.userId
          : (record.values[action.assignee.field] as number | null)
      if (typeof userId !== 'number')
        throw new Error(
          `schedule_activity: the record's ${(action.assignee as { field: string }).field} is empty`,
        )
      const assignee = resolveAssignee(tx, userId)
      const type = resolveType(tx, action.activityType)
      const deadline =
        action.delayDays === undefined
          ? undefined
          : addDelay(localDate(context.now, assignee.timeZone), action.delayDays, 'days')
      const activity = scheduleActivity(tx, {
        principal,
        record,
        model,
        type,
        assignee,
        summary: action.summary ?? null,
        note: '',
        deadline,
        startsAt: undefined,
        durationMinutes: undefined,
        site: context.site,
        now: context.now,
        effects: context.effects,
      })
      return { record, said: `scheduled ${type.name} for ${assignee.name} on ${activity.deadline}` }
    }
    case 'add_followers': {
      const ids = new Set(action.partnerIds)
      if (action.field !== undefined) {
        const partnerId = partnerInField(tx, model, record, action.field)
        if (partnerId !== undefined) ids.add(partnerId)
      }
      let added = 0
      for (const partnerId of ids)
        if (
          follow(tx, {
            recordId: record.id,
            partnerId,
            subscription: 'all',
            now: context.now,
            existing: 'keep',
          }).created
        )
          added++
      if (added > 0)
        context.effects.events.push({ scope: 'record', recordId: record.id, type: 'followers.changed' })
      return { record, said: `added ${added} follower${added === 1 ? '' : 's'}` }
    }
    case 'remove_followers': {
      let removed = 0
      for (const partnerId of action.partnerIds) if (unfollow(tx, record.id, partnerId)) removed++
      if (removed > 0)
        context.effects.events.push({ scope: 'record', recordId: record.id, type: 'followers.changed' })
      return { record, said: `removed ${removed} follower${removed === 1 ? '' : 's'}` }
    }
    case 'create_record':
      return createFromRule(tx, action, context)
    case 'send_email':
      return { record, said: sendEmail(tx, action, context) }
    case 'call_webhook':
      return { record, said: callWebhook(tx, action, context) }
  }
}
