import t from 'tap'
import { attachments } from '../src/db/schema.ts'
import { buildNode, buildPartner, buildRecord, buildUser, type TestNode } from './helpers.ts'

type Row = Record<string, unknown>
const rows = (node: TestNode, sql: string, ...params: unknown[]) =>
  node.database.sqlite.prepare(sql).all(...params) as Row[]
/** Queued emails with their content (stored once per distinct email). */
const MAIL = 'select m.id, m.email_to, m.subject, m.body from email_notifications m'

t.test('scheduling for someone else tells them once, by their channel, and makes them follow', async (t) => {
  const node = await buildNode(t) // 2026-11-25T10:00:00Z
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const john = await buildUser(node, { name: 'John Ops', notification: 'inbox' })
  const mia = await buildUser(node, { name: 'Mia Mail', notification: 'email' })
  const lead = await buildRecord(sarah, 'lead', { name: 'Big deal' })

  const call = await sarah.call('POST', `/api/v1/records/${lead.id}/activities`, {
    type: 'call',
    summary: 'Discuss the renewal',
    note: 'Ask about **volume**',
    assigneeId: john.userId,
  })
  t.equal(call.status, 201)
  t.equal(call.body.type.key, 'call')
  t.equal(call.body.deadline, '2026-11-27', 'Call: today + 2 days by default')
  t.equal(call.body.state, 'planned')
  t.equal(call.body.note, '<p>Ask about <strong>volume</strong></p>')
  t.equal(call.body.assignee.name, 'John Ops')

  const inbox = await john.call('GET', '/api/v1/inbox')
  t.equal(inbox.body.items.length, 1, 'John has one inbox notification')
  t.equal(inbox.body.items[0].reason, 'activity')
  t.equal(inbox.body.items[0].activityId, call.body.id)
  t.equal(rows(node, 'select * from email_notifications').length, 0, 'an inbox user gets no email')
  const followers = await sarah.call('GET', `/api/v1/records/${lead.id}/followers`)
  t.ok(
    followers.body.items.some((f: { partnerId: number }) => f.partnerId === john.partnerId),
    'the assignee follows the record',
  )

  const todo = await sarah.call('POST', `/api/v1/records/${lead.id}/activities`, {
    type: 'todo',
    assigneeId: mia.userId,
  })
  t.equal(todo.body.deadline, '2026-11-30', 'To Do: today + 5 days')
  const miaNotes = rows(node, 'select reason, channel from notifications where partner_id = ?', mia.partnerId)
  t.same(miaNotes, [{ reason: 'activity', channel: 'email' }])
  const mail = rows(node, MAIL)
  t.equal(mail.length, 1)
  t.equal(mail[0]?.email_to, `${mia.login}@acme.test`)
  t.equal(mail[0]?.subject, '"Big deal: To Do" assigned to you')
  t.match(String(mail[0]?.body), /Sarah Sales/)

  const before = rows(node, 'select id from notifications').length
  const mine = await sarah.call('POST', `/api/v1/records/${lead.id}/activities`, { type: 'email' })
  t.equal(mine.status, 201)
  t.equal(mine.body.assignee.userId, sarah.userId, 'the caller by default')
  t.equal(mine.body.deadline, '2026-11-25', 'Email: no delay, due today')
  t.equal(mine.body.state, 'today')
  t.equal(rows(node, 'select id from notifications').length, before, 'nobody is told about self-assignment')
})

