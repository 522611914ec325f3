import { addDelay, localDate } from '../activities/dates.ts'
import { resolveAssignee, resolveType, scheduleActivity } from '../activities/schedule-activity.ts'
import type { Principal } from '../auth/principal.ts'
import { escapeHtml } from '../chatter/body.ts'
import { postMessage } from '../chatter/post-message.ts'
import type { Tx } from '../db/client.ts'
import { follow, unfollow } from '../followers/repository.ts'
import type { Effects } from '../live/events.ts'
import { displayValue } from '../models/fields.ts'
import type { Model } from '../models/registry.ts'
import { partnerIdsOfUsers } from '../people/repository.ts'
import type { RecordRow } from '../records/repository.ts'
import { nameResolver } from '../records/values.ts'
import { updateRecord } from '../records/write-record.ts'
import type { Action } from './schema.ts'

export type Site = { company: string; publicUrl: string; locale: string; currency: string }

type Context = {
  model: Model
  record: RecordRow
  principal: Principal
  site: Site
  now: number
  effects: Effects
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
        const value = record.values[action.field]
        const field = model.fields.find((candidate) => candidate.name === action.field)
        const partnerId =
          typeof value !== 'number'
            ? undefined
            : field?.type === 'user'
              ? partnerIdsOfUsers(tx, [value]).get(value)
              : value
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
  }
}

/**
 * `{{field}}` placeholders filled with the record's values as people read them (a user's name, a
 * stage's label, an amount with its currency), `{{name}}` too; all of it HTML-escaped. An "@" that
 * could start a mention in a value is followed by a word joiner: a record's values (a mail's subject,
 * say) must not mention anyone in the rule's name.
 */
export function fill(
  tx: Tx,
  template: string,
  input: { record: RecordRow; model: Model; site: Site; timeZone: string },
): string {
  const { record, model } = input
  const display = {
    locale: input.site.locale,
    currency: input.site.currency,
    timeZone: input.timeZone,
    nameOf: nameResolver(tx),
  }
  const shown = (name: string): string => {
    if (name === 'id') return String(record.id)
    if (name === 'name') return record.name
    const field = model.fields.find((candidate) => candidate.name === name)
    return field ? (displayValue(field, record.values[name], display) ?? '') : ''
  }
  // split() with a capture group: the field names land at the odd positions.
  const parts = template.split(PLACEHOLDER)
  const text = parts
    .map((part, i) =>
      i % 2 === 0 ? escapeHtml(part) : escapeHtml(shown(part)).replace(MENTION_AT, '@\u2060'),
    )
    .join('')
  return `<p>${text.replace(/\n/g, '<br>')}</p>`
}

/** An "@" where a mention could start (chatter/mentions.ts): not inside an address. */
const MENTION_AT = /(?<![\p{L}\p{N}@._-])@/gu

export const PLACEHOLDER = /\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/
