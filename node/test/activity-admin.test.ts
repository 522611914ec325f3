import t from 'tap'
import { buildNode, buildRecord, buildUser, type TestNode } from './helpers.ts'

const count = (node: TestNode, sql: string, ...params: unknown[]) =>
  (node.database.sqlite.prepare(sql).get(...params) as { n: number }).n

t.test('administrators create, change and archive activity types; others are refused', async (t) => {
  const node = await buildNode(t) // 2026-11-25T10:00:00Z
  const admin = await buildUser(node, { role: 'admin' })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })

  const refused = await sarah.call('POST', '/api/v1/activity-types', { name: 'Visit', icon: 'truck' })
  t.equal(refused.status, 403)
  t.equal(refused.body.error.code, 'E_FORBIDDEN')

  const visit = await admin.call('POST', '/api/v1/activity-types', {
    name: 'Site visit',
    icon: 'truck',
    delay: { count: 1, unit: 'weeks', from: 'current_date' },
    chaining: 'trigger',
    nextTypes: ['call'],
    defaultUserId: sarah.userId,
    defaultSummary: 'Check the site',
  })
  t.equal(visit.status, 201)
  t.equal(visit.body.key, 'site_visit', 'the key is made from the name')
  t.equal(visit.body.icon, 'truck')
  t.same(visit.body.delay, { count: 1, unit: 'weeks', from: 'current_date' })

  const listed = await sarah.call('GET', '/api/v1/activity-types')
  t.ok(
    listed.body.items.some((type: { key: string }) => type.key === 'site_visit'),
    'everyone sees it',
  )
  const scheduled = await sarah.call('POST', `/api/v1/records/${(await buildRecord(sarah)).id}/activities`, {
    type: 'site_visit',
  })
  t.equal(scheduled.status, 201)
  t.equal(scheduled.body.deadline, '2026-12-02', 'its delay: one week')
  t.equal(scheduled.body.summary, 'Check the site', 'its default summary')
  t.equal(scheduled.body.type.icon, 'truck')

  const checks: [object, string][] = [
    [{ name: 'X', icon: 'truck', chaining: 'suggest', nextTypes: ['nope'] }, 'E_ACTIVITY_TYPE_UNKNOWN'],
    [{ name: 'X', icon: 'truck', chaining: 'trigger', nextTypes: ['call', 'todo'] }, 'E_ACTIVITY_CHAINING'],
    [{ name: 'X', icon: 'truck', chaining: 'trigger', nextTypes: [] }, 'E_ACTIVITY_CHAINING'],
    [{ name: 'X', icon: 'truck', defaultUserId: 9999 }, 'E_USER_UNKNOWN'],
    [{ name: 'X', icon: 'smiley' }, 'E_INVALID_BODY'],
    [{ key: 'call', name: 'X', icon: 'phone' }, 'E_CONFLICT'],
  ]
  for (const [body, code] of checks) {
    const answer = await admin.call('POST', '/api/v1/activity-types', body)
    t.equal(answer.body.error.code, code, `${JSON.stringify(body)} → ${code}`)
  }
  t.equal(count(node, "select count(*) n from activity_types where name = 'X'"), 0, 'none was made')

  const denied = await sarah.call('PATCH', `/api/v1/activity-types/${visit.body.id}`, { name: 'Mine' })
  t.equal(denied.status, 403)
  const renamed = await admin.call('PATCH', `/api/v1/activity-types/${visit.body.id}`, {
    name: 'On-site visit',
    chaining: 'suggest',
    nextTypes: ['call', 'meeting'],
  })
  t.equal(renamed.status, 200)
  t.equal(renamed.body.name, 'On-site visit')
  t.equal(renamed.body.key, 'site_visit', 'the key stays')
  const archived = await admin.call('PATCH', `/api/v1/activity-types/${visit.body.id}`, { active: false })
  t.equal(archived.body.active, false)
  const after = await sarah.call('GET', '/api/v1/activity-types')
  t.notOk(
    after.body.items.some((type: { key: string }) => type.key === 'site_visit'),
    'no more offered',
  )
  const all = await admin.call('GET', '/api/v1/activity-types?archived=true')
  t.ok(
    all.body.items.some((type: { key: string }) => type.key === 'site_visit'),
    'listed with archived',
  )
  t.equal(count(node, 'select count(*) n from activities where id = ?', scheduled.body.id), 1, 'kept')
})

