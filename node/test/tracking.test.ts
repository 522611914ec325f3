import t from 'tap'
import { type Actor, buildNode, buildPartner, buildRecord, buildUser, type TestNode } from './helpers.ts'

type Tracking = { field: string; label: string; old: string | null; new: string | null }
type Message = { id: number; kind: string; type?: string; tracking: Tracking[]; body: string }

async function chatter(actor: Actor, recordId: number, kind = 'tracking'): Promise<Message[]> {
  const response = await actor.call('GET', `/api/v1/records/${recordId}/messages?kind=${kind}`)
  return response.body.items
}

/** Intl puts a narrow no-break space before AM/PM in recent ICU versions; people read it as a space. */
const plain = (text: string | null) => text?.replace(/[\u202f\u00a0]/g, ' ') ?? null

async function write(actor: Actor, record: { id: number; version: number }, values: Record<string, unknown>) {
  const response = await actor.call('PATCH', `/api/v1/records/${record.id}`, {
    version: record.version,
    values,
  })
  return response
}

function mailTo(node: TestNode, email: string) {
  return node.database.sqlite
    .prepare('select m.subject, m.body from email_notifications m where m.email_to = ? order by m.id')
    .all(email) as { subject: string; body: string }[]
}

t.test('one tracking message per write, values as people saw them, in tracking order', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const john = await buildUser(node, { name: 'John Closer' })
  const acme = buildPartner(node, { name: 'Globex Corp' })
  const lead = await buildRecord(sarah, 'lead', { stage: 'new', expected_revenue: 10000 })
  const written = await write(sarah, lead, {
    expected_revenue: 15000,
    date_deadline: '2027-01-20',
    partner_id: acme.id,
    user_id: john.userId,
    stage: 'qualified',
    priority: 'high',
  })
  t.equal(written.status, 200)
  t.equal(written.body.version, lead.version + 1)
  const tracking = await chatter(sarah, lead.id)
  t.equal(tracking.length, 2, 'the creation message and one message for this write')
  t.same(
    tracking[0]?.tracking,
    [
      { field: 'stage', label: 'Stage', old: 'New', new: 'Qualified' },
      { field: 'user_id', label: 'Salesperson', old: null, new: 'John Closer' },
      { field: 'partner_id', label: 'Customer', old: null, new: 'Globex Corp' },
      { field: 'expected_revenue', label: 'Expected Revenue', old: '$10,000.00', new: '$15,000.00' },
      { field: 'priority', label: 'Priority', old: null, new: 'High' },
      { field: 'date_deadline', label: 'Expected Closing', old: null, new: 'Jan 20, 2027' },
    ],
    'labels, names, money and dates, ordered by tracking sequence',
  )
})

t.test('a datetime is shown in the time zone of the person who changed it', async (t) => {
  const node = await buildNode(t)
  const nora = await buildUser(node, { name: 'Nora NewYork', timeZone: 'America/New_York' })
  const customer = buildPartner(node)
  const order = await buildRecord(nora, 'sale_order', { partner_id: customer.id })
  const written = await write(nora, order, { commitment_date: '2027-01-20T15:30:00Z' })
  t.equal(written.status, 200)
  const [change] = (await chatter(nora, order.id))[0]?.tracking ?? []
  t.equal(change?.label, 'Delivery Date')
  t.equal(plain(change?.new ?? null), 'Jan 20, 2027, 10:30 AM', '15:30 UTC is 10:30 in New York')
})

t.test('untracked changes and empty → empty log nothing, but the version still moves', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const lead = await buildRecord(sarah, 'lead')
  const before = (await chatter(sarah, lead.id, 'message,note,tracking,activity')).length
  const untracked = await write(sarah, lead, { description: 'Met at the fair', email: 'buyer@client.test' })
  t.equal(untracked.status, 200)
  const empty = await write(sarah, untracked.body, { partner_id: null, date_deadline: null, priority: null })
  t.equal(empty.status, 200)
  t.equal(empty.body.version, lead.version + 2)
  t.equal((await chatter(sarah, lead.id, 'message,note,tracking,activity')).length, before, 'no new message')
  t.equal(
    count(node, 'select count(*) as n from notifications where record_id = ?', lead.id),
    0,
    'nobody notified',
  )
})

