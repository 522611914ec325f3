import t from 'tap'
import { authorOf } from '../src/automation/engine.ts'
import { connectionOf } from '../src/db/raw.ts'
import { newEffects } from '../src/live/events.ts'
import { createRecord } from '../src/records/write-record.ts'
import { type Actor, buildNode, buildRecord, buildUser, type TestNode } from './helpers.ts'

/**
 * Time-based rules when things go wrong: a rule switched off while its pass runs, a database error in
 * one rule or one queued event, a value committed just after a pass looked, a rule whose own write
 * moves the time it counts from, and an author who is no longer an administrator.
 */

const MINUTE = 60_000
const HOUR = 60 * MINUTE

async function scene(t: Parameters<typeof buildNode>[0]) {
  const node = await buildNode(t)
  const admin = await buildUser(node, { name: 'Ada Admin', role: 'admin' })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  return { node, admin, sarah }
}

async function rule(admin: Actor, body: Record<string, unknown>) {
  const created = await admin.call('POST', '/api/v1/automation-rules', {
    model: 'ticket',
    trigger: { kind: 'time', field: 'sla_deadline', offset: 0, unit: 'minutes' },
    actions: [{ type: 'post_message', kind: 'note', body: 'Due: {{name}}' }],
    ...body,
  })
  if (created.status !== 201) throw new Error(`rule refused: ${JSON.stringify(created.body)}`)
  return created.body as { id: number }
}

function count(node: TestNode, query: string, ...params: unknown[]): number {
  return (node.database.sqlite.prepare(query).get(...params) as { n: number }).n
}

const notes = (node: TestNode) => count(node, "select count(*) as n from messages where kind = 'note'")

t.test('a rule switched off while its pass runs fires nothing more', async (t) => {
  const { node, admin, sarah } = await scene(t)
  const made = await rule(admin, { name: 'At the deadline' })
  for (let i = 0; i < 20; i++)
    await buildRecord(sarah, 'ticket', { name: `T${i}`, sla_deadline: '2026-11-25T10:30:00Z' })
  node.clock.advance(HOUR)
  const pass = node.automation.tick()
  // Saved (switched off) after the pass read its rules, before any firing was written.
  await node.inbound.deps.writes.run((tx) =>
    connectionOf(tx)
      .prepare('update automation_rules set active = 0, updated_at = updated_at + 1 where id = ?')
      .run(made.id),
  )
  await pass
  t.equal(notes(node), 0, 'none of the twenty fired after it was switched off')
  t.equal(count(node, 'select count(*) as n from automation_firings'), 0, 'nor were they used up')
})

t.test('a database error in one rule stops only that rule, which catches up afterwards', async (t) => {
  const { node, admin, sarah } = await scene(t)
  const broken = await rule(admin, { name: 'First' })
  await rule(admin, { name: 'Second', actions: [{ type: 'post_message', kind: 'note', body: 'Second' }] })
  const ticket = await buildRecord(sarah, 'ticket', { name: 'Desk', sla_deadline: '2026-11-25T10:30:00Z' })
  node.database.sqlite.exec(
    `create trigger fail_first before insert on automation_firings when new.rule_id = ${broken.id}
     begin select raise(abort, 'disk full'); end`,
  )
  node.clock.advance(HOUR)
  await node.automation.tick()
  await node.automation.tick()
  const bodies = () =>
    (
      node.database.sqlite
        .prepare("select body from messages where record_id = ? and kind = 'note' order by id")
        .all(ticket.id) as { body: string }[]
    ).map((row) => row.body)
  t.same(bodies(), ['<p>Second</p>'], 'the other rule fired')
  node.database.sqlite.exec('drop trigger fail_first')
  node.clock.advance(HOUR)
  await node.automation.tick()
  t.same(bodies(), ['<p>Second</p>', '<p>Due: Desk</p>'], 'the first fires once the database takes it')
})