t.test('plans: created, launched with deadlines and assignees per step, changed, deleted', async (t) => {
  const node = await buildNode(t) // 2026-11-25T10:00:00Z
  const admin = await buildUser(node, { role: 'admin' })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const john = await buildUser(node, { name: 'John Ops' })
  const mia = await buildUser(node, { name: 'Mia Mail' })
  await admin.call('PATCH', '/api/v1/activity-types/1', { defaultUserId: mia.userId }) // todo

  const body = {
    name: 'Onboarding',
    model: 'lead',
    steps: [
      { type: 'call', summary: 'Welcome call', assignee: 'user', userId: john.userId },
      { type: 'todo', delay: { count: 3, unit: 'days', from: 'before_plan_date' } },
      { type: 'meeting', assignee: 'on_demand', delay: { count: 1, unit: 'weeks', from: 'after_plan_date' } },
      { type: 'email', note: 'Send **the** pack' },
    ],
  }
  t.equal((await sarah.call('POST', '/api/v1/activity-plans', body)).status, 403, 'admins only')
  const created = await admin.call('POST', '/api/v1/activity-plans', body)
  t.equal(created.status, 201)
  t.equal(created.body.model, 'lead')
  t.same(
    created.body.steps.map((step: { type: { key: string } }) => step.type.key),
    ['call', 'todo', 'meeting', 'email'],
  )
  const plan = created.body
  const meetingStep = plan.steps[2].id

  const lead = await buildRecord(sarah, 'lead', { name: 'Big deal' })
  const url = `/api/v1/records/${lead.id}/activity-plans/${plan.id}/launch`
  const missing = await sarah.call('POST', url, { date: '2026-12-10' })
  t.equal(missing.status, 422)
  t.equal(missing.body.error.code, 'E_ASSIGNEE_REQUIRED')
  t.equal(count(node, 'select count(*) n from activities where record_id = ?', lead.id), 0)

  const launched = await sarah.call('POST', url, {
    date: '2026-12-10',
    assignees: { [meetingStep]: mia.userId },
  })
  t.equal(launched.status, 201)
  const got = launched.body.items.map(
    (a: { type: { key: string }; deadline: string; assignee: { name: string }; summary: string | null }) => [
      a.type.key,
      a.deadline,
      a.assignee.name,
      a.summary,
    ],
  )
  t.same(got, [
    ['call', '2026-12-10', 'John Ops', 'Welcome call'],
    ['todo', '2026-12-07', 'Mia Mail', null],
    ['meeting', '2026-12-17', 'Mia Mail', null],
    ['email', '2026-12-10', 'Sarah Sales', null],
  ])
  t.equal(launched.body.items[3].note, '<p>Send <strong>the</strong> pack</p>')
  const open = await sarah.call('GET', `/api/v1/records/${lead.id}/activities`)
  t.equal(open.body.items.length, 4, 'the record has the four activities')

  const ticket = await buildRecord(sarah, 'ticket')
  const wrong = await sarah.call('POST', `/api/v1/records/${ticket.id}/activity-plans/${plan.id}/launch`, {
    date: '2026-12-10',
    assignees: { [meetingStep]: mia.userId },
  })
  t.equal(wrong.status, 422)
  t.equal(wrong.body.error.code, 'E_PLAN_WRONG_MODEL')

  const changed = await admin.call('PATCH', `/api/v1/activity-plans/${plan.id}`, {
    name: 'Short onboarding',
    model: null,
    steps: [{ type: 'todo' }],
  })
  t.equal(changed.status, 200)
  t.equal(changed.body.steps.length, 1, 'steps replaced as a whole')
  t.equal(changed.body.model, null)
  const anywhere = await sarah.call('POST', `/api/v1/records/${ticket.id}/activity-plans/${plan.id}/launch`, {
    date: '2026-12-10',
  })
  t.equal(anywhere.status, 201, 'a plan for every model launches on a ticket')

  const badStep = await admin.call('PATCH', `/api/v1/activity-plans/${plan.id}`, {
    steps: [{ type: 'nope' }],
  })
  t.equal(badStep.body.error.code, 'E_ACTIVITY_TYPE_UNKNOWN')

  t.equal((await sarah.call('DELETE', `/api/v1/activity-plans/${plan.id}`)).status, 403)
  t.equal((await admin.call('DELETE', `/api/v1/activity-plans/${plan.id}`)).status, 204)
  t.equal((await admin.call('GET', '/api/v1/activity-plans')).body.items.length, 0)
  t.equal(count(node, 'select count(*) n from activities where record_id = ?', ticket.id), 1, 'kept')
})

