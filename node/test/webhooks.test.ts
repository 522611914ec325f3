import { ManualClock } from '@ochat/shared-protocol/server'
import { Webhook } from 'standardwebhooks'
import t from 'tap'
import { settled, webhookScene } from './fixtures/webhooks.ts'
import { buildNode, buildRecord, buildUser, until } from './helpers.ts'

/**
 * Outbound webhooks as an integrator meets them: an administrator registers an endpoint, and the
 * node's events arrive there signed the Standard Webhooks way, verified here with the official
 * library; log notes only where internal items were asked for; private addresses refused.
 */

t.test('a message posted on a record reaches the endpoint, signed, and shows as delivered', async (t) => {
  // Receivers check the timestamp against their own clock: the node's starts at the real time here.
  const { node, admin, sarah, receiver } = await webhookScene(t, {}, new ManualClock(Date.now()))
  const created = await admin.call('POST', '/api/v1/webhooks/endpoints', {
    url: receiver.url,
    description: 'CRM sync',
    events: ['message.posted'],
  })
  t.equal(created.status, 201)
  t.match(created.body.secret, /^whsec_/, 'the secret is in the answer')
  const lead = await buildRecord(sarah, 'lead', { name: 'Big deal' })
  const posted = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'message',
    body: 'Sent the quote',
  })
  t.equal(posted.status, 201)
  // Nothing but the post's own commit wakes the dispatcher here.
  await until('the deliveries', () => receiver.received.length >= 2, 5_000)
  await settled(node)

  t.same(
    receiver.received.map((delivery) => delivery.json.type),
    ['message.posted', 'message.posted'],
    'only the events asked for: the creation message and the post, not the record itself',
  )
  const delivery = receiver.received.find((entry) => entry.json.data.id === posted.body.id)
  if (!delivery) return
  t.equal(delivery.json.type, 'message.posted')
  t.match(delivery.json.data, {
    id: posted.body.id,
    recordId: lead.id,
    kind: 'message',
    subtype: 'comment',
    internal: false,
    body: '<p>Sent the quote</p>',
  })
  const headers = delivery.headers as Record<string, string>
  const verified = new Webhook(created.body.secret).verify(delivery.body, headers)
  t.same(verified, delivery.json, 'the official library verifies the signature')
  t.throws(
    () => new Webhook(created.body.secret).verify(delivery.body.replace('quote', 'price'), headers),
    'a changed body fails verification',
  )

  const log = await admin.call('GET', `/api/v1/webhooks/endpoints/${created.body.id}/messages`)
  t.equal(log.status, 200)
  const logged = log.body.items.find((item: { eventId: string }) => item.eventId === headers['webhook-id'])
  t.match(
    logged,
    { type: 'message.posted', status: 'delivered', attempts: 1, lastStatusCode: 204 },
    'the log names the webhook-id sent',
  )
  const detail = await admin.call('GET', `/api/v1/webhooks/messages/${logged.id}`)
  t.match(detail.body.tries, [{ statusCode: 204, error: null }], 'with the attempt')
})

t.test('every event type the domain has reaches an endpoint that takes them all', async (t) => {
  const { node, admin, sarah, receiver } = await webhookScene(t)
  // Activities are internal users' work: this endpoint asked for internal items.
  await admin.call('POST', '/api/v1/webhooks/endpoints', { url: receiver.url, internal: true })
  const lead = await buildRecord(sarah, 'lead', { name: 'Big deal' })
  const updated = await sarah.call('PATCH', `/api/v1/records/${lead.id}`, {
    version: lead.version,
    values: { name: 'Bigger deal' },
  })
  t.equal(updated.status, 200)
  const activity = await sarah.call('POST', `/api/v1/records/${lead.id}/activities`, {
    type: 'todo',
    summary: 'Call back',
  })
  t.equal(activity.status, 201)
  const done = await sarah.call('POST', `/api/v1/activities/${activity.body.id}/done`, { feedback: 'Called' })
  t.equal(done.status, 200)
  const second = await sarah.call('POST', `/api/v1/records/${lead.id}/activities`, { type: 'todo' })
  t.equal((await sarah.call('POST', `/api/v1/activities/${second.body.id}/cancel`)).status, 200)
  t.equal((await sarah.call('DELETE', `/api/v1/records/${lead.id}`)).status, 204)
  await settled(node)

  const types = new Set(receiver.received.map((delivery) => delivery.json.type))
  for (const type of [
    'record.created',
    'record.updated',
    'record.deleted',
    'message.posted',
    'activity.scheduled',
    'activity.done',
    'activity.canceled',
    'follower.added',
  ])
    t.ok(types.has(type), `${type} was sent`)
  const renamed = receiver.received.find((delivery) => delivery.json.type === 'record.updated')
  t.match(
    renamed?.json.data,
    { id: lead.id, name: 'Bigger deal', model: 'lead' },
    'with the record as it is now',
  )
  const ids = receiver.received.map((delivery) => delivery.headers['webhook-id'])
  t.equal(new Set(ids).size, ids.length, 'each message has its own webhook-id')
})

