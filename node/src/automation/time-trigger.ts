import { localDate, shiftByDays, startOfDay } from '../activities/dates.ts'
import type { Tx } from '../db/client.ts'
import { once } from '../db/raw.ts'
import type { Model } from '../models/registry.ts'
import type { Trigger } from './schema.ts'

export type TimeTrigger = Extract<Trigger, { kind: 'time' }>

/** One (record, time value) whose moment came for a time-based rule. */
export type Due = {
  recordId: number
  /** The value as it is keyed in automation_firings: once per rule, record and value. */
  value: string
  dueAt: number
}

/** Where a page of candidates ended: the next page starts after this (sort value, row id). */
export type Cursor = { sort: string | number; id: number }

const MINUTE_MS = 60_000
const DAY_MS = 86_400_000
/** The range of instants a datetime value can hold (years 0000–9999): bounds are kept inside it. */
const EARLIEST = Date.UTC(0, 0, 1) - DAY_MS
const LATEST = Date.UTC(9999, 11, 31, 23, 59, 59, 999)

/**
 * When a value falls due: the trigger's offset after (negative: before) the instant it stands for.
 * Minutes and hours are lengths of time; days are days on the zone's calendar, so "1 day after" a
 * 09:00 deadline is 09:00 the next day, across a change to or from summer time too.
 */
export function dueAt(trigger: TimeTrigger, instant: number): number {
  if (trigger.unit === 'days') return shiftByDays(instant, trigger.offset, zoneOf(trigger))
  return instant + trigger.offset * (trigger.unit === 'hours' ? 60 : 1) * MINUTE_MS
}

function zoneOf(trigger: TimeTrigger): string {
  return trigger.timeZone ?? 'UTC'
}

type Source = {
  /** Rows of (recordId, sort, key) in the bounds, ordered by sort then id, not yet fired for the rule. */
  sql: string
  /** The bounds of `sort` for instants in [lo, hi]. */
  bounds: (lo: number, hi: number) => [string | number, string | number]
  /** The instant a sort value stands for. */
  instant: (sort: string | number) => number
}

const notFired = (record: string, key: string) =>
  `not exists (select 1 from automation_firings f where f.rule_id = @ruleId and f.record_id = ${record} and f.value = ${key})`

/** Where a trigger's values are read, by the kind of field it counts from. */
function sourceOf(trigger: TimeTrigger, model: Model): Source {
  const zone = zoneOf(trigger)
  const page = (sort: string, id: string) =>
    `and (${sort} > @afterSort or (${sort} = @afterSort and ${id} > @afterId)) order by ${sort}, ${id} limit @limit`
  if (trigger.field === 'createdAt' || trigger.field === 'updatedAt') {
    const column = trigger.field === 'createdAt' ? 'created_at' : 'updated_at'
    return {
      sql: `select id as recordId, ${column} as sort, id, cast(${column} as text) as key from records
        where model_id = @modelId and archived_at is null and ${column} between @lo and @hi
        and ${notFired('records.id', `cast(${column} as text)`)} ${page(column, 'id')}`,
      bounds: (lo, hi) => [lo, hi],
      instant: (sort) => Number(sort),
    }
  }
  if (trigger.field === 'activityDeadline')
    return {
      sql: `select a.record_id as recordId, a.deadline as sort, a.id as id, a.id || '@' || a.deadline as key
        from activities a join records r on r.id = a.record_id
        where r.model_id = @modelId and r.archived_at is null and a.status = 'open' and a.deadline between @lo and @hi
        and ${notFired('a.record_id', `a.id || '@' || a.deadline`)} ${page('a.deadline', 'a.id')}`,
      bounds: (lo, hi) => [localDate(lo, zone), localDate(hi, zone)],
      instant: (sort) => startOfDay(String(sort), zone),
    }
  const type = model.fields.find((field) => field.name === trigger.field)?.type
  const value = `json_extract("values", '$.${trigger.field}')`
  return {
    sql: `select id as recordId, ${value} as sort, id, ${value} as key from records
      where model_id = @modelId and archived_at is null and ${value} between @lo and @hi
      and ${notFired('records.id', value)} ${page(value, 'id')}`,
    // A date is its midnight in the zone; a datetime is stored as UTC ISO text, which sorts as time does.
    bounds: (lo, hi) =>
      type === 'date'
        ? [localDate(lo, zone), localDate(hi, zone)]
        : [new Date(lo).toISOString(), new Date(hi).toISOString()],
    instant: (sort) => (type === 'date' ? startOfDay(String(sort), zone) : Date.parse(String(sort))),
  }
}

/**
 * A page of what falls due for a time-based rule in (from, to] and has not fired yet, in the order of
 * its values. The database is asked for values a day either side of the window (days on a calendar
 * are not all 24 hours long), and the exact moment is worked out here; `next` is where the following
 * page starts, or null at the end.
 */
export function dueCandidates(
  tx: Tx,
  input: {
    ruleId: number
    trigger: TimeTrigger
    model: Model
    from: number
    to: number
    after: Cursor | null
    limit: number
  },
): { items: Due[]; next: Cursor | null } {
  const { trigger } = input
  const source = sourceOf(trigger, input.model)
  // The value that falls due at an instant t is about t minus the offset.
  const shift =
    trigger.offset * (trigger.unit === 'days' ? DAY_MS : trigger.unit === 'hours' ? 3_600_000 : MINUTE_MS)
  const clamp = (instant: number) => Math.min(LATEST, Math.max(EARLIEST, instant))
  const [lo, hi] = source.bounds(clamp(input.from - shift - DAY_MS), clamp(input.to - shift + DAY_MS))
  const rows = once(tx, `automation.due:${source.sql}`, (sqlite) => sqlite.prepare(source.sql)).all({
    ruleId: input.ruleId,
    modelId: input.model.id,
    lo,
    hi,
    // Before every value: numbers sort before text in SQLite, so -Infinity's stand-in works for both.
    afterSort: input.after?.sort ?? -1e300,
    afterId: input.after?.id ?? 0,
    limit: input.limit,
  }) as { recordId: number; sort: string | number; id: number; key: string }[]
  const items: Due[] = []
  for (const row of rows) {
    const instant = source.instant(row.sort)
    if (Number.isNaN(instant)) continue
    const due = dueAt(trigger, instant)
    if (due > input.from && due <= input.to)
      items.push({ recordId: row.recordId, value: row.key, dueAt: due })
  }
  const last = rows.at(-1)
  return { items, next: rows.length < input.limit || !last ? null : { sort: last.sort, id: last.id } }
}
