import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ManualClock } from '@ochat/shared-protocol/server'
import t from 'tap'
import { type Actor, buildNode, buildRecord, buildUser, type TestNode } from './helpers.ts'

/**
 * Time-based rules as a helpdesk uses them: "an hour before the SLA deadline, warn the team", "a day
 * after it, escalate". The scheduler looks every minute (here: `tick()` on a fake clock); each
 * (rule, record, value) fires once, across a change to summer time, a value moved and moved back, and
 * a restart after downtime.
 */

const MINUTE = 60_000
const HOUR = 60 * MINUTE

async function scene(t: Parameters<typeof buildNode>[0], options: Parameters<typeof buildNode>[1] = {}) {
  const node = await buildNode(t, options)
  const admin = await buildUser(node, { name: 'Ada Admin', role: 'admin' })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  return { node, admin, sarah }
}

async function rule(admin: Actor, body: Record<string, unknown>) {
  const created = await admin.call('POST', '/api/v1/automation-rules', {
    model: 'ticket',
    actions: [{ type: 'post_message', kind: 'note', body: 'Reminder for {{name}}' }],
    ...body,
  })
  if (created.status !== 201) throw new Error(`rule refused: ${JSON.stringify(created.body)}`)
  return created.body as { id: number; trigger: Record<string, unknown> }
}

/** The reminders a record got, by their text. */
function reminders(node: TestNode, recordId: number): string[] {
  const rows = node.database.sqlite
    .prepare("select body from messages where record_id = ? and kind = 'note' order by id")
    .all(recordId) as { body: string }[]
  return rows.map((row) => row.body)
}

t.test('an hour before a ticket’s SLA deadline: once, at that minute, not before', async (t) => {
  const { node, admin, sarah } = await scene(t)
  const warn = await rule(admin, {
    name: 'SLA in an hour',
    trigger: { kind: 'time', field: 'sla_deadline', offset: -1, unit: 'hours' },
    after: { field: 'stage', op: 'ne', value: 'solved' },
  })
  t.equal(warn.trigger.timeZone, 'UTC', 'the zone left out is the author’s')
  // Now is 2026-11-25T10:00Z.
  const late = await buildRecord(sarah, 'ticket', { name: 'Printer', sla_deadline: '2026-11-25T14:00:00Z' })
  const solved = await buildRecord(sarah, 'ticket', {
    name: 'Screen',
    sla_deadline: '2026-11-25T14:00:00Z',
    stage: 'solved',
  })
  const later = await buildRecord(sarah, 'ticket', { name: 'Mouse', sla_deadline: '2026-11-26T14:00:00Z' })
  const none = await buildRecord(sarah, 'ticket', { name: 'No deadline' })

  node.clock.advance(2 * HOUR + 59 * MINUTE)
  await node.automation.tick()
  t.same(reminders(node, late.id), [], 'at 12:59 nothing is due')
  node.clock.advance(MINUTE)
  await node.automation.tick()
  t.same(reminders(node, late.id), ['<p>Reminder for Printer</p>'], 'at 13:00 the reminder is logged')
  t.same(reminders(node, solved.id), [], 'a solved ticket does not meet the condition')
  t.same(reminders(node, later.id), [], 'tomorrow’s deadline is not due')
  t.same(reminders(node, none.id), [], 'a ticket without a deadline never is')

  node.clock.advance(5 * MINUTE)
  await node.automation.tick()
  t.equal(reminders(node, late.id).length, 1, 'the next ticks do not fire it again')

  const runs = (await admin.call('GET', `/api/v1/automation-rules/${warn.id}/runs`)).body.items
  t.match(runs, [{ recordId: late.id, trigger: 'time', outcome: 'done', detail: 'logged a note' }])
  t.equal(runs.length, 1, 'one run logged')
})