t.test('reassigning tells the new assignee; rescheduling and snoozing move the date', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const john = await buildUser(node, { name: 'John Ops' })
  const lead = await buildRecord(sarah)
  const created = await sarah.call('POST', `/api/v1/records/${lead.id}/activities`, {
    type: 'todo',
    deadline: '2026-11-20',
  })
  t.equal(created.body.state, 'overdue')
  const id = created.body.id

  const reassigned = await sarah.call('PATCH', `/api/v1/activities/${id}`, { assigneeId: john.userId })
  t.equal(reassigned.status, 200)
  t.equal(reassigned.body.assignee.userId, john.userId)
  const johnNotes = rows(
    node,
    'select reason, activity_id from notifications where partner_id = ?',
    john.partnerId,
  )
  t.same(johnNotes, [{ reason: 'activity', activity_id: id }])

  // John gives it back to himself again: nothing new for him, he did it himself.
  await john.call('PATCH', `/api/v1/activities/${id}`, { assigneeId: john.userId, summary: 'Check stock' })
  t.equal(rows(node, 'select id from notifications where partner_id = ?', john.partnerId).length, 1)

  const rescheduled = await john.call('PATCH', `/api/v1/activities/${id}`, { deadline: '2026-12-01' })
  t.equal(rescheduled.body.deadline, '2026-12-01')
  t.equal(rescheduled.body.summary, 'Check stock')
  t.equal(rescheduled.body.state, 'planned')

  // Snooze = +7 days from the later of the deadline and today.
  const snoozed = await john.call('POST', `/api/v1/activities/${id}/snooze`)
  t.equal(snoozed.body.deadline, '2026-12-08')
  const late = await sarah.call('POST', `/api/v1/records/${lead.id}/activities`, {
    type: 'todo',
    deadline: '2026-11-01',
  })
  const lateSnoozed = await sarah.call('POST', `/api/v1/activities/${late.body.id}/snooze`)
  t.equal(lateSnoozed.body.deadline, '2026-12-02', 'an overdue one: a week from today (2026-11-25)')
  t.equal(lateSnoozed.body.state, 'planned')
})

t.test('a meeting keeps its local start time when it is snoozed across a DST change', async (t) => {
  const node = await buildNode(t)
  node.clock.set(Date.parse('2026-10-20T12:00:00Z'))
  const eva = await buildUser(node, { name: 'Eva', timeZone: 'Europe/Brussels' })
  const lead = await buildRecord(eva)
  // 09:00 in Brussels, summer time (UTC+2).
  const meeting = await eva.call('POST', `/api/v1/records/${lead.id}/activities`, {
    type: 'meeting',
    startsAt: '2026-10-22T09:00:00+02:00',
    durationMinutes: 45,
  })
  t.equal(meeting.status, 201)
  t.equal(meeting.body.deadline, '2026-10-22', 'the deadline is the start date in Brussels')
  t.equal(meeting.body.startsAt, '2026-10-22T07:00:00.000Z')
  const snoozed = await eva.call('POST', `/api/v1/activities/${meeting.body.id}/snooze`)
  t.equal(snoozed.body.deadline, '2026-10-29')
  t.equal(snoozed.body.startsAt, '2026-10-29T08:00:00.000Z', 'still 09:00 in Brussels, now UTC+1')
})

t.test('cancel keeps the row; a closed activity cannot be changed again', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node)
  const lead = await buildRecord(sarah)
  const created = await sarah.call('POST', `/api/v1/records/${lead.id}/activities`, { type: 'todo' })
  const canceled = await sarah.call('POST', `/api/v1/activities/${created.body.id}/cancel`)
  t.equal(canceled.status, 200)
  t.equal(canceled.body.status, 'canceled')
  t.equal(canceled.body.state, 'canceled')
  t.same(rows(node, 'select status from activities where id = ?', created.body.id), [{ status: 'canceled' }])
  const list = await sarah.call('GET', `/api/v1/records/${lead.id}/activities`)
  t.same(list.body, { state: null, items: [] }, 'no open activities, no state')
  for (const [method, url, body] of [
    ['POST', `/api/v1/activities/${created.body.id}/done`, {}],
    ['POST', `/api/v1/activities/${created.body.id}/snooze`, undefined],
    ['PATCH', `/api/v1/activities/${created.body.id}`, { deadline: '2026-12-01' }],
  ] as const) {
    const refused = await sarah.call(method, url, body)
    t.equal(refused.status, 409, `${method} ${url}`)
    t.equal(refused.body.error.code, 'E_ACTIVITY_CLOSED')
  }
})