t.test('a queued event that cannot be run waits for the next minute; the runner still stops', async (t) => {
  const { node, admin, sarah } = await scene(t)
  const lead = await buildRecord(sarah, 'lead', { name: 'Desks' })
  await admin.call('POST', '/api/v1/automation-rules', {
    name: 'Partner wrote',
    model: 'lead',
    trigger: { kind: 'message_received' },
    actions: [{ type: 'post_message', kind: 'note', body: 'Wrote' }],
  })
  node.database.sqlite.exec(
    `create trigger fail_runs before insert on automation_runs begin select raise(abort, 'disk full'); end`,
  )
  node.database.sqlite
    .prepare(
      "insert into automation_queue (kind, record_id, via, at) values ('message_received', ?, 'email', 0)",
    )
    .run(lead.id)
  node.automation.kick()
  await node.automation.tick()
  t.equal(count(node, 'select count(*) as n from automation_queue'), 1, 'still queued, not lost')
  node.database.sqlite.exec('drop trigger fail_runs')
  await node.automation.tick()
  t.equal(count(node, 'select count(*) as n from automation_queue'), 0)
  t.equal(notes(node), 1, 'run once, at the next minute')
})

t.test('a value stamped before a pass but committed after it still fires, once', async (t) => {
  const { node, admin } = await scene(t)
  await rule(admin, {
    name: 'Welcome',
    trigger: { kind: 'time', field: 'createdAt', offset: 0, unit: 'minutes' },
  })
  const stampedAt = node.clock.now() + 10 * MINUTE
  node.clock.advance(11 * MINUTE)
  await node.automation.tick()
  // A ticket from a mail that took a while: stamped at 10:10, committed after the 10:11 pass.
  const principal = await node.inbound.deps.writes.run((tx) => authorOf(tx, { createdBy: admin.userId }))
  if (!principal) throw new Error('no principal')
  await node.inbound.deps.writes.run((tx) =>
    createRecord(tx, {
      principal,
      model: node.registry.byName('ticket') as NonNullable<ReturnType<typeof node.registry.byName>>,
      registry: node.registry,
      values: { name: 'Slow mail' },
      site: node.config,
      now: stampedAt,
      effects: newEffects(),
    }),
  )
  node.clock.advance(MINUTE)
  await node.automation.tick()
  node.clock.advance(MINUTE)
  await node.automation.tick()
  t.equal(notes(node), 1, 'the next pass looks back far enough, and fires it once')
})

t.test('"an hour after the last change" does not re-trigger itself with its own write', async (t) => {
  const { node, admin, sarah } = await scene(t)
  await rule(admin, {
    name: 'Untouched for an hour: raise it',
    trigger: { kind: 'time', field: 'updatedAt', offset: 1, unit: 'hours' },
    actions: [{ type: 'set_values', values: { priority: 'high' } }],
  })
  const ticket = await buildRecord(sarah, 'ticket', { name: 'Quiet' })
  for (let hour = 0; hour < 6; hour++) {
    node.clock.advance(HOUR)
    await node.automation.tick()
  }
  const read = await sarah.call('GET', `/api/v1/records/${ticket.id}`)
  t.equal(read.body.values.priority, 'high')
  t.equal(read.body.version, ticket.version + 1, 'raised once in six hours, not every hour')
})

t.test(
  'a rule whose author is no longer an administrator waits, says so once, then catches up',
  async (t) => {
    const { node, admin, sarah } = await scene(t)
    const made = await rule(admin, { name: 'At the deadline' })
    await buildRecord(sarah, 'ticket', { name: 'Desk', sla_deadline: '2026-11-25T10:30:00Z' })
    const other = await buildUser(node, { name: 'Otto Other', role: 'admin' })
    t.equal((await other.call('PATCH', `/api/v1/users/${admin.userId}`, { role: 'user' })).status, 200)
    node.clock.advance(HOUR)
    await node.automation.tick()
    node.clock.advance(MINUTE)
    await node.automation.tick()
    t.equal(notes(node), 0)
    const runs = (await other.call('GET', `/api/v1/automation-rules/${made.id}/runs`)).body.items
    t.match(runs, [{ outcome: 'skipped', detail: /no longer an active administrator: its moments wait/ }])
    t.equal(runs.length, 1, 'said once, not every minute')
    t.equal(
      (await other.call('PATCH', `/api/v1/automation-rules/${made.id}`, { name: 'At the deadline' })).status,
      200,
    )
    await node.automation.tick()
    t.equal(notes(node), 1, 'saved by an administrator, it fires what waited')
  },
)