t.test('a log note reaches only an endpoint that asked for internal items', async (t) => {
  const { node, admin, sarah, receiver } = await webhookScene(t)
  const outside = await admin.call('POST', '/api/v1/webhooks/endpoints', {
    url: `${receiver.url}?outside`,
    events: ['message.posted'],
  })
  const inside = await admin.call('POST', '/api/v1/webhooks/endpoints', {
    url: `${receiver.url}?inside`,
    events: ['message.posted'],
    internal: true,
  })
  t.equal(outside.status, 201)
  t.equal(inside.status, 201)
  const lead = await buildRecord(sarah, 'lead', { name: 'Big deal' })
  const note = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
    body: 'Margin is thin: do not go below 12%',
    kind: 'note',
  })
  t.equal(note.status, 201)
  await settled(node)
  const noteIds = (log: { body: { items: { payload: { data: { id: number } } }[] } }) =>
    log.body.items.filter((item) => item.payload.data.id === note.body.id)
  const insideLog = await admin.call('GET', `/api/v1/webhooks/endpoints/${inside.body.id}/messages`)
  t.match(noteIds(insideLog), [{ status: 'delivered', payload: { data: { internal: true, kind: 'note' } } }])
  const outsideLog = await admin.call('GET', `/api/v1/webhooks/endpoints/${outside.body.id}/messages`)
  t.same(noteIds(outsideLog), [], 'nothing of the note was even queued for the other endpoint')
  t.equal(outsideLog.body.items.length, 1, 'which got the record’s creation message only')
  const leaked = receiver.received.filter((delivery) => delivery.body.includes('Margin is thin'))
  t.equal(leaked.length, 1, 'the note was sent once, to the endpoint with internal items')
})

t.test('only administrators manage endpoints; bad input gets a clear error', async (t) => {
  const { admin, sarah, receiver } = await webhookScene(t)
  const refused = await sarah.call('POST', '/api/v1/webhooks/endpoints', { url: receiver.url })
  t.equal(refused.status, 403, 'a user who is not an administrator is refused')
  const listed = await sarah.call('GET', '/api/v1/webhooks/endpoints')
  t.equal(listed.status, 403)
  const unknownType = await admin.call('POST', '/api/v1/webhooks/endpoints', {
    url: receiver.url,
    events: ['record.exploded'],
  })
  t.equal(unknownType.status, 400)
  t.equal(unknownType.body.error.code, 'E_INVALID_BODY')
  const missing = await admin.call('GET', '/api/v1/webhooks/endpoints/999')
  t.equal(missing.status, 404)
  t.equal(missing.body.error.code, 'E_NOT_FOUND')
})

t.test('an endpoint at a private address is refused, after resolving its name', async (t) => {
  // No allowlist: the node's own host is as private as any.
  const node = await buildNode(t)
  const admin = await buildUser(node, { role: 'admin' })
  for (const [url, reason] of [
    ['http://127.0.0.1:8080/hooks', /loopback/],
    ['http://169.254.169.254/latest/meta-data/', /metadata/],
    ['http://[::1]/hooks', /loopback/],
    ['http://2130706433/hooks', /127\.0\.0\.1/],
    ['http://localhost/hooks', /localhost resolves to/],
    ['http://10.0.0.7/hooks', /private/],
    ['ftp://example.com/hooks', /http/],
    ['http://user:secret@example.com/hooks', /user name or password/],
  ] as const) {
    const answer = await admin.call('POST', '/api/v1/webhooks/endpoints', { url })
    t.equal(answer.status, 422, url)
    t.equal(answer.body.error?.code, 'E_WEBHOOK_URL', url)
    t.match(answer.body.error?.reason, reason, `${url}: says why`)
  }
  const listed = await admin.call('GET', '/api/v1/webhooks/endpoints')
  t.same(listed.body.items, [], 'nothing was saved')
})

t.test('an endpoint without internal items hears of no activity and sees no restricted field', async (t) => {
  const { node, admin, sarah, receiver } = await webhookScene(t)
  await admin.call('POST', '/api/v1/webhooks/endpoints', { url: receiver.url })
  const lead = await buildRecord(sarah, 'lead', { name: 'Big deal', probability: 42 })
  const scheduled = await sarah.call('POST', `/api/v1/records/${lead.id}/activities`, {
    type: 'todo',
    summary: 'Call back',
    note: 'They can pay 20% more',
  })
  t.equal(scheduled.status, 201)
  const done = await sarah.call('POST', `/api/v1/activities/${scheduled.body.id}/done`, {
    feedback: 'Agreed at +15%',
  })
  t.equal(done.status, 200)
  await settled(node)
  const types = receiver.received.map((delivery) => delivery.json.type)
  t.notOk(
    types.some((type) => type.startsWith('activity.')),
    'no activity event',
  )
  t.notOk(
    receiver.received.some((delivery) => /20% more|\+15%/.test(delivery.body)),
    'nothing written on the activity, by any event',
  )
  const created = receiver.received.find((delivery) => delivery.json.type === 'record.created')
  const values = created?.json.data.values as Record<string, unknown> | undefined
  t.equal(values?.name, 'Big deal')
  t.notOk(values && 'probability' in values, 'the record without its restricted probability')
})
