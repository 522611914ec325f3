import t from 'tap'
import { escapeText, foldLine } from '../src/activities/ical.ts'
import { buildNode, buildRecord, buildUser, type TestNode } from './helpers.ts'

/** RFC 5545 unfolding: a CRLF followed by one space or tab is removed. */
const unfold = (text: string) => text.replace(/\r\n[ \t]/g, '')

/** The properties of each VEVENT, unescaped back to text where the value is TEXT. */
function events(text: string): Map<string, string>[] {
  const found: Map<string, string>[] = []
  let current: Map<string, string> | undefined
  for (const line of unfold(text).split('\r\n')) {
    if (line === 'BEGIN:VEVENT') current = new Map()
    else if (line === 'END:VEVENT' && current) {
      found.push(current)
      current = undefined
    } else if (current) {
      const colon = line.indexOf(':')
      current.set(line.slice(0, colon), line.slice(colon + 1))
    }
  }
  return found
}

const unescapeText = (value: string) =>
  value.replace(/\\([\\;,nN])/g, (_, char: string) => (char === 'n' || char === 'N' ? '\n' : char))

async function feed(node: TestNode, token: string) {
  return node.app.inject({ method: 'GET', url: `/ical/${token}.ics` })
}

const tokenOf = (node: TestNode, userId: number) =>
  (
    node.database.sqlite.prepare('select ical_token from users where id = ?').get(userId) as {
      ical_token: string
    }
  ).ical_token

t.test("a user's calendar feed lists their open calls and meetings, escaped and folded", async (t) => {
  const node = await buildNode(t) // 2026-11-25T10:00Z
  const sarah = await buildUser(node, { name: 'Sarah', timeZone: 'Europe/Brussels' })
  const john = await buildUser(node, { name: 'John' })
  const lead = await buildRecord(sarah, 'lead', { name: 'Acme; Inc, "big"' })
  const schedule = (body: Record<string, unknown>) =>
    sarah.call('POST', `/api/v1/records/${lead.id}/activities`, body)
  const timed = await schedule({
    type: 'meeting',
    summary: 'Kick-off, part 1; bring C:\\slides',
    note: 'Agenda:\n\n- prices\n- dates',
    startsAt: '2026-12-01T09:30:00+01:00',
    durationMinutes: 90,
  })
  t.equal(timed.status, 201)
  const longSummary = `Appel téléphonique très important ${'é'.repeat(40)}`
  const allDay = await schedule({ type: 'call', summary: longSummary, deadline: '2026-12-03' })
  await schedule({ type: 'todo', summary: 'not an event' })
  const done = await schedule({ type: 'call', summary: 'already done' })
  await sarah.call('POST', `/api/v1/activities/${done.body.id}/done`)
  await schedule({ type: 'call', summary: "John's call", assigneeId: john.userId })

  const response = await feed(node, tokenOf(node, sarah.userId))
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /^text\/calendar; charset=utf-8/)
  const text = response.body
  t.ok(text.endsWith('\r\n'), 'ends with CRLF')
  t.notMatch(text.replace(/\r\n/g, ''), /[\r\n]/, 'every line ends with CRLF, no bare LF or CR')
  for (const line of text.split('\r\n'))
    t.ok(Buffer.byteLength(line, 'utf8') <= 75, `at most 75 octets: ${line.slice(0, 30)}…`)
  t.match(text, /^BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:/)
  t.ok(text.endsWith('END:VCALENDAR\r\n'))

  const found = events(text)
  t.equal(found.length, 2, 'the open call and meeting of Sarah only')
  const [meeting, call] = found
  t.equal(meeting?.get('UID'), `activity-${timed.body.id}@127.0.0.1:0`)
  t.equal(meeting?.get('DTSTART'), '20261201T083000Z')
  t.equal(meeting?.get('DTEND'), '20261201T100000Z')
  t.equal(
    meeting?.get('SUMMARY'),
    'Meeting: Kick-off\\, part 1\\; bring C:\\\\slides (Acme\\; Inc\\, "big")',
    'commas, semicolons and backslashes escaped',
  )
  t.equal(
    unescapeText(meeting?.get('SUMMARY') ?? ''),
    'Meeting: Kick-off, part 1; bring C:\\slides (Acme; Inc, "big")',
  )
  t.match(meeting?.get('DESCRIPTION') ?? '', /^Agenda:\\nprices\\ndates\\n\\nhttp/)
  t.equal(call?.get('DTSTART;VALUE=DATE'), '20261203', 'no start time: an all-day event')
  t.equal(call?.get('DTEND;VALUE=DATE'), '20261204')
  t.equal(
    unescapeText(call?.get('SUMMARY') ?? ''),
    `Call: ${longSummary} (Acme; Inc, "big")`,
    'folded, then whole again',
  )

  // Rescheduling changes the event, not its identity.
  await sarah.call('PATCH', `/api/v1/activities/${allDay.body.id}`, { deadline: '2026-12-04' })
  const again = events((await feed(node, tokenOf(node, sarah.userId))).body)
  t.equal(again[1]?.get('UID'), call?.get('UID'))
  t.equal(again[1]?.get('DTSTART;VALUE=DATE'), '20261204')

  const unknown = await feed(node, 'not-a-token')
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().error.code, 'E_NOT_FOUND')
})

t.test('escaping and folding by the letter of RFC 5545', async (t) => {
  t.equal(escapeText('a,b;c\\d\ne\r\nf'), 'a\\,b\\;c\\\\d\\ne\\nf')
  const line = `SUMMARY:${'x'.repeat(200)}`
  const folded = foldLine(line).split('\r\n')
  t.same(
    folded.map((part) => part.length),
    [75, 75, 60],
    '8 + 200 octets: 75, then a space and 74, then a space and the last 59',
  )
  t.ok(folded.slice(1).every((part) => part.startsWith(' ')))
  // A 2-octet character never straddles a fold.
  const accents = foldLine(`X:${'é'.repeat(100)}`).split('\r\n')
  for (const part of accents) t.ok(Buffer.byteLength(part) <= 75)
  t.equal(unfold(accents.join('\r\n')), `X:${'é'.repeat(100)}`)
})

t.test(
  'a user reads their calendar URL and rotates it when it leaked; the old URL stops at once',
  async (t) => {
    const node = await buildNode(t)
    const ann = await buildUser(node)
    const mine = await ann.call('GET', '/api/v1/my/calendar')
    t.equal(mine.status, 200)
    t.match(mine.body.url, /^http:\/\/127\.0\.0\.1:0\/ical\/[A-Za-z0-9_-]{20,}\.ics$/)
    const path = new URL(mine.body.url).pathname
    t.equal((await node.app.inject({ method: 'GET', url: path })).statusCode, 200)
    const rotated = await ann.call('POST', '/api/v1/my/calendar/rotate')
    t.equal(rotated.status, 200)
    t.not(rotated.body.url, mine.body.url)
    t.equal((await node.app.inject({ method: 'GET', url: path })).statusCode, 404, 'the leaked URL is dead')
    t.equal(
      (await node.app.inject({ method: 'GET', url: new URL(rotated.body.url).pathname })).statusCode,
      200,
    )
  },
)