t.test(
  'done posts one internal activity message, keeps the activity and triggers the next one',
  async (t) => {
    const node = await buildNode(t)
    const sarah = await buildUser(node, { name: 'Sarah Sales' })
    const john = await buildUser(node, { name: 'John Ops', notification: 'email' })
    const customer = buildPartner(node, { name: 'Carla Customer', email: 'carla@client.test' })
    const lead = await buildRecord(sarah, 'lead', { partner_id: customer.id })
    for (const partnerId of [john.partnerId, customer.id])
      t.equal((await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId })).status, 201)

    const upload = await sarah.call('POST', `/api/v1/records/${lead.id}/activities`, {
      type: 'upload_document',
      summary: 'Signed NDA',
      note: 'The <b>final</b> version',
      deadline: '2026-11-26',
      assigneeId: john.userId,
    })
    t.equal(upload.status, 201)
    const fileOnActivity = node.database.db
      .insert(attachments)
      .values({
        sha256: 'a'.repeat(43),
        size: 3,
        fileName: 'nda.pdf',
        mimeType: 'application/pdf',
        recordId: lead.id,
        activityId: upload.body.id,
        uploadedBy: sarah.userId,
        createdAt: node.clock.now(),
      })
      .returning()
      .get()
    const mailBefore = rows(node, 'select coalesce(max(id), 0) as id from email_notifications')[0]?.id

    node.clock.advance(3 * 86_400_000) // 2026-11-28: done two days late, by Sarah for John
    const done = await sarah.call('POST', `/api/v1/activities/${upload.body.id}/done`, {
      feedback: 'Uploaded; see <attached>\nsecond line',
    })
    t.equal(done.status, 200)
    t.equal(done.body.activity.status, 'done')
    t.equal(done.body.activity.feedback, 'Uploaded; see <attached>\nsecond line')
    t.equal(done.body.activity.doneBy, sarah.userId)
    t.same(done.body.suggestedTypes, [])
    t.equal(done.body.triggered.type.key, 'request_signature', 'Upload Document triggers Request Signature')
    t.equal(done.body.triggered.deadline, '2026-11-29', 'previous deadline (26th) + 3 days')
    t.equal(done.body.triggered.assignee.userId, john.userId, 'same assignee (no default user on the type)')

    const messages = await sarah.call('GET', `/api/v1/records/${lead.id}/messages?kind=activity`)
    t.equal(messages.body.items.length, 1, 'one activity message')
    const message = messages.body.items[0]
    t.equal(message.id, done.body.messageId)
    t.equal(message.subtype, 'activities')
    t.equal(message.internal, true)
    t.equal(
      message.body,
      '<p><strong>Upload Document done</strong>: Signed NDA</p><blockquote><p>The &lt;b&gt;final&lt;/b&gt; version</p></blockquote>' +
        '<p>Feedback: Uploaded; see &lt;attached&gt;<br />second line</p><p>(originally assigned to John Ops)</p>',
    )
    t.same(
      message.attachments.map((file: { id: number }) => file.id),
      [fileOnActivity.id],
      "the activity's files move onto the message",
    )
    t.same(
      rows(
        node,
        'select t.key from messages m join activity_types t on t.id = m.activity_type_id where m.id = ?',
        message.id,
      ),
      [{ key: 'upload_document' }],
      'the message carries the activity type, for reporting',
    )

    const mail = rows(node, `${MAIL} where m.id > ?`, mailBefore)
    t.notOk(
      mail.some((row) => row.email_to === 'carla@client.test'),
      'the customer following the record gets nothing: the message is internal',
    )
    t.equal(rows(node, 'select id from notifications where partner_id = ?', customer.id).length, 0)
    t.ok(
      mail.some(
        (row) => row.email_to === `${john.login}@acme.test` && String(row.body).includes('Signed NDA'),
      ),
      'John, an internal follower by email, is told it was done',
    )
    t.same(
      rows(node, 'select status, feedback from activities where id = ?', upload.body.id),
      [{ status: 'done', feedback: 'Uploaded; see <attached>\nsecond line' }],
      'the done activity is kept, for reporting',
    )
    const open = await sarah.call('GET', `/api/v1/records/${lead.id}/activities`)
    t.same(
      open.body.items.map((item: { type: { key: string } }) => item.type.key),
      ['request_signature'],
    )
  },
)

