import t from 'tap'
import { DOMAIN, mail, setPolicy, setup } from './fixtures/mail/inbound.ts'
import { type Actor, buildNode, buildRecord, buildUser, type TestNode } from './helpers.ts'

/**
 * Automation rules as a company uses them: "when a lead reaches Won, tell the team and schedule the
 * delivery call"; conditions before and after a change; a rule that fails refuses the change whole;
 * rules that trigger rules stop; a dry run changes nothing.
 */

async function scene(t: Parameters<typeof buildNode>[0]) {
  const node = await buildNode(t)
  const admin = await buildUser(node, { name: 'Ada Admin', role: 'admin' })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const rule = async (body: Record<string, unknown>) => {
    const created = await admin.call('POST', '/api/v1/automation-rules', { model: 'lead', ...body })
    if (created.status !== 201) throw new Error(`rule refused: ${JSON.stringify(created.body)}`)
    return created.body as { id: number }
  }
  return { node, admin, sarah, rule }
}

function chatter(node: TestNode, recordId: number) {
  return node.database.sqlite
    .prepare('select kind, body, internal from messages where record_id = ? order by id')
    .all(recordId) as { kind: string; body: string; internal: number }[]
}

async function runs(admin: Actor, ruleId: number) {
  return (await admin.call('GET', `/api/v1/automation-rules/${ruleId}/runs`)).body.items as {
    outcome: string
    detail: string | null
    recordId: number | null
  }[]
}

t.test(
  'a lead set to Won: the team is told and the delivery call is scheduled for its salesperson',
  async (t) => {
    const { node, admin, sarah, rule } = await scene(t)
    const won = await rule({
      name: 'Won: tell the team, book the delivery call',
      trigger: { kind: 'set', field: 'stage', value: 'won' },
      actions: [
        { type: 'post_message', kind: 'note', body: '{{name}} is won: <b>book the delivery</b>' },
        {
          type: 'schedule_activity',
          activityType: 'call',
          summary: 'Delivery call',
          delayDays: 2,
          assignee: { field: 'user_id' },
        },
      ],
    })
    const lead = await buildRecord(sarah, 'lead', { name: 'Desks & chairs', user_id: sarah.userId })
    const qualified = await sarah.call('PATCH', `/api/v1/records/${lead.id}`, {
      version: lead.version,
      values: { stage: 'qualified' },
    })
    t.equal(qualified.status, 200)
    t.same(await runs(admin, won.id), [], 'not on another stage')

    const answer = await sarah.call('PATCH', `/api/v1/records/${lead.id}`, {
      version: qualified.body.version,
      values: { stage: 'won' },
    })
    t.equal(answer.status, 200)
    const note = chatter(node, lead.id).at(-1)
    t.equal(note?.kind, 'note', 'a log note')
    t.equal(
      note?.body,
      '<p>Desks &amp; chairs is won: &lt;b&gt;book the delivery&lt;/b&gt;</p>',
      'the template filled, the record’s name and the template both escaped',
    )
    const activities = await sarah.call('GET', `/api/v1/records/${lead.id}/activities`)
    t.match(activities.body.items, [
      { summary: 'Delivery call', assignee: { userId: sarah.userId }, deadline: '2026-11-27' },
    ])
    t.match(await runs(admin, won.id), [
      {
        outcome: 'done',
        recordId: lead.id,
        detail: /logged a note; scheduled Call for Sarah Sales on 2026-11-27/,
      },
    ])

    const again = await sarah.call('PATCH', `/api/v1/records/${lead.id}`, {
      version: answer.body.version,
      values: { description: 'signed' },
    })
    t.equal(again.status, 200)
    t.equal((await runs(admin, won.id)).length, 1, 'staying Won does not fire it again')
  },
)