t.test('restricted fields are in the chatter for internal users but never in an email', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const emil = await buildUser(node, { name: 'Emil Email', notification: 'email', email: 'emil@acme.test' })
  const carla = buildPartner(node, { name: 'Carla Customer', email: 'carla@client.test' })
  const lead = await buildRecord(sarah, 'lead', { stage: 'new', partner_id: carla.id })
  for (const partnerId of [emil.partnerId, carla.id])
    await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId, subscription: 'all' })

  const both = await write(sarah, lead, { probability: 42.5, stage: 'proposition' })
  t.equal(both.status, 200)
  const [message] = await chatter(emil, lead.id)
  t.same(
    message?.tracking.map((change) => [change.label, change.old, change.new]),
    [
      ['Stage', 'New', 'Proposition'],
      ['Probability (%)', null, '42.5'],
    ],
    'an internal user sees the probability in the chatter',
  )
  for (const address of ['emil@acme.test', 'carla@client.test']) {
    const mails = mailTo(node, address)
    t.equal(mails.length, 1, `${address} is told about the stage`)
    t.match(mails[0]?.body, /Stage: New → Proposition/)
    t.notMatch(mails[0]?.body, /Probability|42\.5/, `${address}: no probability in the email`)
  }

  const onlyRestricted = await write(sarah, both.body, { probability: 80 })
  t.equal(onlyRestricted.status, 200)
  t.equal(mailTo(node, 'emil@acme.test').length, 1, 'a change of restricted fields only sends no email')
  t.equal(mailTo(node, 'carla@client.test').length, 1)
  t.equal((await chatter(sarah, lead.id))[0]?.tracking[0]?.new, '80', 'but it is in the chatter')

  const order = await buildRecord(sarah, 'sale_order', { partner_id: carla.id })
  await sarah.call('POST', `/api/v1/records/${order.id}/followers`, {
    partnerId: carla.id,
    subscription: 'all',
  })
  const margin = await write(sarah, order, { margin: 1234.5, amount_total: 9999 })
  t.equal(margin.status, 200)
  const orderMail = node.database.sqlite
    .prepare('select m.body from email_notifications m where m.record_id = ?')
    .all(order.id) as { body: string }[]
  t.equal(orderMail.length, 1)
  t.match(orderMail[0]?.body, /Total: — → \$9,999\.00/)
  t.notMatch(orderMail[0]?.body, /Margin|1,234\.50/, 'no margin in the customer’s email')
  t.same(
    (await chatter(sarah, order.id))[0]?.tracking.map((change) => change.label),
    ['Total', 'Margin'],
  )
})

t.test('writing with an old version is refused with 409 and changes nothing', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const john = await buildUser(node, { name: 'John Ops' })
  const lead = await buildRecord(sarah, 'lead', { stage: 'new' })
  const first = await write(sarah, lead, { stage: 'qualified' })
  t.equal(first.status, 200)
  const countMessages = () => count(node, 'select count(*) as n from messages where record_id = ?', lead.id)
  const before = countMessages()
  const stale = await write(john, lead, { stage: 'lost', user_id: john.userId })
  t.equal(stale.status, 409)
  t.equal(stale.body.error.code, 'E_VERSION_CONFLICT')
  const now = await sarah.call('GET', `/api/v1/records/${lead.id}`)
  t.equal(now.body.values.stage, 'qualified')
  t.equal(now.body.values.user_id, null)
  t.equal(now.body.version, first.body.version)
  t.equal(countMessages(), before, 'no tracking message')
  const followers = await sarah.call('GET', `/api/v1/records/${lead.id}/followers`)
  t.notOk(
    followers.body.items.some((row: { partnerId: number }) => row.partnerId === john.partnerId),
    'the refused assignee does not follow',
  )
})

t.test('a new assignee follows the record and is told; assigning yourself tells nobody', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const john = await buildUser(node, { name: 'John Closer' })
  const emil = await buildUser(node, { name: 'Emil Email', notification: 'email', email: 'emil@acme.test' })
  const lead = await buildRecord(sarah, 'lead')

  const assigned = await write(sarah, lead, { user_id: john.userId })
  t.equal(assigned.status, 200)
  const inbox = await john.call('GET', '/api/v1/inbox')
  t.equal(inbox.body.items.length, 1)
  t.equal(inbox.body.items[0].reason, 'assigned')
  t.same(inbox.body.items[0].message.tracking[0], {
    field: 'user_id',
    label: 'Salesperson',
    old: null,
    new: 'John Closer',
  })
  const followers = async () =>
    (await sarah.call('GET', `/api/v1/records/${lead.id}/followers`)).body.items.map(
      (row: { name: string; subscription: string }) => `${row.name}:${row.subscription}`,
    )
  t.same(await followers(), ['Sarah Sales:all', 'John Closer:all'])

  const byEmail = await write(john, assigned.body, { user_id: emil.userId })
  t.equal(byEmail.status, 200)
  const mails = mailTo(node, 'emil@acme.test')
  t.equal(mails.length, 1, 'an assignee who chose email gets an email')
  t.match(mails[0]?.body, /Salesperson: John Closer → Emil Email/)
  t.same(
    (
      node.database.sqlite
        .prepare("select reason from notifications where partner_id = ? and channel = 'email'")
        .all(emil.partnerId) as { reason: string }[]
    ).map((row) => row.reason),
    ['assigned'],
  )
  t.same(
    await followers(),
    ['Sarah Sales:all', 'John Closer:all', 'Emil Email:all'],
    'the previous one stays',
  )

  const emilInboxBefore = count(
    node,
    'select count(*) as n from notifications where partner_id = ?',
    emil.partnerId,
  )
  const task = await buildRecord(emil, 'task', { user_id: emil.userId })
  t.equal(task.values.user_id, emil.userId)
  const self = await write(emil, await (await emil.call('GET', `/api/v1/records/${lead.id}`)).body, {
    user_id: emil.userId,
    stage: 'won',
  })
  t.equal(self.status, 200)
  t.equal(
    count(node, 'select count(*) as n from notifications where partner_id = ?', emil.partnerId),
    emilInboxBefore,
    'creating a task assigned to yourself and writing your own record tell you nothing',
  )
})

