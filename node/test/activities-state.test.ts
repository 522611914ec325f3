import t from 'tap'
import { addDelay, shiftByDays } from '../src/activities/dates.ts'
import { activityState, worstState } from '../src/activities/state.ts'
import { buildNode, buildRecord, buildUser } from './helpers.ts'

const at = (iso: string) => Date.parse(iso)

t.test("the state follows the assignee's midnight at the extreme time zones", async (t) => {
  // Pacific/Kiritimati is UTC+14: its 10 March starts at 2026-03-09T10:00Z and ends at 2026-03-10T10:00Z.
  const kiritimati = (iso: string) => activityState('2026-03-10', at(iso), 'Pacific/Kiritimati')
  t.equal(kiritimati('2026-03-09T09:59:59Z'), 'planned')
  t.equal(kiritimati('2026-03-09T10:00:00Z'), 'today')
  t.equal(kiritimati('2026-03-10T09:59:59Z'), 'today')
  t.equal(kiritimati('2026-03-10T10:00:00Z'), 'overdue')
  // Etc/GMT+12 is UTC−12 (POSIX signs are inverted): its 10 March is 2026-03-10T12:00Z to 2026-03-11T12:00Z.
  const bakerIsland = (iso: string) => activityState('2026-03-10', at(iso), 'Etc/GMT+12')
  t.equal(bakerIsland('2026-03-10T11:59:59Z'), 'planned')
  t.equal(bakerIsland('2026-03-10T12:00:00Z'), 'today')
  t.equal(bakerIsland('2026-03-11T11:59:59Z'), 'today')
  t.equal(bakerIsland('2026-03-11T12:00:00Z'), 'overdue')
  // One instant, three answers: it depends on whose deadline it is.
  const instant = at('2026-03-10T11:00:00Z')
  t.same(
    ['Pacific/Kiritimati', 'UTC', 'Etc/GMT+12'].map((zone) => activityState('2026-03-10', instant, zone)),
    ['overdue', 'today', 'planned'],
  )
})

t.test('the state is right on the days the clocks change', async (t) => {
  // New York springs forward on 2026-03-08 (UTC−5 → UTC−4): 9 March starts at 04:00Z, not 05:00Z.
  const springNY = (iso: string) => activityState('2026-03-08', at(iso), 'America/New_York')
  t.equal(springNY('2026-03-08T04:59:59Z'), 'planned', '23:59:59 on 7 March, still EST')
  t.equal(springNY('2026-03-08T05:00:00Z'), 'today')
  t.equal(springNY('2026-03-09T03:59:59Z'), 'today')
  t.equal(springNY('2026-03-09T04:00:00Z'), 'overdue', 'midnight EDT; a fixed UTC−5 would still say today')
  // New York falls back on 2026-11-01 (UTC−4 → UTC−5): 1 November is 25 hours long.
  const fallNY = (iso: string) => activityState('2026-11-01', at(iso), 'America/New_York')
  t.equal(fallNY('2026-11-01T03:59:59Z'), 'planned')
  t.equal(fallNY('2026-11-01T04:00:00Z'), 'today')
  t.equal(fallNY('2026-11-02T04:30:00Z'), 'today', '23:30 EST; a fixed UTC−4 would say overdue')
  t.equal(fallNY('2026-11-02T05:00:00Z'), 'overdue')
  // Brussels: summer time from 2026-03-29, winter time from 2026-10-25.
  const spring = (iso: string) => activityState('2026-03-29', at(iso), 'Europe/Brussels')
  t.equal(spring('2026-03-28T22:59:59Z'), 'planned', '23:59:59 CET')
  t.equal(spring('2026-03-28T23:00:00Z'), 'today')
  t.equal(spring('2026-03-29T21:59:59Z'), 'today', '23:59:59 CEST')
  t.equal(spring('2026-03-29T22:00:00Z'), 'overdue')
  const autumn = (iso: string) => activityState('2026-10-25', at(iso), 'Europe/Brussels')
  t.equal(autumn('2026-10-24T21:59:59Z'), 'planned')
  t.equal(autumn('2026-10-24T22:00:00Z'), 'today')
  t.equal(autumn('2026-10-25T22:30:00Z'), 'today', '23:30 CET; a fixed UTC+2 would say overdue')
  t.equal(autumn('2026-10-25T23:00:00Z'), 'overdue')
})