t.test('a Call suggests the next types; the assignee marks it done themselves', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node)
  const john = await buildUser(node, { name: 'John Ops' })
  const lead = await buildRecord(sarah)
  const call = await sarah.call('POST', `/api/v1/records/${lead.id}/activities`, {
    type: 'call',
    assigneeId: john.userId,
  })
  const done = await john.call('POST', `/api/v1/activities/${call.body.id}/done`)
  t.equal(done.status, 200)
  t.same(done.body.suggestedTypes, ['meeting', 'email'])
  t.equal(done.body.triggered, null)
  const message = await sarah.call('GET', `/api/v1/messages/${done.body.messageId}`)
  t.equal(message.body.body, '<p><strong>Call done</strong></p>', 'no "originally assigned" line')
  t.equal(message.body.author.partnerId, john.partnerId)
})

t.test('someone who cannot read the record gets 404 for its activities', async (t) => {
  const node = await buildNode(t)
  const admin = await buildUser(node, { role: 'admin' })
  const defined = await admin.call('POST', '/api/v1/models', {
    name: 'x_contract',
    label: 'Contract',
    userAccess: 'own',
    fields: [{ name: 'name', label: 'Name', type: 'char', required: true }],
  })
  t.equal(defined.status, 201)
  const owner = await buildUser(node, { name: 'Owner' })
  const outsider = await buildUser(node, { name: 'Outsider' })
  const doer = await buildUser(node, { name: 'Doer' })
  const contract = await buildRecord(owner, 'x_contract')
  const activity = await owner.call('POST', `/api/v1/records/${contract.id}/activities`, { type: 'todo' })
  t.equal(activity.status, 201)
  const missing = await outsider.call('GET', '/api/v1/records/999999/activities')
  for (const [method, url, body] of [
    ['GET', `/api/v1/records/${contract.id}/activities`, undefined],
    ['POST', `/api/v1/records/${contract.id}/activities`, { type: 'todo' }],
    ['GET', `/api/v1/activities/${activity.body.id}`, undefined],
    ['PATCH', `/api/v1/activities/${activity.body.id}`, { deadline: '2026-12-24' }],
    ['POST', `/api/v1/activities/${activity.body.id}/snooze`, undefined],
    ['POST', `/api/v1/activities/${activity.body.id}/cancel`, undefined],
    ['POST', `/api/v1/activities/${activity.body.id}/done`, {}],
  ] as const) {
    const refused = await outsider.call(method, url, body)
    t.equal(refused.status, 404, `${method} ${url}`)
    t.same(refused.body, missing.body, 'the same answer as for a record that does not exist')
  }
  t.equal(rows(node, "select id from activities where status = 'open'").length, 1, 'nothing changed')

  // Assigned to someone: they follow the record, so they can now see it and act on it.
  const given = await owner.call('POST', `/api/v1/records/${contract.id}/activities`, {
    type: 'todo',
    assigneeId: doer.userId,
  })
  t.equal((await doer.call('GET', `/api/v1/records/${contract.id}/activities`)).status, 200)
  t.equal((await doer.call('POST', `/api/v1/activities/${given.body.id}/done`, {})).status, 200)
})