t.test('a deadline moved later fires at its new time; moved back to a fired value, not again', async (t) => {
  const { node, admin, sarah } = await scene(t)
  await rule(admin, {
    name: 'At the deadline',
    trigger: { kind: 'time', field: 'sla_deadline', offset: 0, unit: 'minutes' },
  })
  const ticket = await buildRecord(sarah, 'ticket', { name: 'Desk', sla_deadline: '2026-11-25T11:00:00Z' })
  node.clock.advance(30 * MINUTE)
  const moved = await sarah.call('PATCH', `/api/v1/records/${ticket.id}`, {
    version: ticket.version,
    values: { sla_deadline: '2026-11-25T12:00:00Z' },
  })
  t.equal(moved.status, 200)
  node.clock.advance(31 * MINUTE)
  await node.automation.tick()
  t.equal(
    reminders(node, ticket.id).length,
    0,
    'the old deadline passed unnoticed: it is no longer the value',
  )
  node.clock.advance(HOUR)
  await node.automation.tick()
  t.equal(reminders(node, ticket.id).length, 1, 'the new one fires')

  // Back to 12:00 after it fired, the clock moved back as if a second clock had drifted: still once.
  const back = await sarah.call('PATCH', `/api/v1/records/${ticket.id}`, {
    version: moved.body.version,
    values: { sla_deadline: '2026-11-25T13:00:00Z' },
  })
  await sarah.call('PATCH', `/api/v1/records/${ticket.id}`, {
    version: back.body.version,
    values: { sla_deadline: '2026-11-25T12:00:00Z' },
  })
  node.clock.advance(2 * HOUR)
  await node.automation.tick()
  t.equal(reminders(node, ticket.id).length, 1, '(rule, record, 12:00) fired once, whatever came between')
})

t.test('days are calendar days in the rule’s zone, across the change to summer time', async (t) => {
  // Paris goes from +01:00 to +02:00 on 2026-03-29 at 02:00.
  const clock = new ManualClock(Date.parse('2026-03-27T12:00:00Z'))
  const { node, admin, sarah } = await scene(t, { clock })
  await rule(admin, {
    name: 'A day after the deadline',
    trigger: { kind: 'time', field: 'sla_deadline', offset: 1, unit: 'days', timeZone: 'Europe/Paris' },
    actions: [{ type: 'post_message', kind: 'note', body: 'Escalate {{name}}' }],
  })
  await rule(admin, {
    name: '24 hours after the deadline',
    trigger: { kind: 'time', field: 'sla_deadline', offset: 24, unit: 'hours', timeZone: 'Europe/Paris' },
    actions: [{ type: 'post_message', kind: 'note', body: '24 h for {{name}}' }],
  })
  // 09:00 in Paris on the Saturday, winter time.
  const ticket = await buildRecord(sarah, 'ticket', { name: 'Boiler', sla_deadline: '2026-03-28T08:00:00Z' })

  clock.set(Date.parse('2026-03-29T06:59:00Z'))
  await node.automation.tick()
  t.same(reminders(node, ticket.id), [], '08:59 Paris summer time: not yet')
  clock.set(Date.parse('2026-03-29T07:00:00Z'))
  await node.automation.tick()
  t.same(reminders(node, ticket.id), ['<p>Escalate Boiler</p>'], '09:00 Paris the next day: one calendar day')
  clock.set(Date.parse('2026-03-29T07:59:00Z'))
  await node.automation.tick()
  t.equal(reminders(node, ticket.id).length, 1, '24 hours have not passed yet')
  clock.set(Date.parse('2026-03-29T08:00:00Z'))
  await node.automation.tick()
  t.same(
    reminders(node, ticket.id),
    ['<p>Escalate Boiler</p>', '<p>24 h for Boiler</p>'],
    '24 hours: 10:00 Paris',
  )
})

t.test('a date field falls due at its midnight in the rule’s zone', async (t) => {
  const { node, admin, sarah } = await scene(t)
  await rule(admin, {
    name: 'Two days before the closing date',
    model: 'lead',
    trigger: { kind: 'time', field: 'date_deadline', offset: -2, unit: 'days', timeZone: 'Asia/Tokyo' },
  })
  const lead = await buildRecord(sarah, 'lead', { name: 'Desks', date_deadline: '2026-11-28' })
  // Two days before 2026-11-28 00:00 Tokyo (+09:00) is 2026-11-26 00:00 Tokyo: 2026-11-25T15:00Z.
  node.clock.set(Date.parse('2026-11-25T14:59:00Z'))
  await node.automation.tick()
  t.same(reminders(node, lead.id), [])
  node.clock.set(Date.parse('2026-11-25T15:00:00Z'))
  await node.automation.tick()
  t.same(reminders(node, lead.id), ['<p>Reminder for Desks</p>'])
})

