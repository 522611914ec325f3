import { h } from '../dom.js'

const MINUTE_MS = 60_000
const HOUR_MS = 60 * MINUTE_MS
const DAY_MS = 24 * HOUR_MS
/** Up to this age a message says how long ago it was; older ones show their date and time. */
const RELATIVE_FOR_MS = 12 * HOUR_MS

const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short' })
const clockFormat = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' })
const dayFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full' })

/** Midnight of the day `ms` falls on, in the browser's zone. */
function dayStart(ms) {
  const date = new Date(ms)
  date.setHours(0, 0, 0, 0)
  return date.getTime()
}

/**
 * "just now", "5 min ago", "3 h ago" for recent times; after that the time of day only, as the
 * day's separator above the message already says which day.
 */
export function relativeTime(ms, now = Date.now()) {
  const age = now - ms
  if (age < MINUTE_MS) return 'just now'
  if (age < HOUR_MS) return `${Math.floor(age / MINUTE_MS)} min ago`
  if (age < RELATIVE_FOR_MS) return `${Math.floor(age / HOUR_MS)} h ago`
  return clockFormat.format(ms)
}

/** A message's time: relative, with the full date and time on hover; kept fresh by `refreshTimes`. */
export function messageTime(ms) {
  return h('time', {
    class: 'muted message-time',
    dateTime: new Date(ms).toISOString(),
    title: fullFormat.format(ms),
    text: relativeTime(ms),
  })
}

/** Rewrites the relative times under `root` (a minute later, "just now" is "1 min ago"). */
export function refreshTimes(root) {
  const now = Date.now()
  for (const time of root.querySelectorAll('time.message-time'))
    time.textContent = relativeTime(Date.parse(time.dateTime), now)
}

/** The key of the day `ms` falls on, to tell when the next message starts another day. */
export function dayOf(ms) {
  return dayStart(ms)
}

/** "Today", "Yesterday" or "Monday, November 23, 2026": the line between two days' messages. */
export function daySeparator(day, now = Date.now()) {
  const today = dayStart(now)
  // Days are not all 24 h long (daylight saving): yesterday is the day of an instant in it.
  const label =
    day === today ? 'Today' : day === dayStart(today - DAY_MS / 2) ? 'Yesterday' : dayFormat.format(day)
  return h('li', { class: 'day-separator' }, h('span', { text: label }))
}