t.test('an assignee set at creation follows and is told, unless they created it', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const john = await buildUser(node, { name: 'John Closer' })
  const ticket = await buildRecord(sarah, 'ticket', { user_id: john.userId })
  const inbox = await john.call('GET', '/api/v1/inbox')
  t.equal(inbox.body.items.length, 1)
  t.equal(inbox.body.items[0].reason, 'assigned')
  t.equal(inbox.body.items[0].record.id, ticket.id)
  const followers = await sarah.call('GET', `/api/v1/records/${ticket.id}/followers`)
  t.same(
    followers.body.items.map((row: { name: string }) => row.name),
    ['Sarah Sales', 'John Closer'],
  )
})

t.test('tracking and creation messages cannot be edited or deleted', async (t) => {
  const node = await buildNode(t)
  const admin = await buildUser(node, { name: 'Ada Admin', role: 'admin' })
  const lead = await buildRecord(admin, 'lead')
  await write(admin, lead, { stage: 'won' })
  const messages = await chatter(admin, lead.id)
  t.equal(messages.length, 2)
  for (const message of messages) {
    const edited = await admin.call('PATCH', `/api/v1/messages/${message.id}`, { body: 'rewritten history' })
    t.equal(edited.status, 409)
    t.equal(edited.body.error.code, 'E_MESSAGE_IMMUTABLE')
    const deleted = await admin.call('DELETE', `/api/v1/messages/${message.id}`)
    t.equal(deleted.status, 409)
    t.equal(deleted.body.error.code, 'E_MESSAGE_IMMUTABLE')
  }
  const after = await chatter(admin, lead.id)
  t.same(after, messages, 'unchanged')
})

/** One number from SQL, for checks on what was (not) written. */
function count(node: TestNode, query: string, ...params: unknown[]): number {
  return (node.database.sqlite.prepare(query).get(...params) as { n: number }).n
}

t.test(
  'assigning someone through an untracked assignee field still makes them follow and tells them',
  async (t) => {
    const node = await buildNode(t)
    const admin = await buildUser(node, { name: 'Ada Admin', role: 'admin' })
    const defined = await admin.call('POST', '/api/v1/models', {
      name: 'x_claim',
      label: 'Claim',
      userAccess: 'all',
      fields: [
        { name: 'name', label: 'Title', type: 'char', required: true },
        { name: 'handler_id', label: 'Handler', type: 'user', assignee: true },
      ],
    })
    t.equal(defined.status, 201)
    const sarah = await buildUser(node, { name: 'Sarah Sales' })
    const john = await buildUser(node, { name: 'John Handler' })
    const claim = await buildRecord(sarah, 'x_claim')
    const assigned = await write(sarah, claim, { handler_id: john.userId })
    t.equal(assigned.status, 200)
    const followers = await sarah.call('GET', `/api/v1/records/${claim.id}/followers`)
    t.ok(
      followers.body.items.some((row: { partnerId: number }) => row.partnerId === john.partnerId),
      'the new handler follows the claim',
    )
    const inbox = await john.call('GET', '/api/v1/inbox')
    t.equal(inbox.body.items.length, 1, 'and is told')
    t.equal(inbox.body.items[0]?.reason, 'assigned')
    t.equal(inbox.body.items[0]?.message?.body, '<p>Assigned to John Handler</p>', 'the chatter says who')
    const again = await write(sarah, assigned.body, { name: 'Renamed claim' })
    t.equal(again.status, 200)
    t.equal((await john.call('GET', '/api/v1/inbox')).body.items.length, 1, 'an unrelated write tells nobody')
  },
)