t.test('conditions before and after the change', async (t) => {
  const { admin, sarah, rule } = await scene(t)
  const skipped = await rule({
    name: 'Straight from New to Won',
    trigger: { kind: 'update', fields: ['stage'] },
    before: { field: 'stage', op: 'eq', value: 'new' },
    after: { and: [{ field: 'stage', op: 'in', value: ['won'] }, { not: { field: 'priority', op: 'set' } }] },
    actions: [{ type: 'set_values', values: { priority: 'high' } }],
  })
  const fromNew = await buildRecord(sarah, 'lead', { name: 'Fast', stage: 'new' })
  const stepped = await buildRecord(sarah, 'lead', { name: 'Slow', stage: 'qualified' })
  const direct = await sarah.call('PATCH', `/api/v1/records/${fromNew.id}`, {
    version: fromNew.version,
    values: { stage: 'won' },
  })
  t.equal(direct.body.values.priority, 'high', 'the answer shows what the rule set')
  const indirect = await sarah.call('PATCH', `/api/v1/records/${stepped.id}`, {
    version: stepped.version,
    values: { stage: 'won' },
  })
  t.equal(indirect.body.values.priority ?? null, null, 'not from another stage')
  t.same(
    (await runs(admin, skipped.id)).map((run) => run.recordId),
    [fromNew.id],
  )
})

t.test('a rule that fails refuses the change whole, naming the rule, and its run is logged', async (t) => {
  const { node, admin, sarah, rule } = await scene(t)
  const broken = await rule({
    name: 'Call the salesperson',
    trigger: { kind: 'set', field: 'stage', value: 'won' },
    actions: [
      { type: 'post_message', kind: 'note', body: 'Won' },
      { type: 'schedule_activity', activityType: 'call', assignee: { field: 'user_id' } },
    ],
  })
  const lead = await buildRecord(sarah, 'lead', { name: 'Big deal' })
  const before = chatter(node, lead.id).length
  const refused = await sarah.call('PATCH', `/api/v1/records/${lead.id}`, {
    version: lead.version,
    values: { stage: 'won' },
  })
  t.equal(refused.status, 422)
  t.equal(refused.body.error.code, 'E_AUTOMATION_FAILED')
  t.match(refused.body.error.reason, /rule "Call the salesperson" \(\d+\): .*user_id is empty/)
  const after = await sarah.call('GET', `/api/v1/records/${lead.id}`)
  t.equal(after.body.version, lead.version, 'the record is as it was')
  t.equal(after.body.values.stage, lead.values.stage)
  t.equal(chatter(node, lead.id).length, before, 'no note, no tracking message')
  t.match(await runs(admin, broken.id), [
    { outcome: 'failed', recordId: lead.id, detail: /user_id is empty/ },
  ])
})

t.test('rules that trigger each other run once per record each, and a chain stops at five', async (t) => {
  const { admin, sarah, rule } = await scene(t)
  // Seven rules, each on any update, each changing the record: each change triggers every other rule.
  const ids: number[] = []
  for (let i = 1; i <= 7; i++)
    ids.push(
      (
        await rule({
          name: `Rule ${i}`,
          trigger: { kind: 'update', fields: [] },
          actions: [{ type: 'set_values', values: { description: `set by rule ${i}` } }],
          sequence: i,
        })
      ).id,
    )
  const lead = await buildRecord(sarah, 'lead', { name: 'Busy' })
  const answer = await sarah.call('PATCH', `/api/v1/records/${lead.id}`, {
    version: lead.version,
    values: { priority: 'low' },
  })
  t.equal(answer.status, 200, 'the change is saved')
  const outcomes = await Promise.all(ids.map(async (id) => (await runs(admin, id)).map((run) => run.outcome)))
  t.same(outcomes.slice(0, 5), [['done'], ['done'], ['done'], ['done'], ['done']], 'five deep, each once')
  t.ok(
    outcomes
      .slice(5)
      .every((list) => list.includes('skipped') && list.filter((o) => o === 'done').length <= 1),
    'past five deep, skipped and logged so',
  )
})