t.test('a launch is all or nothing, and a hidden record answers 404', async (t) => {
  const node = await buildNode(t)
  const admin = await buildUser(node, { role: 'admin' })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const leaver = await buildUser(node, { name: 'Leo Leaver' })
  const plan = await admin.call('POST', '/api/v1/activity-plans', {
    name: 'Handover',
    steps: [{ type: 'call' }, { type: 'todo', assignee: 'user', userId: leaver.userId }],
  })
  t.equal(plan.status, 201)
  t.equal((await admin.call('PATCH', `/api/v1/users/${leaver.userId}`, { active: false })).status, 200)

  const lead = await buildRecord(sarah)
  const refused = await sarah.call(
    'POST',
    `/api/v1/records/${lead.id}/activity-plans/${plan.body.id}/launch`,
    {
      date: '2026-12-01',
    },
  )
  t.equal(refused.status, 422)
  t.equal(refused.body.error.code, 'E_USER_UNKNOWN')
  t.equal(count(node, 'select count(*) n from activities'), 0, 'the first step was not kept either')

  const contract = await admin.call('POST', '/api/v1/models', {
    name: 'x_contract',
    label: 'Contract',
    userAccess: 'own',
    fields: [{ name: 'name', label: 'Title', type: 'char', required: true }],
  })
  t.equal(contract.status, 201)
  const secret = await buildRecord(admin, 'x_contract')
  const hidden = await sarah.call(
    'POST',
    `/api/v1/records/${secret.id}/activity-plans/${plan.body.id}/launch`,
    {
      date: '2026-12-01',
    },
  )
  t.equal(hidden.status, 404, 'as for a record that does not exist')
  const noPlan = await sarah.call('POST', `/api/v1/records/${lead.id}/activity-plans/999/launch`, {
    date: '2026-12-01',
  })
  t.equal(noPlan.status, 404)
})

t.test('a form that sends a type back as it was saves, though its default user has left since', async (t) => {
  const node = await buildNode(t)
  const admin = await buildUser(node, { role: 'admin' })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const visit = await admin.call('POST', '/api/v1/activity-types', {
    name: 'Site visit',
    icon: 'truck',
    chaining: 'trigger',
    nextTypes: ['call'],
    defaultUserId: sarah.userId,
  })
  t.equal(visit.status, 201)
  t.equal((await admin.call('PATCH', `/api/v1/users/${sarah.userId}`, { active: false })).status, 200)
  const renamed = await admin.call('PATCH', `/api/v1/activity-types/${visit.body.id}`, {
    name: 'Visit on site',
    chaining: 'trigger',
    nextTypes: ['call'],
    defaultUserId: sarah.userId,
  })
  t.equal(renamed.status, 200, 'unchanged settings are not checked again')
  t.equal(renamed.body.name, 'Visit on site')
  const bob = await buildUser(node, { name: 'Bob' })
  await admin.call('PATCH', `/api/v1/users/${bob.userId}`, { active: false })
  const changed = await admin.call('PATCH', `/api/v1/activity-types/${visit.body.id}`, {
    defaultUserId: bob.userId,
  })
  t.equal(changed.status, 422, 'a new default user must be active')
  t.equal(changed.body.error.code, 'E_USER_UNKNOWN')
})
