import fc from 'fast-check'
import t, { type Test } from 'tap'
import { SCOPES } from '../src/auth/scopes.ts'
import {
  buildPartner,
  buildRecord,
  buildUser,
  liveSocket,
  liveSocketEvents,
  type TestNode,
} from './helpers.ts'
import {
  acceptedChannel,
  buildOchatNode,
  buildPeer,
  deliver,
  envelopeFrom,
  type FakeRelay,
  startFakeRelay,
} from './ochat-helpers.ts'

/**
 * Every O'Chat route as an attacker or a careless integrator calls it: the API-key scope each one
 * declares is enforced, what a caller may not see answers like what does not exist, live events go
 * to those allowed to hear them, and no input makes one answer 500. The routes come from the app's own
 * declarations (the API document is built from the same list), so a new route is covered at once.
 */

// biome-ignore lint/suspicious/noExplicitAny: tests read response bodies loosely and assert on them
type Json = any

/** The O'Chat routes users call, as the app declares them, with the scope each needs ('admin': administrators). */
function userRoutes(node: TestNode) {
  return node.app.declaredRoutes
    .filter((route) => /\/ochat(\/|$)/.test(route.url) && route.config?.access !== 'public')
    .map((route) => {
      const config = route.config as { scope?: string; admin?: boolean }
      return { method: route.method, path: route.url, auth: config.admin ? 'admin' : config.scope }
    })
}

/** A path with its `:id` (or `{id}`) filled in. */
function fill(path: string, id: string | number): string {
  return path.replace(/:id|\{id\}/, encodeURIComponent(String(id)))
}

async function call(node: TestNode, secret: string, method: string, url: string, payload?: unknown) {
  const response = await node.app.inject({
    method: method.toUpperCase() as 'GET',
    url,
    headers: { authorization: `Bearer ${secret}` },
    ...(payload === undefined
      ? {}
      : {
          payload: JSON.stringify(payload),
          headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        }),
  })
  let body: Json
  try {
    body = JSON.parse(response.body)
  } catch {
    body = response.body
  }
  return { status: response.statusCode, body }
}

async function world(t: Test) {
  const relay = await startFakeRelay(t)
  const { node, admin } = await buildOchatNode(t, relay, { listen: true })
  const peer = buildPeer('Globex')
  const { connectionId, channelId } = await acceptedChannel(node, admin, relay, peer)
  return { relay, node, admin, peer, connectionId, channelId }
}

t.test('every O’Chat route refuses an API key without the scope it declares', async (t) => {
  const { node, channelId, connectionId } = await world(t)
  const routes = userRoutes(node)
  t.ok(routes.length >= 25, `every O'Chat route is called (${routes.length})`)
  for (const op of routes) {
    const needed = op.auth
    const admin = await buildUser(node, {
      role: 'admin',
      scopes: SCOPES.filter((scope) => scope !== needed),
    })
    const id = op.path.includes('/connections/') ? connectionId : channelId
    const answer = await call(
      node,
      admin.secret,
      op.method,
      fill(op.path, id),
      op.method === 'get' ? undefined : {},
    )
    t.equal(answer.status, 403, `${op.method} ${op.path} without ${needed}`)
    t.equal(answer.body.error.code, 'E_SCOPE', `${op.method} ${op.path}: E_SCOPE`)
  }
  const clerk = await buildUser(node, { role: 'user' })
  for (const op of routes.filter((route) => route.auth === 'admin')) {
    const answer = await call(
      node,
      clerk.secret,
      op.method,
      fill(op.path, connectionId),
      op.method === 'get' ? undefined : {},
    )
    t.equal(answer.status, 403, `${op.method} ${op.path}: administrators only`)
  }
})