t.test('rules are checked against their model when saved', async (t) => {
  const { admin, sarah } = await scene(t)
  for (const [body, problem] of [
    [
      { trigger: { kind: 'update', fields: ['colour'] } },
      /trigger\.fields\[0\]: the lead model has no field "colour"/,
    ],
    [
      { trigger: { kind: 'create' }, after: { field: 'name', op: 'gt', value: 3 } },
      /after\.op: "gt" compares numbers and dates; name is char/,
    ],
    [
      { trigger: { kind: 'create' }, after: { field: 'stage', op: 'eq', value: 'closed' } },
      /after\.value: "closed" is not one of stage's choices/,
    ],
    [
      { trigger: { kind: 'create' }, before: { field: 'stage', op: 'set' } },
      /before: a create trigger has no values before a change/,
    ],
    [
      { trigger: { kind: 'set', field: 'stage', value: 'Won' } },
      /trigger\.value: "Won" is not one of stage's choices/,
    ],
    [
      { trigger: { kind: 'create' }, after: { field: 'expected_revenue', op: 'gt', value: '1000' } },
      /after\.value: "1000" is not a value of expected_revenue \(monetary\)/,
    ],
    [
      { trigger: { kind: 'create' }, actions: [{ type: 'set_values', values: { stge: 'won' } }] },
      /actions\[0\]\.values: .*stge/,
    ],
    [
      {
        trigger: { kind: 'create' },
        actions: [{ type: 'schedule_activity', activityType: 'call', assignee: { userId: 9999 } }],
      },
      /actions\[0\]\.assignee: .*no active user 9999/,
    ],
    [
      {
        trigger: { kind: 'create' },
        actions: [{ type: 'post_message', kind: 'message', body: 'At {{probability}}% for {{colour}}' }],
      },
      /probability is for internal users only.*; actions\[0\]\.body: the lead model has no field "colour"/,
    ],
  ] as const) {
    const answer = await admin.call('POST', '/api/v1/automation-rules', {
      name: 'Bad',
      model: 'lead',
      actions: [{ type: 'post_message', kind: 'note', body: 'x' }],
      ...body,
    })
    t.equal(answer.status, 422, JSON.stringify(body))
    t.equal(answer.body.error.code, 'E_AUTOMATION_RULE')
    t.match(answer.body.error.reason, problem)
  }
  const malformed = await admin.call('POST', '/api/v1/automation-rules', {
    name: 'Bad',
    model: 'lead',
    trigger: { kind: 'whenever' },
    actions: [],
  })
  t.equal(malformed.status, 400)
  const byUser = await sarah.call('POST', '/api/v1/automation-rules', {
    name: 'Mine',
    model: 'lead',
    trigger: { kind: 'create' },
    actions: [{ type: 'post_message', kind: 'note', body: 'x' }],
  })
  t.equal(byUser.status, 403, 'only administrators write rules')
  t.same((await admin.call('GET', '/api/v1/automation-rules')).body.items, [], 'nothing was saved')
})

t.test('a dry run says what the rule would do to a record, and does none of it', async (t) => {
  const { node, admin, sarah, rule } = await scene(t)
  const follow = await rule({
    name: 'Qualified: the salesperson follows and a note is logged',
    trigger: { kind: 'set', field: 'stage', value: 'qualified' },
    after: { field: 'user_id', op: 'set' },
    actions: [
      { type: 'add_followers', field: 'user_id' },
      { type: 'post_message', kind: 'note', body: 'Qualified' },
      { type: 'set_values', values: { priority: 'high' } },
    ],
  })
  const lead = await buildRecord(sarah, 'lead', { name: 'Maybe', user_id: sarah.userId })
  const chatterBefore = chatter(node, lead.id).length
  const dry = await admin.call('POST', `/api/v1/automation-rules/${follow.id}/dry-run`, { recordId: lead.id })
  t.equal(dry.status, 200)
  t.same(dry.body, {
    matches: true,
    effects: ['added 0 followers', 'logged a note', 'set priority'],
    error: null,
  })
  const after = await sarah.call('GET', `/api/v1/records/${lead.id}`)
  t.equal(after.body.version, lead.version, 'the record was not changed')
  t.equal(chatter(node, lead.id).length, chatterBefore, 'nothing was posted')
  t.same(await runs(admin, follow.id), [], 'and no run is logged')
  const missing = await admin.call('POST', `/api/v1/automation-rules/${follow.id}/dry-run`, {
    recordId: 99_999,
  })
  t.equal(missing.status, 404)
})

