import { plainText } from '../chatter/body.ts'
import { addDays } from './dates.ts'
import type { ActivityDetail } from './repository.ts'

/**
 * The per-user calendar feed of open calls and meetings, written by hand to RFC 5545: CRLF line ends
 * (3.1), lines folded at 75 octets without splitting a UTF-8 character (3.1), TEXT values escaped
 * (3.3.11), one VEVENT per activity with a UID that stays the same across fetches so calendar apps
 * update an event instead of duplicating it. An activity with a start time is a timed event in UTC;
 * one without is an all-day event on its deadline (DATE values, DTEND exclusive).
 */

const CRLF = '\r\n'
const MAX_OCTETS = 75
/** Calls and meetings without a duration show as half an hour. */
const DEFAULT_DURATION_MINUTES = 30

/** TEXT escaping (RFC 5545 3.3.11): backslash, semicolon, comma, and line breaks as `\n`. */
export function escapeText(text: string): string {
  return text
    .replace(/\\/g, '\\\\')
    .replace(/;/g, '\\;')
    .replace(/,/g, '\\,')
    .replace(/\r\n|\r|\n/g, '\\n')
}

/** Folds a content line: at most 75 octets per line, continuation lines start with one space. */
export function foldLine(line: string): string {
  const out: string[] = []
  let current = ''
  let octets = 0
  for (const char of line) {
    const size = Buffer.byteLength(char, 'utf8')
    if (octets + size > MAX_OCTETS) {
      out.push(current)
      current = ' '
      octets = 1
    }
    current += char
    octets += size
  }
  out.push(current)
  return out.join(CRLF)
}

const pad = (value: number) => String(value).padStart(2, '0')

/** UTC date-time form (RFC 5545 3.3.5, form 2): 20260310T080000Z. */
function utcDateTime(epochMs: number): string {
  const d = new Date(epochMs)
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}T${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`
}

/** The note as plain text, one line per paragraph, list item or line break. */
function noteText(html: string): string {
  return html
    .split(/<\/(?:p|li|h3|h4|pre|blockquote)>|<br\s*\/?>/i)
    .map(plainText)
    .filter(Boolean)
    .join('\n')
}

const dateValue = (date: string) => date.replaceAll('-', '')

export function icalFeed(input: {
  events: ActivityDetail[]
  /** Calendar name shown by calendar apps. */
  name: string
  publicUrl: string
}): string {
  const host = new URL(input.publicUrl).host
  const lines = [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    "PRODID:-//O'Chat//Activities//EN",
    'CALSCALE:GREGORIAN',
    'METHOD:PUBLISH',
    `X-WR-CALNAME:${escapeText(input.name)}`,
  ]
  for (const { activity, type, record } of input.events) {
    const title = activity.summary ?? type.name
    const link = `${input.publicUrl}/#/records/${record.id}`
    const note = noteText(activity.note)
    lines.push(
      'BEGIN:VEVENT',
      `UID:activity-${activity.id}@${host}`,
      `DTSTAMP:${utcDateTime(activity.updatedAt)}`,
    )
    if (activity.startsAt !== null) {
      const minutes = activity.durationMinutes ?? DEFAULT_DURATION_MINUTES
      lines.push(
        `DTSTART:${utcDateTime(activity.startsAt)}`,
        `DTEND:${utcDateTime(activity.startsAt + minutes * 60_000)}`,
      )
    } else
      lines.push(
        `DTSTART;VALUE=DATE:${dateValue(activity.deadline)}`,
        `DTEND;VALUE=DATE:${dateValue(addDays(activity.deadline, 1))}`,
      )
    lines.push(
      `SUMMARY:${escapeText(`${type.name}: ${title} (${record.name})`)}`,
      `DESCRIPTION:${escapeText(note ? `${note}\n\n${link}` : link)}`,
      `URL:${link}`,
      'END:VEVENT',
    )
  }
  lines.push('END:VCALENDAR')
  return lines.map(foldLine).join(CRLF) + CRLF
}