t.test('a user who is not a member of a channel gets exactly the answer of a missing one', async (t) => {
  const { relay, node, admin, peer, connectionId, channelId } = await world(t)
  const sent = await admin.call('POST', `/api/v1/ochat/channels/${channelId}/messages`, { body: 'Hello' })
  const arrived = await deliver(node, relay, [envelopeFrom(peer, node, { connectionId })])
  t.same(arrived.body.results[0].ok, true)
  const bulk = await admin.call('POST', '/api/v1/ochat/bulk', { body: 'To all', channelIds: [channelId] })
  t.equal(bulk.status, 201)
  // Joined after the channel was made: not a member of it.
  const outsider = await buildUser(node, { role: 'user' })
  const record = await buildRecord(outsider)
  const missing = 2_000_000_000
  const cases: [string, string, string, unknown?][] = [
    ['GET', `/api/v1/ochat/channels/${channelId}`, '/api/v1/ochat/channels/{id}'],
    ['GET', `/api/v1/ochat/channels/${channelId}/messages`, '/api/v1/ochat/channels/{id}/messages'],
    [
      'POST',
      `/api/v1/ochat/channels/${channelId}/messages`,
      '/api/v1/ochat/channels/{id}/messages',
      { body: 'x' },
    ],
    ['POST', `/api/v1/ochat/channels/${channelId}/read`, '/api/v1/ochat/channels/{id}/read'],
    ['POST', `/api/v1/ochat/messages/${sent.body.id}/retry`, '/api/v1/ochat/messages/{id}/retry'],
    [
      'POST',
      `/api/v1/ochat/messages/${sent.body.id}/link`,
      '/api/v1/ochat/messages/{id}/link',
      { recordId: record.id },
    ],
    ['GET', `/api/v1/ochat/bulk/${bulk.body.id}`, '/api/v1/ochat/bulk/{id}'],
  ]
  for (const [method, url, template, payload] of cases) {
    const hidden = await outsider.call(method as 'GET', url, payload)
    const absent = await outsider.call(
      method as 'GET',
      fill(template, template.includes('bulk') ? '019a9a2c-6c00-7000-8000-00000000dead' : missing),
      payload,
    )
    t.equal(hidden.status, 404, `${method} ${template}: 404`)
    t.same(hidden.body, absent.body, `${method} ${template}: the same body as a missing id`)
  }
  t.same((await outsider.call('GET', '/api/v1/ochat/channels')).body.items, [], 'no channel listed')
  const list = await outsider.call('GET', '/api/v1/ochat/bulk')
  t.same(list.body.items, [], 'no one else’s bulk send listed')
  const pending = await outsider.call('GET', `/api/v1/ochat/connections/${connectionId}`)
  t.equal(pending.status, 200, 'accepted connections are visible to users (to write to them)')
  t.notOk('safetyCode' in pending.body, 'without the safety code, which is for administrators')
})

t.test(
  'a connection is filed only under an active external contact, with the reason it always gave',
  async (t) => {
    const { node, admin, connectionId } = await world(t)
    const url = `/api/v1/ochat/connections/${connectionId}/contact`
    const missing = 2_000_000_000
    for (const contactPartnerId of [admin.partnerId, missing]) {
      const refused = await admin.call('POST', url, { contactPartnerId })
      t.equal(refused.status, 422, `partner ${contactPartnerId}`)
      t.equal(refused.body.error.code, 'E_OCHAT_CONTACT_REQUIRED')
      t.match(refused.body.error.reason, `contactPartnerId: no external contact ${contactPartnerId}`)
    }
    const contact = buildPartner(node, { name: 'Grace at Globex' })
    const filed = await admin.call('POST', url, { contactPartnerId: contact.id })
    t.equal(filed.status, 200)
    t.same(filed.body.contact, { id: contact.id, name: 'Grace at Globex' })
  },
)

