import t, { type Test } from 'tap'
import { type Actor, buildNode, buildPartner, buildRecord, buildUser, type TestNode } from './helpers.ts'

/** A valid create body for each built-in model, and a tracked change to make on it. */
const BUILTINS = [
  { model: 'lead', values: { stage: 'new', expected_revenue: 1200 }, change: { stage: 'won' }, label: 'Won' },
  {
    model: 'sale_order',
    values: { stage: 'quotation' },
    change: { stage: 'sales_order' },
    label: 'Sales Order',
  },
  {
    model: 'purchase_order',
    values: { stage: 'rfq' },
    change: { stage: 'purchase_order' },
    label: 'Purchase Order',
  },
  { model: 'task', values: { stage: 'to_do', planned_hours: 4 }, change: { stage: 'done' }, label: 'Done' },
  {
    model: 'ticket',
    values: { stage: 'new', priority: 'urgent' },
    change: { stage: 'solved' },
    label: 'Solved',
  },
] as const

t.test('create, read, update, list and delete a record of every built-in model', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const customer = buildPartner(node, { name: 'Carla Customer' })
  for (const spec of BUILTINS) {
    await t.test(spec.model, async (t) => {
      const created = await sarah.call('POST', `/api/v1/models/${spec.model}/records`, {
        values: { name: `${spec.model} 1`, partner_id: customer.id, ...spec.values },
      })
      t.equal(created.status, 201)
      t.equal(created.body.model, spec.model)
      t.equal(created.body.name, `${spec.model} 1`)
      t.equal(created.body.version, 1)
      t.equal(created.body.createdBy, sarah.userId)
      const id = created.body.id as number
      const read = await sarah.call('GET', `/api/v1/records/${id}`)
      t.same(read.body, created.body, 'read back as created')
      const creation = await sarah.call('GET', `/api/v1/records/${id}/messages`)
      t.match(creation.body.items[0].body, /created/, 'the chatter starts with a creation message')

      const updated = await sarah.call('PATCH', `/api/v1/records/${id}`, {
        version: 1,
        values: { ...spec.change, name: `${spec.model} renamed` },
      })
      t.equal(updated.status, 200)
      t.equal(updated.body.name, `${spec.model} renamed`, 'the display name follows the name field')
      t.equal(updated.body.version, 2)
      const tracking = await sarah.call('GET', `/api/v1/records/${id}/messages?kind=tracking`)
      t.equal(tracking.body.items[0].tracking[0].new, spec.label)

      const list = await sarah.call('GET', `/api/v1/models/${spec.model}/records`)
      t.same(
        list.body.items.map((row: { id: number }) => row.id),
        [id],
      )
      const deleted = await sarah.call('DELETE', `/api/v1/records/${id}`)
      t.equal(deleted.status, 204)
      t.equal((await sarah.call('GET', `/api/v1/records/${id}`)).status, 404)
      t.equal((await sarah.call('GET', `/api/v1/records/${id}/messages`)).status, 404)
      t.same((await sarah.call('GET', `/api/v1/models/${spec.model}/records`)).body.items, [])
    })
  }
})

t.test('invalid values are refused with 400 and the field in details, and nothing is written', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const lead = await buildRecord(sarah, 'lead', { stage: 'new' })
  const cases: [string, string, Record<string, unknown>, RegExp][] = [
    ['unknown field', 'lead', { name: 'x', colour: 'red' }, /colour/],
    ['wrong type', 'lead', { name: 'x', expected_revenue: 'a lot' }, /expected_revenue/],
    ['bad selection value', 'lead', { name: 'x', stage: 'maybe' }, /stage/],
    ['unknown user id', 'lead', { name: 'x', user_id: 9999 }, /user_id/],
    ['unknown partner id', 'task', { name: 'x', partner_id: 9999 }, /partner_id/],
    ['not a real date', 'lead', { name: 'x', date_deadline: '2027-02-30' }, /date_deadline/],
    ['required missing', 'sale_order', { name: 'SO1' }, /partner_id/],
    ['required name missing', 'task', { stage: 'done' }, /name/],
    ['required name empty', 'task', { name: '' }, /name/],
  ]
  for (const [what, model, values, field] of cases) {
    const response = await sarah.call('POST', `/api/v1/models/${model}/records`, { values })
    t.equal(response.status, 400, `${what}: 400`)
    t.equal(response.body.error.code, 'E_INVALID_BODY', what)
    t.ok(
      Array.isArray(response.body.error.details) && response.body.error.details.length > 0,
      `${what}: details`,
    )
    t.match(JSON.stringify(response.body.error.details), field, `${what}: names the field`)
  }
  const patch = await sarah.call('PATCH', `/api/v1/records/${lead.id}`, {
    version: lead.version,
    values: { stage: 'maybe' },
  })
  t.equal(patch.status, 400)
  const clearRequired = await sarah.call('PATCH', `/api/v1/records/${lead.id}`, {
    version: lead.version,
    values: { name: null },
  })
  t.equal(clearRequired.status, 400, 'a required field cannot be cleared')
  const unknownModel = await sarah.call('POST', '/api/v1/models/x_nothing/records', { values: { name: 'x' } })
  t.equal(unknownModel.status, 404)
  t.equal(count(node, 'select count(*) as n from records'), 1, 'only the first lead exists')
  const after = await sarah.call('GET', `/api/v1/records/${lead.id}`)
  t.equal(after.body.version, lead.version, 'the refused writes changed nothing')
})