t.test('delays and start-time shifts', async (t) => {
  t.equal(addDelay('2026-01-31', 1, 'months'), '2026-02-28', 'the last day of a shorter month')
  t.equal(addDelay('2028-01-31', 1, 'months'), '2028-02-29', 'leap year')
  t.equal(addDelay('2026-11-15', 3, 'months'), '2027-02-15')
  t.equal(addDelay('2026-12-29', 1, 'weeks'), '2027-01-05')
  t.equal(addDelay('2026-03-07', 2, 'days'), '2026-03-09', 'days are calendar days, DST or not')
  // 09:00 in New York on 7 March (EST) → 09:00 on 9 March (EDT).
  t.equal(
    new Date(shiftByDays(at('2026-03-07T14:00:00Z'), 2, 'America/New_York')).toISOString(),
    '2026-03-09T13:00:00.000Z',
  )
  t.equal(worstState(['planned', 'today', 'planned']), 'today')
  t.equal(worstState(['planned', 'overdue', 'today']), 'overdue')
  t.equal(worstState([]), null)
})

t.test("a record shows the worst state of its activities, each in its assignee's time zone", async (t) => {
  const node = await buildNode(t)
  node.clock.set(at('2026-03-09T11:00:00Z'))
  const sarah = await buildUser(node, { name: 'Sarah', timeZone: 'UTC' })
  const kiri = await buildUser(node, { name: 'Kiri', timeZone: 'Pacific/Kiritimati' }) // 10 March, 01:00
  const baker = await buildUser(node, { name: 'Baker', timeZone: 'Etc/GMT+12' }) // 8 March, 23:00
  const lead = await buildRecord(sarah)

  // Default deadlines are the assignee's today + 5 days (To Do), not the scheduler's.
  const forKiri = await sarah.call('POST', `/api/v1/records/${lead.id}/activities`, {
    type: 'todo',
    assigneeId: kiri.userId,
  })
  const forBaker = await sarah.call('POST', `/api/v1/records/${lead.id}/activities`, {
    type: 'todo',
    assigneeId: baker.userId,
  })
  t.equal(forKiri.body.deadline, '2026-03-15')
  t.equal(forBaker.body.deadline, '2026-03-13')

  // Both due on 9 March: overdue for Kiri (already the 10th there), planned for Baker (still the 8th).
  for (const activity of [forKiri, forBaker])
    await sarah.call('PATCH', `/api/v1/activities/${activity.body.id}`, { deadline: '2026-03-09' })
  const list = async () => (await sarah.call('GET', `/api/v1/records/${lead.id}/activities`)).body
  let view = await list()
  t.same(
    view.items.map((item: { assignee: { name: string }; state: string }) => [item.assignee.name, item.state]),
    [
      ['Kiri', 'overdue'],
      ['Baker', 'planned'],
    ],
  )
  t.equal(view.state, 'overdue', 'the worst one wins')
  t.equal((await sarah.call('GET', `/api/v1/records/${lead.id}`)).body.activityState, 'overdue')
  const quiet = await buildRecord(sarah)
  const listed = await sarah.call('GET', '/api/v1/models/lead/records')
  t.same(
    listed.body.items.map((record: { id: number; activityState?: string }) => [
      record.id,
      record.activityState,
    ]),
    [
      [quiet.id, undefined],
      [lead.id, 'overdue'],
    ],
    'a list of records shows the worst state of each (none without open activities)',
  )

  await sarah.call('POST', `/api/v1/activities/${forKiri.body.id}/cancel`)
  view = await list()
  t.equal(view.state, 'planned')
  node.clock.set(at('2026-03-09T12:00:00Z')) // midnight in Etc/GMT+12: now the 9th there too
  view = await list()
  t.equal(view.state, 'today')
  node.clock.advance(24 * 3_600_000)
  t.equal((await list()).state, 'overdue')
})