t.test('O’Chat live events reach only channel members whose key has ochat:read', async (t) => {
  const { relay, node, peer, connectionId } = await world(t)
  const listen = (secret: string) => liveSocketEvents(t, node.url as string, secret)
  // Both members (users at channel creation are members); the new users are not.
  const reader = await buildUser(node, { role: 'admin', scopes: ['chatter:read', 'ochat:read'] })
  const chatterOnly = await buildUser(node, { role: 'admin', scopes: ['chatter:read'] })
  const outsider = await buildUser(node, { role: 'user', scopes: ['chatter:read', 'ochat:read'] })
  const members = node.database.sqlite.prepare(
    'insert into ochat_channel_members (channel_id, user_id, added_at) select id, ?, 0 from ochat_channels',
  )
  members.run(reader.userId)
  members.run(chatterOnly.userId)
  const heard = await listen(reader.secret)
  const notHeard = await liveSocket(t, node.url as string, chatterOnly.secret)
  const outside = await liveSocket(t, node.url as string, outsider.secret)
  const answer = await deliver(node, relay, [envelopeFrom(peer, node, { connectionId })])
  t.same(answer.body.results[0].ok, true)
  const deadline = Date.now() + 5_000
  while (!heard.some((event) => event.type === 'ochat.message') && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 20))
  t.ok(
    heard.some((event) => event.type === 'ochat.message'),
    'a member with ochat:read hears the message',
  )
  // One publish hands every socket its frames: what the others were sent is there by their next pong.
  await Promise.all([notHeard.settle(), outside.settle()])
  t.same(
    notHeard.events.filter((event) => event.type.startsWith('ochat.')),
    [],
    'a key without ochat:read hears nothing of O’Chat',
  )
  t.same(
    outside.events.filter((event) => event.type === 'ochat.message'),
    [],
    'a user outside the channel hears nothing of it',
  )
})

t.test('a bulk send’s changes are told live to its author and administrators, nobody else', async (t) => {
  const { node, admin, channelId } = await world(t)
  const listen = (secret: string) => liveSocketEvents(t, node.url as string, secret)
  const otherAdmin = await buildUser(node, { role: 'admin', scopes: ['chatter:read', 'ochat:read'] })
  const member = await buildUser(node, { role: 'user', scopes: ['chatter:read', 'ochat:read'] })
  node.database.sqlite
    .prepare('insert into ochat_channel_members (channel_id, user_id, added_at) values (?, ?, 0)')
    .run(channelId, member.userId)
  const author = await listen(admin.secret)
  const administrator = await listen(otherAdmin.secret)
  const memberHeard = await listen(member.secret)
  const sent = await admin.call('POST', '/api/v1/ochat/bulk', { body: 'Price list', channelIds: [channelId] })
  t.equal(sent.status, 201)
  const bulkId = sent.body.id
  // Told when it was written (Pending) and again when the relay took it (Sent).
  const told = (events: Json[]) =>
    events.filter((event) => event.type === 'ochat.bulk' && event.bulkId === bulkId).length
  const isSent = (event: Json) => event.type === 'ochat.message' && event.status === 'sent'
  const deadline = Date.now() + 5_000
  while (!(author.some(isSent) && told(administrator) >= 2) && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 20))
  t.ok(author.some(isSent), 'the message moved to Sent')
  t.equal(told(author), 2, 'its author hears that the bulk send changed, at Pending and at Sent')
  t.equal(told(administrator), 2, 'so does another administrator, who may read every bulk send')
  t.ok(
    memberHeard.some((event) => event.type === 'ochat.message'),
    'a channel member hears the message itself',
  )
  t.equal(told(memberHeard), 0, 'but not about a bulk send it may not read')
})

/** Random JSON-ish values, and strings that have broken parsers before. */
const junk = fc.oneof(
  fc.anything({ maxDepth: 3 }),
  fc.constantFrom(
    '',
    'null',
    '[]',
    '\u0000',
    '1e309',
    '-1',
    '0',
    '9'.repeat(40),
    '../../etc',
    '%00',
    '019a9a2c',
  ),
)
const idish = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.integer(),
  fc.constantFrom(
    '0',
    '-1',
    '1.5',
    '1e3',
    '9007199254740993',
    'NaN',
    '%',
    '00000000-0000-0000-0000-000000000000',
  ),
)

