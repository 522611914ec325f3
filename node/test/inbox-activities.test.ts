import t from 'tap'
import { buildNode, buildRecord, buildUser } from './helpers.ts'

/** An activity notification in the inbox says what the activity is, not only that there is one. */

t.test('an assigned activity appears in the inbox with its type, summary, deadline and author', async (t) => {
  const node = await buildNode(t)
  const ada = await buildUser(node, { name: 'Ada Admin' })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const lead = await buildRecord(ada, 'lead', { name: 'Walnut desks' })
  const call = await ada.call('POST', `/api/v1/records/${lead.id}/activities`, {
    type: 'call',
    summary: 'Ask for the PO number',
    deadline: '2026-12-09',
    assigneeId: sarah.userId,
  })
  t.equal(call.status, 201)
  const todo = await ada.call('POST', `/api/v1/records/${lead.id}/activities`, {
    type: 'todo',
    note: 'Bring the **samples**',
    deadline: '2026-12-10',
    assigneeId: sarah.userId,
  })
  t.equal(todo.status, 201)

  const inbox = await sarah.call('GET', '/api/v1/inbox')
  t.equal(inbox.status, 200)
  const [second, first] = inbox.body.items
  t.match(first, {
    reason: 'activity',
    record: { id: lead.id, name: 'Walnut desks' },
    message: null,
    activityId: call.body.id,
    activity: {
      id: call.body.id,
      type: { key: 'call', name: 'Call' },
      summary: 'Ask for the PO number',
      deadline: '2026-12-09',
      status: 'open',
      assignedBy: 'Ada Admin',
      assignee: 'Sarah Sales',
    },
  })
  t.match(second.activity, { summary: 'Bring the samples', type: { key: 'todo' } }, "the note's words")

  t.equal((await sarah.call('POST', `/api/v1/activities/${call.body.id}/done`, {})).status, 200)
  const after = await sarah.call('GET', '/api/v1/inbox')
  t.equal(after.body.items[1].activity.status, 'done', 'a done activity says so')

  // Messages' notifications carry no activity.
  await ada.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: sarah.partner.id })
  await ada.call('POST', `/api/v1/records/${lead.id}/messages`, { kind: 'message', body: 'Hello' })
  const latest = (await sarah.call('GET', '/api/v1/inbox')).body.items[0]
  t.equal(latest.reason, 'message')
  t.equal(latest.activity, null)
})