t.test('bad input is a 400 with a code, never a 500, and writes nothing', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node)
  const lead = await buildRecord(sarah)
  const url = `/api/v1/records/${lead.id}/activities`
  const cases: [string, unknown, string][] = [
    ['unknown type', { type: 'fax' }, 'E_INVALID_BODY'],
    ['no type', {}, 'E_INVALID_BODY'],
    ['not a date', { type: 'todo', deadline: 'tomorrow' }, 'E_INVALID_BODY'],
    ['not a real date', { type: 'todo', deadline: '2026-02-30' }, 'E_INVALID_BODY'],
    ['unknown assignee', { type: 'todo', assigneeId: 999_999 }, 'E_INVALID_BODY'],
    ['start time on a To Do', { type: 'todo', startsAt: '2026-12-01T09:00:00Z' }, 'E_INVALID_BODY'],
    ['start time without offset', { type: 'call', startsAt: '2026-12-01T09:00:00' }, 'E_INVALID_BODY'],
    ['unknown field', { type: 'todo', color: 'red' }, 'E_INVALID_BODY'],
    ['negative duration', { type: 'call', durationMinutes: -5 }, 'E_INVALID_BODY'],
    ['an array', ['todo'], 'E_INVALID_BODY'],
  ]
  for (const [label, body, code] of cases) {
    const response = await sarah.call('POST', url, body)
    t.equal(response.status, 400, label)
    t.equal(response.body.error.code, code, label)
  }
  const created = await sarah.call('POST', url, { type: 'todo' })
  const id = created.body.id
  const more: [string, 'GET' | 'POST' | 'PATCH', string, unknown, string][] = [
    ['empty patch', 'PATCH', `/api/v1/activities/${id}`, {}, 'E_INVALID_BODY'],
    ['bad deadline', 'PATCH', `/api/v1/activities/${id}`, { deadline: '2026-13-01' }, 'E_INVALID_BODY'],
    ['bad id', 'PATCH', '/api/v1/activities/abc', { deadline: '2026-12-01' }, 'E_INVALID_PARAMS'],
    ['bad file', 'POST', `/api/v1/activities/${id}/done`, { attachmentIds: [424242] }, 'E_INVALID_BODY'],
    ['bad feedback', 'POST', `/api/v1/activities/${id}/done`, { feedback: 42 }, 'E_INVALID_BODY'],
    ['bad state', 'GET', '/api/v1/my/activities?state=late', undefined, 'E_INVALID_PARAMS'],
    ['bad cursor', 'GET', '/api/v1/my/activities?cursor=zzz', undefined, 'E_INVALID_PARAMS'],
  ]
  for (const [label, method, path, body, code] of more) {
    const response = await sarah.call(method, path, body)
    t.equal(response.status, 400, label)
    t.equal(response.body.error.code, code, label)
  }
  t.same(
    rows(node, 'select status from activities'),
    [{ status: 'open' }],
    'the refused done (unknown file) left the activity open and posted nothing',
  )
  t.equal(rows(node, "select id from messages where kind = 'activity'").length, 0)
})

t.test('activity types list their icon, delay and chaining', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node)
  const types = await sarah.call('GET', '/api/v1/activity-types')
  t.equal(types.status, 200)
  t.same(
    types.body.items.map(
      (type: { key: string; icon: string; delay: { count: number }; chaining: string }) => [
        type.key,
        type.icon,
        type.delay.count,
        type.chaining,
      ],
    ),
    [
      ['todo', 'square-check', 5, 'none'],
      ['call', 'phone', 2, 'suggest'],
      ['meeting', 'calendar', 0, 'suggest'],
      ['email', 'mail', 0, 'suggest'],
      ['upload_document', 'file-up', 5, 'trigger'],
      ['request_signature', 'signature', 3, 'suggest'],
    ],
  )
  const readOnly = await buildUser(node, { scopes: ['records:read'] })
  const refused = await readOnly.call('GET', '/api/v1/activity-types')
  t.equal(refused.status, 403)
  t.equal(refused.body.error.code, 'E_SCOPE')
})

t.test('two people marking the same activity done at once: one message, the other gets 409', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node)
  const john = await buildUser(node)
  const lead = await buildRecord(sarah)
  const todo = await sarah.call('POST', `/api/v1/records/${lead.id}/activities`, {
    type: 'todo',
    assigneeId: john.userId,
  })
  const [a, b] = await Promise.all([
    sarah.call('POST', `/api/v1/activities/${todo.body.id}/done`, { feedback: 'by Sarah' }),
    john.call('POST', `/api/v1/activities/${todo.body.id}/done`, { feedback: 'by John' }),
  ])
  t.same([a.status, b.status].sort(), [200, 409])
  t.equal([a, b].find((response) => response.status === 409)?.body.error.code, 'E_ACTIVITY_CLOSED')
  t.equal(rows(node, "select id from messages where kind = 'activity'").length, 1)
})