t.test(
  'a lead made from an email runs the creation rules; one that fails refuses the mail, not retries it',
  async (t) => {
    const { node, receive } = await setup(t)
    const admin = await buildUser(node, { role: 'admin' })
    setPolicy(node, 'sales', 'everyone')
    const welcome = await admin.call('POST', '/api/v1/automation-rules', {
      name: 'Welcome new leads',
      model: 'lead',
      trigger: { kind: 'create' },
      actions: [{ type: 'post_message', kind: 'note', body: 'New lead from {{email}}' }],
    })
    t.equal(welcome.status, 201)
    const taken = await receive(
      mail({ from: 'Ann <ann@client.example>', to: `sales@${DOMAIN}`, subject: 'Desks' }),
    )
    t.equal(taken.outcome, 'created')
    t.equal(chatter(node, taken.recordId as number).at(-1)?.body, '<p>New lead from ann@client.example</p>')

    const broken = await admin.call('POST', '/api/v1/automation-rules', {
      name: 'Call every new lead',
      model: 'lead',
      trigger: { kind: 'create' },
      actions: [{ type: 'schedule_activity', activityType: 'call', assignee: { field: 'user_id' } }],
    })
    t.equal(broken.status, 201)
    const leads = () =>
      node.database.sqlite.prepare('select count(*) as n from records').get() as { n: number }
    const before = leads().n
    const refused = await receive(
      mail({ from: 'Bob <bob@client.example>', to: `sales@${DOMAIN}`, subject: 'Chairs' }),
      'smtp',
    )
    t.equal(refused.outcome, 'refused')
    t.equal(refused.smtp.code, 550, 'refused for good: the sending server does not retry it for days')
    t.equal(
      refused.smtp.message,
      '5.7.1 the company could not file this message; its administrators can see why',
      'the sender learns nothing of the company’s rules',
    )
    t.match(
      refused.reason,
      /^an automation rule could not run on it: rule "Call every new lead"/,
      'the log does',
    )
    t.equal(leads().n, before, 'no lead was made')
  },
)

t.test(
  'a value filled into a template mentions nobody, and a rule whose author left is skipped',
  async (t) => {
    const { node, admin, sarah, rule } = await scene(t)
    await rule({
      name: 'Announce new leads',
      trigger: { kind: 'create' },
      actions: [{ type: 'post_message', kind: 'message', body: 'New lead: {{name}} for {{user_id}}' }],
    })
    const lead = await buildRecord(sarah, 'lead', { name: '@Ada Admin wants desks', user_id: sarah.userId })
    const posted = chatter(node, lead.id).at(-1)
    t.notMatch(posted?.body, /o-mention/, 'no mention made of the record’s name')
    t.match(posted?.body, /for Sarah Sales<\/p>$/, 'a user field shows as the user’s name')
    const told = node.database.sqlite
      .prepare("select count(*) as n from notifications where partner_id = ? and reason = 'mention'")
      .get(admin.partnerId) as { n: number }
    t.equal(told.n, 0, 'the administrator named in it is not told')

    const other = await buildUser(node, { name: 'Otto Other', role: 'admin' })
    const demoted = await other.call('PATCH', `/api/v1/users/${admin.userId}`, { role: 'user' })
    t.equal(demoted.status, 200)
    const next = await buildRecord(sarah, 'lead', { name: 'Chairs' })
    t.equal(chatter(node, next.id).length, 1, 'only the creation message: the rule did not run')
    const rules = node.database.sqlite
      .prepare('select outcome, detail from automation_runs order by id')
      .all()
    t.match(rules.at(-1), { outcome: 'skipped', detail: /no longer an active administrator/ })
  },
)

t.test('runs are kept 90 days', async (t) => {
  const { node, admin, sarah, rule } = await scene(t)
  const noted = await rule({
    name: 'Note every new lead',
    trigger: { kind: 'create' },
    actions: [{ type: 'post_message', kind: 'note', body: 'New' }],
  })
  await buildRecord(sarah, 'lead', { name: 'Old' })
  node.clock.advance(89 * 24 * 3_600_000)
  await buildRecord(sarah, 'lead', { name: 'Recent' })
  node.clock.advance(2 * 24 * 3_600_000)
  await node.housekeeping.sweep()
  t.equal(
    (await runs(admin, noted.id)).length,
    1,
    'the run of 91 days ago is gone, the one of 2 days ago stays',
  )
})