t.test('no O’Chat route answers 500, whatever its params and body', async (t) => {
  const { relay, node, admin, channelId, connectionId } = await world(t)
  const ops = userRoutes(node).filter((op) => !op.path.endsWith('/rotate-keys'))
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...ops), idish, junk, junk, async (op, id, body, query) => {
      const search =
        typeof query === 'string'
          ? `?cursor=${encodeURIComponent(query)}&limit=${encodeURIComponent(query)}&state=${encodeURIComponent(query)}`
          : ''
      const answer = await call(
        node,
        admin.secret,
        op.method,
        `${fill(op.path, id)}${search}`,
        op.method === 'get' ? undefined : body,
      )
      if (answer.status >= 500)
        throw new Error(
          `${op.method} ${op.path} ${JSON.stringify({ id, body, query })}: ${answer.status} ${JSON.stringify(answer.body)}`,
        )
    }),
    { numRuns: 400 },
  )
  // The same bodies against real ids, where the deeper checks run.
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...ops), junk, async (op, body) => {
      const id = op.path.includes('/connections/') ? connectionId : channelId
      const answer = await call(
        node,
        admin.secret,
        op.method,
        fill(op.path, id),
        op.method === 'get' ? undefined : body,
      )
      if (answer.status >= 500)
        throw new Error(
          `${op.method} ${op.path} ${JSON.stringify(body)}: ${answer.status} ${JSON.stringify(answer.body)}`,
        )
    }),
    { numRuns: 300 },
  )
  await webhookFuzz(t, node, relay)
})

async function webhookFuzz(t: Test, node: TestNode, relay: FakeRelay) {
  const before = node.database.sqlite.prepare('select count(*) as n from ochat_messages').get()
  await fc.assert(
    fc.asyncProperty(junk, async (body) => {
      const answer = await deliver(node, relay, { v: 1, items: body })
      if (answer.status >= 500) throw new Error(`webhook ${JSON.stringify(body)}: ${answer.status}`)
      const bare = await deliver(node, relay, body as never)
      if (bare.status >= 500) throw new Error(`webhook ${JSON.stringify(body)}: ${bare.status}`)
    }),
    { numRuns: 200 },
  )
  t.same(
    node.database.sqlite.prepare('select count(*) as n from ochat_messages').get(),
    before,
    'nothing stored',
  )
}

t.test(
  'a channel member who may not read a record does not see which record a message is filed on',
  async (t) => {
    const relay = await startFakeRelay(t)
    const { node, admin } = await buildOchatNode(t, relay)
    const defined = await admin.call('POST', '/api/v1/models', {
      name: 'x_contract',
      label: 'Contract',
      userAccess: 'own',
      fields: [{ name: 'name', label: 'Title', type: 'char', required: true }],
    })
    t.equal(defined.status, 201)
    // Both are members: users when the channel is made.
    const sam = await buildUser(node, { name: 'Sam' })
    const other = await buildUser(node, { name: 'Olive' })
    const { channelId } = await acceptedChannel(node, admin, relay, buildPeer('Globex'))
    const contract = await buildRecord(sam, 'x_contract', { name: 'Secret merger' })
    const sent = await sam.call('POST', `/api/v1/records/${contract.id}/ochat`, {
      body: 'About this',
      channelId,
    })
    t.equal(sent.status, 201)
    t.same(sent.body.record, { id: contract.id, name: 'Secret merger' }, 'its author sees the record')
    const seen = (await other.call('GET', `/api/v1/ochat/channels/${channelId}/messages`)).body.items
    t.equal(seen.length, 1, 'the other member sees the message')
    t.equal(seen[0].record, null, 'but not the record it is filed on')
    t.notMatch(JSON.stringify(seen), /Secret merger/)
    t.equal((await other.call('GET', `/api/v1/records/${contract.id}/ochat`)).status, 404)
    const listed = (await sam.call('GET', '/api/v1/ochat/channels')).body.items
    t.same(
      listed.map((channel: { id: number }) => channel.id),
      [channelId],
      'a member who is not an administrator lists the channel',
    )
    const thread = (await sam.call('GET', `/api/v1/records/${contract.id}/ochat`)).body.items
    t.equal(thread.length, 1, "and finds the message in the record's thread")
  },
)