t.test('records and their chatter page with cursors, newest first', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node)
  const ids: number[] = []
  for (let i = 0; i < 5; i++) ids.push((await buildRecord(sarah, 'task')).id)
  await buildRecord(sarah, 'lead')
  const seen: number[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const query: string = cursor ? `?limit=2&cursor=${cursor}` : '?limit=2'
    const response = await sarah.call('GET', `/api/v1/models/task/records${query}`)
    t.equal(response.status, 200)
    t.ok(response.body.items.length <= 2)
    seen.push(...response.body.items.map((row: { id: number }) => row.id))
    cursor = response.body.nextCursor
    pages++
  } while (cursor && pages < 10)
  t.same(seen, [...ids].reverse(), 'every task once, newest first, and no lead')
  t.equal(pages, 3)
  const bad = await sarah.call('GET', '/api/v1/models/task/records?cursor=not-a-cursor')
  t.equal(bad.status, 400)
  t.equal(bad.body.error.code, 'E_INVALID_PARAMS')
  t.equal((await sarah.call('GET', '/api/v1/models/task/records?limit=0')).status, 400)
  t.equal((await sarah.call('GET', '/api/v1/models/task/records?limit=500')).status, 400)

  const task = ids[0] as number
  for (let i = 0; i < 4; i++)
    await sarah.call('POST', `/api/v1/records/${task}/messages`, { kind: 'message', body: `update ${i}` })
  const first = await sarah.call('GET', `/api/v1/records/${task}/messages?limit=3`)
  const second = await sarah.call(
    'GET',
    `/api/v1/records/${task}/messages?limit=3&cursor=${first.body.nextCursor}`,
  )
  t.same(
    [...first.body.items, ...second.body.items].map((m: { body: string }) => m.body),
    ['<p>update 3</p>', '<p>update 2</p>', '<p>update 1</p>', '<p>update 0</p>', '<p>Task created</p>'],
  )
  t.equal(second.body.nextCursor, null)
})

async function chatterSetup(t: Test) {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const john = await buildUser(node, { name: 'John Ops' })
  const admin = await buildUser(node, { name: 'Ada Admin', role: 'admin' })
  const lead = await buildRecord(sarah, 'lead')
  const post = (actor: Actor, body: string, kind: 'message' | 'note' = 'message', format?: 'html') =>
    actor.call('POST', `/api/v1/records/${lead.id}/messages`, { kind, body, ...(format ? { format } : {}) })
  return { node, sarah, john, admin, lead, post }
}

t.test(
  'editing a message keeps its earlier versions and marks it edited; only the author or an admin',
  async (t) => {
    const { node, sarah, john, admin, post } = await chatterSetup(t)
    const sent = await post(sarah, 'Delivery on Friday')
    t.equal(sent.body.editedAt, null)
    const postedAt = node.clock.now()
    node.clock.advance(60_000)
    const edited = await sarah.call('PATCH', `/api/v1/messages/${sent.body.id}`, {
      body: 'Delivery on **Monday**',
    })
    t.equal(edited.status, 200)
    t.equal(edited.body.body, '<p>Delivery on <strong>Monday</strong></p>')
    t.equal(edited.body.editedAt, postedAt + 60_000)
    t.equal(edited.body.createdAt, postedAt, 'the posting time is kept')

    const byOther = await john.call('PATCH', `/api/v1/messages/${sent.body.id}`, { body: 'hijacked' })
    t.equal(byOther.status, 403)
    t.equal(byOther.body.error.code, 'E_FORBIDDEN')
    t.equal((await john.call('DELETE', `/api/v1/messages/${sent.body.id}`)).status, 403)
    node.clock.advance(60_000)
    const byAdmin = await admin.call('PATCH', `/api/v1/messages/${sent.body.id}`, {
      body: 'Delivery on Tuesday',
    })
    t.equal(byAdmin.status, 200)

    const versions = await john.call('GET', `/api/v1/messages/${sent.body.id}/versions`)
    t.same(versions.body.items, [
      { body: '<p>Delivery on Friday</p>', replacedBy: sarah.userId, replacedAt: postedAt + 60_000 },
      {
        body: '<p>Delivery on <strong>Monday</strong></p>',
        replacedBy: admin.userId,
        replacedAt: postedAt + 120_000,
      },
    ])
    const empty = await sarah.call('PATCH', `/api/v1/messages/${sent.body.id}`, { body: '   ' })
    t.equal(empty.status, 400, 'an edit cannot empty a message')
  },
)

