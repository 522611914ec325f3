/**
 * Calendar arithmetic for activities. A deadline is a date without a time (`YYYY-MM-DD`), and "today"
 * is always the date on the assignee's wall clock, never the server's or the viewer's, or a deadline
 * shows overdue a day early or late in other time zones. Dates are computed on
 * UTC midnights, so adding days never meets a DST change.
 */

const DAY_MS = 86_400_000

/** Intl formatters are slow to build (tens of µs) and there are few time zones: one per zone. */
const formatters = new Map<string, Intl.DateTimeFormat>()
function formatter(timeZone: string): Intl.DateTimeFormat {
  let cached = formatters.get(timeZone)
  if (!cached) {
    cached = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    })
    formatters.set(timeZone, cached)
  }
  return cached
}

type WallClock = { year: number; month: number; day: number; hour: number; minute: number; second: number }

/** The wall-clock reading in a time zone at an instant. */
function wallClock(epochMs: number, timeZone: string): WallClock {
  const parts: Record<string, number> = {}
  for (const part of formatter(timeZone).formatToParts(epochMs))
    if (part.type !== 'literal') parts[part.type] = Number(part.value)
  return {
    year: parts.year ?? 1970,
    month: parts.month ?? 1,
    day: parts.day ?? 1,
    hour: parts.hour ?? 0,
    minute: parts.minute ?? 0,
    second: parts.second ?? 0,
  }
}

const pad = (value: number, width = 2) => String(value).padStart(width, '0')

function formatDate(year: number, month: number, day: number): string {
  return `${pad(year, 4)}-${pad(month)}-${pad(day)}`
}

function parseDate(date: string): { year: number; month: number; day: number } {
  const [year, month, day] = date.split('-').map(Number)
  return { year: year ?? 1970, month: month ?? 1, day: day ?? 1 }
}

/** True for a real calendar date written `YYYY-MM-DD` (2026-02-30 is not one). */
export function isCalendarDate(date: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) return false
  const { year, month, day } = parseDate(date)
  const utc = new Date(Date.UTC(year, month - 1, day))
  return utc.getUTCFullYear() === year && utc.getUTCMonth() === month - 1 && utc.getUTCDate() === day
}

/** The date (`YYYY-MM-DD`) and hour (0-23) on the wall clock of `timeZone` at an instant. */
export function localDateAndHour(epochMs: number, timeZone: string): { date: string; hour: number } {
  const clock = wallClock(epochMs, timeZone)
  return { date: formatDate(clock.year, clock.month, clock.day), hour: clock.hour }
}

/** The date on the wall clock of `timeZone` at `epochMs`, as `YYYY-MM-DD`. */
export function localDate(epochMs: number, timeZone: string): string {
  const clock = wallClock(epochMs, timeZone)
  return formatDate(clock.year, clock.month, clock.day)
}

export function addDays(date: string, days: number): string {
  const { year, month, day } = parseDate(date)
  return new Date(Date.UTC(year, month - 1, day + days)).toISOString().slice(0, 10)
}

/** Months keep the day of the month when it exists, else the month's last day (Jan 31 + 1 → Feb 28). */
export function addMonths(date: string, months: number): string {
  const { year, month, day } = parseDate(date)
  const firstOfTarget = new Date(Date.UTC(year, month - 1 + months, 1))
  const lastDay = new Date(
    Date.UTC(firstOfTarget.getUTCFullYear(), firstOfTarget.getUTCMonth() + 1, 0),
  ).getUTCDate()
  return formatDate(firstOfTarget.getUTCFullYear(), firstOfTarget.getUTCMonth() + 1, Math.min(day, lastDay))
}

/** An activity type's delay added to a date. */
export function addDelay(date: string, count: number, unit: 'days' | 'weeks' | 'months'): string {
  if (unit === 'months') return addMonths(date, count)
  return addDays(date, unit === 'weeks' ? count * 7 : count)
}

/** The later of two `YYYY-MM-DD` dates (as strings they sort like dates). */
export function laterDate(a: string, b: string): string {
  return a < b ? b : a
}

/** Whole days from `from` to `to` (negative when `to` is earlier). */
export function daysBetween(from: string, to: string): number {
  const a = parseDate(from)
  const b = parseDate(to)
  return Math.round((Date.UTC(b.year, b.month - 1, b.day) - Date.UTC(a.year, a.month - 1, a.day)) / DAY_MS)
}

/** The instant at which the wall clock of `timeZone` reads `clock` (a time skipped by DST moves forward). */
function instantOf(clock: WallClock, timeZone: string): number {
  const asUtc = Date.UTC(clock.year, clock.month - 1, clock.day, clock.hour, clock.minute, clock.second)
  const offsetAt = (instant: number) => {
    const seen = wallClock(instant, timeZone)
    return Date.UTC(seen.year, seen.month - 1, seen.day, seen.hour, seen.minute, seen.second) - instant
  }
  const first = asUtc - offsetAt(asUtc)
  const second = asUtc - offsetAt(first)
  return second === first ? first : Math.max(first, second)
}

/**
 * Moves a start time by whole days on the assignee's wall clock: a 09:00 meeting moved over a DST
 * change still starts at 09:00 local time, not at 08:00 or 10:00.
 */
export function shiftByDays(epochMs: number, days: number, timeZone: string): number {
  if (days === 0) return epochMs
  const clock = wallClock(epochMs, timeZone)
  const moved = parseDate(addDays(formatDate(clock.year, clock.month, clock.day), days))
  return instantOf({ ...clock, ...moved }, timeZone) + (epochMs % 1000)
}

/** The instant a date begins on the wall clock of `timeZone` (its midnight, or the first hour after a DST gap). */
export function startOfDay(date: string, timeZone: string): number {
  return instantOf({ ...parseDate(date), hour: 0, minute: 0, second: 0 }, timeZone)
}
