import t from 'tap'
import { buildNode, buildRecord, buildUser } from './helpers.ts'

/**
 * Archiving, as a salesperson tidies up lost leads: an archived record leaves its model's list (a
 * filter shows it), keeps its chatter, can be restored, and runs the model's "on archive" rules.
 */

async function scene(t: Parameters<typeof buildNode>[0]) {
  const node = await buildNode(t)
  const admin = await buildUser(node, { name: 'Ada Admin', role: 'admin' })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  return { node, admin, sarah }
}

const names = (body: { items: { name: string }[] }) => body.items.map((item) => item.name).sort()

t.test('an archived lead leaves the list, keeps its chatter, and comes back when restored', async (t) => {
  const { sarah } = await scene(t)
  const lost = await buildRecord(sarah, 'lead', { name: 'Lost desks' })
  await buildRecord(sarah, 'lead', { name: 'Open chairs' })

  const archived = await sarah.call('POST', `/api/v1/records/${lost.id}/archive`)
  t.equal(archived.status, 200)
  t.ok(archived.body.archivedAt > 0, 'when it was archived')
  t.equal(archived.body.version, lost.version + 1, 'a change like any other: a stale write is refused')
  const again = await sarah.call('POST', `/api/v1/records/${lost.id}/archive`)
  t.equal(again.body.version, archived.body.version, 'archiving it again changes nothing')

  const list = (query = '') => sarah.call('GET', `/api/v1/models/lead/records${query}`)
  t.same(names((await list()).body), ['Open chairs'], 'the list holds active records')
  t.same(names((await list('?archived=true')).body), ['Lost desks'], 'the archive filter')
  t.same(names((await list('?archived=all')).body), ['Lost desks', 'Open chairs'])
  t.equal((await list('?archived=maybe')).status, 400)

  const read = await sarah.call('GET', `/api/v1/records/${lost.id}`)
  t.equal(read.status, 200, 'still readable by its id')
  const chatter = await sarah.call('GET', `/api/v1/records/${lost.id}/messages`)
  t.ok(
    chatter.body.items.some((message: { body: string }) => message.body === '<p>Archived</p>'),
    'the chatter says it was archived',
  )

  const restored = await sarah.call('POST', `/api/v1/records/${lost.id}/unarchive`)
  t.equal(restored.status, 200)
  t.equal(restored.body.archivedAt, null)
  t.same(names((await list()).body), ['Lost desks', 'Open chairs'])
})

t.test('only those who may change a record archive it', async (t) => {
  const { node, sarah } = await scene(t)
  const lead = await buildRecord(sarah, 'lead', { name: 'Desks' })
  const reader = await buildUser(node, { name: 'Rita Reader', scopes: ['records:read'] })
  const refused = await reader.call('POST', `/api/v1/records/${lead.id}/archive`)
  t.equal(refused.status, 403, 'a key without records:write')
  const missing = await sarah.call('POST', '/api/v1/records/999999/archive')
  t.equal(missing.status, 404)
  t.equal((await sarah.call('GET', `/api/v1/records/${lead.id}`)).body.archivedAt, null)
})

t.test('an archive rule runs on archiving, not on restoring; one that fails refuses it', async (t) => {
  const { node, admin, sarah } = await scene(t)
  const made = await admin.call('POST', '/api/v1/automation-rules', {
    name: 'Archived leads: tell the team',
    model: 'lead',
    trigger: { kind: 'archive' },
    actions: [{ type: 'post_message', kind: 'note', body: '{{name}} was archived' }],
  })
  t.equal(made.status, 201)
  const lead = await buildRecord(sarah, 'lead', { name: 'Desks' })
  await sarah.call('POST', `/api/v1/records/${lead.id}/archive`)
  await sarah.call('POST', `/api/v1/records/${lead.id}/unarchive`)
  await sarah.call('POST', `/api/v1/records/${lead.id}/archive`)
  const notes = () =>
    node.database.sqlite
      .prepare("select body from messages where record_id = ? and kind = 'note'")
      .all(lead.id) as { body: string }[]
  t.same(
    notes().map((row) => row.body),
    ['<p>Desks was archived</p>', '<p>Desks was archived</p>'],
    'each archiving, no restoring',
  )

  await admin.call('POST', '/api/v1/automation-rules', {
    name: 'Call before archiving',
    model: 'lead',
    trigger: { kind: 'archive' },
    actions: [{ type: 'schedule_activity', activityType: 'call', assignee: { field: 'user_id' } }],
  })
  const other = await buildRecord(sarah, 'lead', { name: 'Chairs' })
  const refused = await sarah.call('POST', `/api/v1/records/${other.id}/archive`)
  t.equal(refused.status, 422)
  t.match(refused.body.error.reason, /rule "Call before archiving"/)
  t.equal((await sarah.call('GET', `/api/v1/records/${other.id}`)).body.archivedAt, null, 'not archived')
})

t.test('time-based rules leave archived records alone', async (t) => {
  const { node, admin, sarah } = await scene(t)
  await admin.call('POST', '/api/v1/automation-rules', {
    name: 'At the SLA deadline',
    model: 'ticket',
    trigger: { kind: 'time', field: 'sla_deadline', offset: 0, unit: 'minutes' },
    actions: [{ type: 'post_message', kind: 'note', body: 'SLA reached' }],
  })
  const open = await buildRecord(sarah, 'ticket', { name: 'Open', sla_deadline: '2026-11-25T10:30:00Z' })
  const closed = await buildRecord(sarah, 'ticket', { name: 'Closed', sla_deadline: '2026-11-25T10:30:00Z' })
  await sarah.call('POST', `/api/v1/records/${closed.id}/archive`)
  node.clock.advance(3_600_000)
  await node.automation.tick()
  const notes = (id: number) =>
    (
      node.database.sqlite
        .prepare("select count(*) as n from messages where record_id = ? and kind = 'note'")
        .get(id) as { n: number }
    ).n
  t.equal(notes(open.id), 1)
  t.equal(notes(closed.id), 0)
})