t.test('deleting a message leaves a tombstone; it cannot be edited or deleted again', async (t) => {
  const { node, sarah, lead, post } = await chatterSetup(t)
  const sent = await post(sarah, 'Oops, wrong record @John Ops')
  t.equal(sent.body.mentions.length, 1)
  const deleted = await sarah.call('DELETE', `/api/v1/messages/${sent.body.id}`)
  t.equal(deleted.status, 204)
  const tombstone = await sarah.call('GET', `/api/v1/messages/${sent.body.id}`)
  t.equal(tombstone.status, 200)
  t.equal(tombstone.body.deleted, true)
  t.equal(tombstone.body.body, '')
  t.same(tombstone.body.mentions, [])
  const thread = await sarah.call('GET', `/api/v1/records/${lead.id}/messages?kind=message`)
  t.same(
    thread.body.items.map((m: { id: number; deleted: boolean }) => [m.id, m.deleted]),
    [[sent.body.id, true]],
    'still in the thread, as deleted',
  )
  t.equal(
    (await sarah.call('PATCH', `/api/v1/messages/${sent.body.id}`, { body: 'back' })).body.error.code,
    'E_MESSAGE_IMMUTABLE',
  )
  t.equal((await sarah.call('DELETE', `/api/v1/messages/${sent.body.id}`)).status, 409)
  const row = node.database.sqlite.prepare('select body from messages where id = ?').get(sent.body.id)
  t.same(row, { body: '' }, 'the text is gone from the database too')
})

t.test('the chatter filters by kind', async (t) => {
  const { sarah, lead, post } = await chatterSetup(t)
  await post(sarah, 'to the customer')
  await post(sarah, 'internal remark', 'note')
  await sarah.call('PATCH', `/api/v1/records/${lead.id}`, { version: lead.version, values: { stage: 'won' } })
  const kinds = async (query: string) => {
    const response = await sarah.call('GET', `/api/v1/records/${lead.id}/messages${query}`)
    return response.status === 200
      ? response.body.items.map((m: { kind: string }) => m.kind)
      : response.status
  }
  t.same(await kinds(''), ['tracking', 'note', 'message', 'tracking'])
  t.same(await kinds('?kind=note'), ['note'])
  t.same(await kinds('?kind=message,tracking'), ['tracking', 'message', 'tracking'])
  t.same(await kinds('?kind=activity'), [])
  t.equal(await kinds('?kind=notes'), 400)
  t.equal(await kinds('?kind=message,bogus'), 400)
  const bad = await sarah.call('GET', `/api/v1/records/${lead.id}/messages?kind=email`)
  t.equal(bad.body.error.code, 'E_INVALID_PARAMS')
})

t.test(
  'message bodies are sanitized: no scripts, handlers, javascript: links, styles or frames',
  async (t) => {
    const { sarah, post } = await chatterSetup(t)
    const cases: [string, string][] = [
      ['<p>Hi<script>alert(1)</script></p>', '<p>Hi</p>'],
      ['<p onclick="steal()">Hi <img src="x" onerror="alert(1)"></p>', '<p>Hi </p>'],
      [
        '<a href="javascript:alert(1)">click</a>',
        '<a rel="noopener noreferrer nofollow" target="_blank">click</a>',
      ],
      [
        '<a href="JaVaScRiPt:alert(1)">click</a>',
        '<a rel="noopener noreferrer nofollow" target="_blank">click</a>',
      ],
      ['<style>p { display: none }</style><p>visible</p>', '<p>visible</p>'],
      ['<p style="color: red">red</p>', '<p>red</p>'],
      ['<iframe src="https://evil.test"></iframe><p>after</p>', '<p>after</p>'],
      [
        '<a href="https://example.com/x" target="_self" onmouseover="x()">site</a>',
        '<a href="https://example.com/x" rel="noopener noreferrer nofollow" target="_blank">site</a>',
      ],
      [
        '<a href="mailto:sales@acme.test">mail</a>',
        '<a href="mailto:sales@acme.test" rel="noopener noreferrer nofollow" target="_blank">mail</a>',
      ],
      ['<form action="https://evil.test"><input name="pw"></form><p>ok</p>', '<p>ok</p>'],
    ]
    for (const [input, expected] of cases) {
      const sent = await post(sarah, input, 'message', 'html')
      t.equal(sent.status, 201, input)
      t.equal(sent.body.body, expected, input)
    }
    const markdown = await post(sarah, '[site](https://example.com) and [bad](javascript:alert(1))')
    t.equal(
      markdown.body.body,
      '<p><a href="https://example.com" rel="noopener noreferrer nofollow" target="_blank">site</a> and [bad](javascript:alert(1))</p>',
    )
    const onlyScript = await post(sarah, '<script>alert(1)</script>', 'message', 'html')
    t.equal(onlyScript.status, 400, 'nothing left to post')
  },
)

/** One number from SQL, for checks on what was (not) written. */
function count(node: TestNode, query: string, ...params: unknown[]): number {
  return (node.database.sqlite.prepare(query).get(...params) as { n: number }).n
}
