import { h } from '../dom.js'

const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' })
const clockFormat = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' })
const weekdayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long' })
const dayFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full' })
const shortDateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' })

const MINUTE_MS = 60_000
const HOUR_MS = 60 * MINUTE_MS

/** Epoch ms → the full date and time with seconds, for a tooltip. */
export function fullTime(ms) {
  return fullFormat.format(new Date(ms))
}

/** Midnight (local) of the day of `ms`, as epoch ms: the key of a day separator. */
export function dayStart(ms) {
  const date = new Date(ms)
  date.setHours(0, 0, 0, 0)
  return date.getTime()
}

/** Whole local days from `ms` to `nowMs` (0: today, 1: yesterday). */
function daysAgo(ms, nowMs) {
  return Math.round((dayStart(nowMs) - dayStart(ms)) / (24 * HOUR_MS))
}

/**
 * Epoch ms → how long ago, as people say it: "just now", "5 min ago", "3 h ago" today; "yesterday,
 * 14:05"; a weekday in the last week; a date before that. Future moments (a next attempt): "in 2 min".
 */
export function relativeTime(ms, nowMs = Date.now()) {
  const delta = nowMs - ms
  if (delta < 0) {
    const ahead = -delta
    if (ahead < MINUTE_MS) return 'in less than a minute'
    if (ahead < HOUR_MS) return `in ${Math.round(ahead / MINUTE_MS)} min`
    return `at ${clockFormat.format(new Date(ms))}`
  }
  if (delta < MINUTE_MS) return 'just now'
  if (delta < HOUR_MS) return `${Math.floor(delta / MINUTE_MS)} min ago`
  const days = daysAgo(ms, nowMs)
  if (days === 0) return `${Math.floor(delta / HOUR_MS)} h ago`
  if (days === 1) return `yesterday, ${clockFormat.format(new Date(ms))}`
  if (days < 7) return `${weekdayFormat.format(new Date(ms))}, ${clockFormat.format(new Date(ms))}`
  return shortDateFormat.format(new Date(ms))
}

/** A day separator's words: "Today", "Yesterday", or the full date. */
export function dayLabel(ms, nowMs = Date.now()) {
  const days = daysAgo(ms, nowMs)
  if (days === 0) return 'Today'
  if (days === 1) return 'Yesterday'
  return dayFormat.format(new Date(ms))
}

/** A `<time>` showing the relative time, the full date in its tooltip; kept current by `keepTimesFresh`. */
export function timeView(ms, className = 'muted') {
  return h('time', {
    class: ['ochat-time', className],
    dateTime: new Date(ms).toISOString(),
    title: fullTime(ms),
    text: relativeTime(ms),
    dataset: { at: String(ms) },
  })
}

/** One row of a thread between two days' messages. */
export function daySeparator(ms) {
  return h(
    'li',
    // A plain list item: a list may hold only items, so the separator role would break the list.
    { class: 'day-separator', dataset: { day: String(dayStart(ms)) } },
    h('span', { class: 'day-label', text: dayLabel(ms), title: dayFormat.format(new Date(ms)) }),
  )
}

/**
 * Rewrites the relative times (and day labels) under `root` every minute, so "just now" does not stay
 * "just now". Answers the function that stops it.
 */
export function keepTimesFresh(root) {
  const timer = setInterval(() => {
    for (const el of root.querySelectorAll('time.ochat-time[data-at]'))
      el.textContent = relativeTime(Number(el.dataset.at))
    for (const el of root.querySelectorAll('.day-separator[data-day] .day-label'))
      el.textContent = dayLabel(Number(el.closest('.day-separator').dataset.day))
  }, MINUTE_MS)
  return () => clearInterval(timer)
}