t.test('created and updated times, and each open activity’s deadline', async (t) => {
  const { node, admin, sarah } = await scene(t)
  await rule(admin, {
    name: 'Untouched for 3 days',
    trigger: { kind: 'time', field: 'updatedAt', offset: 3, unit: 'days' },
    actions: [{ type: 'post_message', kind: 'note', body: 'Stale: {{name}}' }],
  })
  await rule(admin, {
    name: 'The day an activity is due',
    trigger: { kind: 'time', field: 'activityDeadline', offset: 0, unit: 'days' },
    actions: [{ type: 'post_message', kind: 'note', body: 'Due today on {{name}}' }],
  })
  const quiet = await buildRecord(sarah, 'ticket', { name: 'Quiet' })
  const busy = await buildRecord(sarah, 'ticket', { name: 'Busy' })
  const schedule = (deadline: string) =>
    sarah.call('POST', `/api/v1/records/${busy.id}/activities`, {
      type: 'todo',
      assigneeId: sarah.userId,
      summary: 'Call back',
      deadline,
    })
  const first = await schedule('2026-11-26')
  t.equal(first.status, 201, JSON.stringify(first.body))
  await schedule('2026-11-27')
  const done = await schedule('2026-11-26')
  t.equal((await sarah.call('POST', `/api/v1/activities/${done.body.id}/done`, {})).status, 200)

  node.clock.set(Date.parse('2026-11-26T00:00:00Z'))
  await node.automation.tick()
  t.same(
    reminders(node, busy.id),
    ['<p>Due today on Busy</p>'],
    'one open activity due today; the done one not',
  )
  const touched = await sarah.call('PATCH', `/api/v1/records/${busy.id}`, {
    version: busy.version,
    values: { priority: 'high' },
  })
  t.equal(touched.status, 200, JSON.stringify(touched.body))
  node.clock.set(Date.parse('2026-11-27T00:00:00Z'))
  await node.automation.tick()
  t.equal(reminders(node, busy.id).length, 2, 'the second activity, on its day')
  node.clock.set(Date.parse('2026-11-28T10:00:00Z'))
  await node.automation.tick()
  t.same(reminders(node, quiet.id), ['<p>Stale: Quiet</p>'], 'three days after its last change')
  t.equal(reminders(node, busy.id).length, 2, 'Busy was changed since: not stale yet')
  node.clock.set(Date.parse('2026-11-29T00:00:00Z'))
  await node.automation.tick()
  t.equal(reminders(node, busy.id).at(-1), '<p>Stale: Busy</p>', 'three days after its change')
})

t.test(
  'a rule made now does not fire for moments already past; one switched off misses its time',
  async (t) => {
    const { node, admin, sarah } = await scene(t)
    const ticket = await buildRecord(sarah, 'ticket', { name: 'Old', sla_deadline: '2026-11-25T09:00:00Z' })
    const made = await rule(admin, {
      name: 'At the deadline',
      trigger: { kind: 'time', field: 'sla_deadline', offset: 0, unit: 'minutes' },
    })
    node.clock.advance(HOUR)
    await node.automation.tick()
    t.same(reminders(node, ticket.id), [], '09:00 was before the rule existed')

    const soon = await buildRecord(sarah, 'ticket', { name: 'Soon', sla_deadline: '2026-11-25T11:30:00Z' })
    t.equal((await admin.call('PATCH', `/api/v1/automation-rules/${made.id}`, { active: false })).status, 200)
    node.clock.advance(HOUR)
    await node.automation.tick()
    t.equal((await admin.call('PATCH', `/api/v1/automation-rules/${made.id}`, { active: true })).status, 200)
    await node.automation.tick()
    t.same(reminders(node, soon.id), [], 'its moment came while the rule was off')
  },
)

t.test('after downtime the node catches up, once, and a restart repeats nothing', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ochat-time-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const clock = new ManualClock(Date.parse('2026-11-25T10:00:00Z'))
  let ids: number[] = []
  await t.test('before the stop', async (t) => {
    const { node, admin, sarah } = await scene(t, { clock, dataDir })
    await rule(admin, {
      name: 'At the deadline',
      trigger: { kind: 'time', field: 'sla_deadline', offset: 0, unit: 'minutes' },
    })
    const tickets = []
    for (let i = 0; i < 30; i++)
      tickets.push(
        await buildRecord(sarah, 'ticket', {
          name: `T${i}`,
          sla_deadline: new Date(Date.parse('2026-11-25T11:00:00Z') + i * 10 * MINUTE).toISOString(),
        }),
      )
    ids = tickets.map((ticket) => ticket.id)
    clock.set(Date.parse('2026-11-25T11:05:00Z'))
    await node.automation.tick()
    t.same(
      ids.map((id) => reminders(node, id).length),
      [1, ...Array(29).fill(0)],
      'the first fired before the stop',
    )
  })
  clock.set(Date.parse('2026-11-25T14:00:00Z'))
  await t.test('restarted three hours later', async (t) => {
    const node = await buildNode(t, { clock, dataDir })
    // The start-up pass runs by itself; a tick waits for it and finds nothing more.
    await node.automation.tick()
    t.same(
      ids.map((id) => reminders(node, id).length),
      [...Array(19).fill(1), ...Array(11).fill(0)],
      'every deadline up to 14:00 fired once, none after',
    )
  })
  await t.test('restarted again at once', async (t) => {
    const node = await buildNode(t, { clock, dataDir })
    await node.automation.tick()
    t.equal(
      ids.reduce((sum, id) => sum + reminders(node, id).length, 0),
      19,
      'nothing fired twice',
    )
  })
})

t.test('a failing time-based rule is logged once and not retried; others go on', async (t) => {
  const { node, admin, sarah } = await scene(t)
  const broken = await rule(admin, {
    name: 'Call the assignee',
    trigger: { kind: 'time', field: 'sla_deadline', offset: 0, unit: 'minutes' },
    actions: [{ type: 'schedule_activity', activityType: 'call', assignee: { field: 'user_id' } }],
  })
  const unassigned = await buildRecord(sarah, 'ticket', {
    name: 'Nobody',
    sla_deadline: '2026-11-25T10:30:00Z',
  })
  const assigned = await buildRecord(sarah, 'ticket', {
    name: 'Sarah’s',
    sla_deadline: '2026-11-25T10:30:00Z',
    user_id: sarah.userId,
  })
  node.clock.advance(HOUR)
  await node.automation.tick()
  await node.automation.tick()
  const runs = (await admin.call('GET', `/api/v1/automation-rules/${broken.id}/runs`)).body.items as {
    recordId: number
    outcome: string
    detail: string
  }[]
  t.equal(runs.length, 2)
  t.match(
    runs.find((run) => run.recordId === unassigned.id),
    {
      outcome: 'failed',
      detail: /Call the assignee.*user_id/,
    },
  )
  t.match(
    runs.find((run) => run.recordId === assigned.id),
    { outcome: 'done' },
  )
  const activities = node.database.sqlite
    .prepare('select record_id as recordId from activities where status = ?')
    .all('open') as { recordId: number }[]
  t.same(
    activities.map((row) => row.recordId),
    [assigned.id],
    'the failed one left nothing',
  )
})

t.test('a time trigger is checked on save', async (t) => {
  const { admin } = await scene(t)
  const refused = async (trigger: Record<string, unknown>, problem: RegExp, status = 422) => {
    const response = await admin.call('POST', '/api/v1/automation-rules', {
      name: 'Bad',
      model: 'ticket',
      trigger,
      actions: [{ type: 'post_message', kind: 'note', body: 'x' }],
    })
    t.equal(response.status, status)
    t.match(response.body.error.reason, problem)
  }
  await refused(
    { kind: 'time', field: 'stage', offset: 1, unit: 'days' },
    /trigger.field: stage is selection/,
  )
  await refused({ kind: 'time', field: 'nope', offset: 1, unit: 'days' }, /no field "nope"/)
  await refused(
    { kind: 'time', field: 'sla_deadline', offset: 1, unit: 'days', timeZone: 'Mars/Olympus' },
    /trigger.timeZone: an IANA time zone/,
    400,
  )
  await refused({ kind: 'time', field: 'sla_deadline', offset: 1, unit: 'weeks' }, /trigger.unit/, 400)
})

t.test('what fired is remembered 90 days, then forgotten without firing again', async (t) => {
  const { node, admin, sarah } = await scene(t)
  await rule(admin, {
    name: 'At the deadline',
    trigger: { kind: 'time', field: 'sla_deadline', offset: 0, unit: 'minutes' },
  })
  const ticket = await buildRecord(sarah, 'ticket', { name: 'Desk', sla_deadline: '2026-11-25T10:30:00Z' })
  node.clock.advance(HOUR)
  await node.automation.tick()
  const firings = () =>
    (node.database.sqlite.prepare('select count(*) as n from automation_firings').get() as { n: number }).n
  t.equal(firings(), 1)
  node.clock.advance(91 * 24 * HOUR)
  await node.housekeeping.sweep()
  t.equal(firings(), 0, 'pruned with the run log')
  await node.automation.tick()
  t.equal(reminders(node, ticket.id).length, 1, 'and it does not fire again')
})
