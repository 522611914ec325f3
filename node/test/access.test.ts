import t from 'tap'
import WebSocket from 'ws'
import type { Scope } from '../src/auth/scopes.ts'
import {
  type Actor,
  buildNode,
  buildPartner,
  buildRecord,
  buildUser,
  TEST_PASSWORD,
  type TestNode,
} from './helpers.ts'

/**
 * Deny by default, and do not reveal what exists. On a model whose users see
 * only their own records, a record someone else owns answers exactly like one that does not exist.
 */

const CONTRACT = {
  name: 'x_contract',
  label: 'Contract',
  userAccess: 'own',
  fields: [
    { name: 'name', label: 'Title', type: 'char', required: true },
    { name: 'owner_id', label: 'Owner', type: 'user', assignee: true, trackingSequence: 1 },
    { name: 'customer_id', label: 'Customer', type: 'partner', trackingSequence: 2 },
  ],
}

async function liveFrames(node: TestNode, actor: Actor, frames: object[], expect: number): Promise<object[]> {
  const received: object[] = []
  let done: () => void = () => {}
  const finished = new Promise<void>((resolve) => {
    done = resolve
  })
  const socket = await node.app.injectWS(
    '/api/v1/live',
    { headers: { authorization: `Bearer ${actor.secret}` } },
    {
      onInit: (ws) =>
        ws.on('message', (data) => {
          received.push(JSON.parse(String(data)))
          if (received.length >= expect) done()
        }),
    },
  )
  for (const frame of frames) socket.send(JSON.stringify(frame))
  await Promise.race([finished, new Promise((resolve) => setTimeout(resolve, 2000))])
  socket.terminate()
  return received
}

t.test(
  'a record of an "own" model is invisible to others: every route answers as for a missing id',
  async (t) => {
    const node = await buildNode(t)
    const admin = await buildUser(node, { name: 'Ada Admin', role: 'admin' })
    const defined = await admin.call('POST', '/api/v1/models', CONTRACT)
    t.equal(defined.status, 201)
    t.equal(defined.body.userAccess, 'own')

    const creator = await buildUser(node, { name: 'Cora Creator' })
    const assignee = await buildUser(node, { name: 'Otto Owner' })
    const follower = await buildUser(node, { name: 'Fay Follower' })
    const outsider = await buildUser(node, { name: 'Olaf Outsider' })
    const customer = buildPartner(node, { name: 'Carla Customer' })
    const contract = await buildRecord(creator, 'x_contract', {
      owner_id: assignee.userId,
      customer_id: customer.id,
    })
    const followed = await creator.call('POST', `/api/v1/records/${contract.id}/followers`, {
      partnerId: follower.partnerId,
    })
    t.equal(followed.status, 201)
    const posted = await creator.call('POST', `/api/v1/records/${contract.id}/messages`, {
      kind: 'message',
      body: 'Draft attached',
    })
    t.equal(posted.status, 201)
    const messageId = posted.body.id as number
    const missing = 987654

    const probes: [string, 'GET' | 'POST' | 'PATCH' | 'DELETE', (id: number) => string, unknown?][] = [
      ['read the record', 'GET', (id) => `/api/v1/records/${id}`],
      [
        'write the record',
        'PATCH',
        (id) => `/api/v1/records/${id}`,
        { version: 1, values: { name: 'Mine now' } },
      ],
      ['delete the record', 'DELETE', (id) => `/api/v1/records/${id}`],
      ['read its chatter', 'GET', (id) => `/api/v1/records/${id}/messages`],
      ['post on it', 'POST', (id) => `/api/v1/records/${id}/messages`, { kind: 'message', body: 'hello' }],
      ['list its followers', 'GET', (id) => `/api/v1/records/${id}/followers`],
      ['follow it', 'POST', (id) => `/api/v1/records/${id}/followers`, { partnerId: outsider.partnerId }],
      ['unfollow someone', 'DELETE', (id) => `/api/v1/records/${id}/followers/${follower.partnerId}`],
      ['suggested recipients', 'GET', (id) => `/api/v1/records/${id}/suggested-recipients`],
      ['mark its inbox read', 'POST', () => '/api/v1/inbox/read-all', undefined],
    ]
    for (const [what, method, url, payload] of probes) {
      const readAll = url(0) === '/api/v1/inbox/read-all'
      const hidden = await outsider.call(
        method,
        url(contract.id),
        readAll ? { recordId: contract.id } : payload,
      )
      const absent = await outsider.call(method, url(missing), readAll ? { recordId: missing } : payload)
      t.equal(hidden.status, 404, `${what}: 404`)
      t.same(hidden.body, absent.body, `${what}: the same body as a missing id`)
    }
    for (const [what, method, payload] of [
      ['read a message', 'GET', undefined],
      ['edit a message', 'PATCH', { body: 'edited' }],
      ['delete a message', 'DELETE', undefined],
    ] as const) {
      const hidden = await outsider.call(method, `/api/v1/messages/${messageId}`, payload)
      const absent = await outsider.call(method, `/api/v1/messages/${missing}`, payload)
      t.equal(hidden.status, 404, `${what}: 404`)
      t.same(hidden.body, absent.body, `${what}: the same body as a missing id`)
    }
    const versions = await outsider.call('GET', `/api/v1/messages/${messageId}/versions`)
    t.equal(versions.status, 404)

    const frames = await liveFrames(
      node,
      outsider,
      [
        { type: 'subscribe', recordId: contract.id },
        { type: 'subscribe', recordId: missing },
      ],
      3,
    )
    t.same(frames, [
      { type: 'ready', userId: outsider.userId },
      { type: 'error', code: 'E_NOT_FOUND', recordId: contract.id },
      { type: 'error', code: 'E_NOT_FOUND', recordId: missing },
    ])
    const own = await liveFrames(node, follower, [{ type: 'subscribe', recordId: contract.id }], 2)
    t.same(own[1], { type: 'subscribed', recordId: contract.id }, 'a follower may subscribe')

    const list = async (actor: Actor) =>
      (await actor.call('GET', '/api/v1/models/x_contract/records')).body.items.map(
        (r: { id: number }) => r.id,
      )
    t.same(await list(outsider), [], 'the list omits it')
    for (const [who, actor] of [
      ['creator', creator],
      ['assignee', assignee],
      ['follower', follower],
      ['admin', admin],
    ] as const) {
      t.same(await list(actor), [contract.id], `the ${who} sees it in the list`)
      t.equal((await actor.call('GET', `/api/v1/records/${contract.id}`)).status, 200, `the ${who} reads it`)
    }

    const stillThere = await creator.call('GET', `/api/v1/records/${contract.id}`)
    t.equal(stillThere.body.name, contract.name, 'the outsider changed nothing')
    t.equal(
      (await creator.call('GET', `/api/v1/records/${contract.id}/messages?kind=message`)).body.items.length,
      1,
    )
  },
)

t.test('API key scopes are enforced', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const reader = await buildUser(node, {
    name: 'Rita Reader',
    scopes: ['records:read', 'chatter:read'] satisfies Scope[],
  })
  const lead = await buildRecord(sarah, 'lead')
  const post = await reader.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'message',
    body: 'hi',
  })
  t.equal(post.status, 403)
  t.equal(post.body.error.code, 'E_SCOPE')
  t.match(post.body.error.reason, /chatter:write/)
  const write = await reader.call('PATCH', `/api/v1/records/${lead.id}`, {
    version: 1,
    values: { name: 'x' },
  })
  t.equal(write.status, 403)
  t.equal(write.body.error.code, 'E_SCOPE')
  t.equal((await reader.call('GET', `/api/v1/records/${lead.id}`)).status, 200, 'reading is allowed')
  t.equal(
    count(node, 'select count(*) as n from messages where record_id = ?', lead.id),
    1,
    'only the creation message',
  )
  const noRead = await buildUser(node, { scopes: ['chatter:write'] })
  const read = await noRead.call('GET', `/api/v1/records/${lead.id}`)
  t.equal(read.status, 403)
  t.equal(read.body.error.code, 'E_SCOPE')
})

t.test('only administrators create users and models', async (t) => {
  const node = await buildNode(t)
  const admin = await buildUser(node, { role: 'admin' })
  const user = await buildUser(node, { role: 'user' })
  const newUser = { login: 'newbie', password: 'long enough pw', name: 'New Bie' }
  const byUser = await user.call('POST', '/api/v1/users', newUser)
  t.equal(byUser.status, 403)
  t.equal(byUser.body.error.code, 'E_FORBIDDEN')
  const model = await user.call('POST', '/api/v1/models', { ...CONTRACT, name: 'x_sneaky' })
  t.equal(model.status, 403)
  t.equal((await user.call('GET', '/api/v1/models/x_sneaky')).status, 404, 'no model was made')
  const adminNoScope = await buildUser(node, { role: 'admin', scopes: ['records:read', 'records:write'] })
  const scoped = await adminNoScope.call('POST', '/api/v1/users', newUser)
  t.equal(scoped.status, 403, 'an admin’s key without the admin scope cannot either')
  t.equal(scoped.body.error.code, 'E_SCOPE')
  const byAdmin = await admin.call('POST', '/api/v1/users', newUser)
  t.equal(byAdmin.status, 201)
  t.equal(byAdmin.body.login, 'newbie')
  t.notOk('password' in byAdmin.body || 'passwordHash' in byAdmin.body, 'no password in the answer')
  const promote = await user.call('PATCH', `/api/v1/users/${user.userId}`, { role: 'admin' })
  t.equal(promote.status, 403, 'a user cannot make themselves admin')
})

t.test('sessions: cookie and CSRF token, writes need the token, failed logins look alike', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah Sales', login: 'sarah' })
  const login = await node.app.inject({
    method: 'POST',
    url: '/api/v1/session',
    payload: { login: 'sarah', password: TEST_PASSWORD },
  })
  t.equal(login.statusCode, 200)
  const cookie = login.cookies.find((c) => c.name === 'ochat_session')
  t.ok(cookie?.value, 'a session cookie')
  t.equal(cookie?.httpOnly, true)
  t.equal(cookie?.sameSite, 'Lax')
  const { csrfToken, user } = login.json()
  t.type(csrfToken, 'string')
  t.equal(user.login, 'sarah')
  const headers = { cookie: `ochat_session=${cookie?.value}` }

  const read = await node.app.inject({ method: 'GET', url: '/api/v1/models/lead/records', headers })
  t.equal(read.statusCode, 200, 'reads need no token')
  const create = { values: { name: 'From the UI' } }
  const noToken = await node.app.inject({
    method: 'POST',
    url: '/api/v1/models/lead/records',
    headers,
    payload: create,
  })
  t.equal(noToken.statusCode, 403)
  t.equal(noToken.json().error.code, 'E_CSRF')
  const wrongToken = await node.app.inject({
    method: 'POST',
    url: '/api/v1/models/lead/records',
    headers: { ...headers, 'x-csrf-token': 'forged' },
    payload: create,
  })
  t.equal(wrongToken.json().error.code, 'E_CSRF')
  t.equal(
    (await sarah.call('GET', '/api/v1/models/lead/records')).body.items.length,
    0,
    'nothing was created',
  )
  const withToken = await node.app.inject({
    method: 'POST',
    url: '/api/v1/models/lead/records',
    headers: { ...headers, 'x-csrf-token': csrfToken },
    payload: create,
  })
  t.equal(withToken.statusCode, 201)

  const wrongPassword = await node.app.inject({
    method: 'POST',
    url: '/api/v1/session',
    payload: { login: 'sarah', password: 'not the password' },
  })
  const unknownLogin = await node.app.inject({
    method: 'POST',
    url: '/api/v1/session',
    payload: { login: 'nobody-here', password: 'not the password' },
  })
  t.equal(wrongPassword.statusCode, 401)
  t.equal(wrongPassword.json().error.code, 'E_LOGIN_FAILED')
  t.same(unknownLogin.json(), wrongPassword.json(), 'the same answer: no hint that the login exists')
  t.equal(unknownLogin.statusCode, 401)
  t.notOk(wrongPassword.cookies.length, 'no cookie on failure')

  const logout = await node.app.inject({
    method: 'DELETE',
    url: '/api/v1/session',
    headers: { ...headers, 'x-csrf-token': csrfToken },
  })
  t.equal(logout.statusCode, 204)
  const after = await node.app.inject({ method: 'GET', url: '/api/v1/models/lead/records', headers })
  t.equal(after.statusCode, 401, 'the cookie no longer works after logout')
})

t.test('a revoked API key gets 401', async (t) => {
  const node = await buildNode(t)
  await buildUser(node, { login: 'kim' })
  const login = await node.app.inject({
    method: 'POST',
    url: '/api/v1/session',
    payload: { login: 'kim', password: TEST_PASSWORD },
  })
  const session = {
    cookie: `ochat_session=${login.cookies.find((c) => c.name === 'ochat_session')?.value}`,
    'x-csrf-token': login.json().csrfToken,
  }
  const made = await node.app.inject({
    method: 'POST',
    url: '/api/v1/api-keys',
    headers: session,
    payload: { name: 'integration', scopes: ['records:read', 'models:read'] },
  })
  t.equal(made.statusCode, 201)
  const { id, secret } = made.json()
  const bearer = { authorization: `Bearer ${secret}` }
  t.equal((await node.app.inject({ method: 'GET', url: '/api/v1/models', headers: bearer })).statusCode, 200)
  const revoked = await node.app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${id}`, headers: session })
  t.equal(revoked.statusCode, 204)
  const refused = await node.app.inject({ method: 'GET', url: '/api/v1/models', headers: bearer })
  t.equal(refused.statusCode, 401)
  t.equal(refused.json().error.code, 'E_AUTH_REQUIRED')
  const garbage = await node.app.inject({
    method: 'GET',
    url: '/api/v1/models',
    headers: { authorization: 'Bearer ock_nope' },
  })
  t.same(garbage.json(), refused.json(), 'a revoked key looks like an unknown one')
})

t.test('a deactivated user is locked out of keys and sessions', async (t) => {
  const node = await buildNode(t)
  const admin = await buildUser(node, { role: 'admin' })
  const leaver = await buildUser(node, { login: 'leaver' })
  t.equal((await leaver.call('GET', '/api/v1/models')).status, 200)
  t.equal((await admin.call('PATCH', `/api/v1/users/${leaver.userId}`, { active: false })).status, 200)
  t.equal((await leaver.call('GET', '/api/v1/models')).status, 401)
  const login = await node.app.inject({
    method: 'POST',
    url: '/api/v1/session',
    payload: { login: 'leaver', password: TEST_PASSWORD },
  })
  t.equal(login.statusCode, 401)
  t.equal(login.json().error.code, 'E_LOGIN_FAILED')
})

/** One number from SQL, for checks on what was (not) written. */
function count(node: TestNode, query: string, ...params: unknown[]): number {
  return (node.database.sqlite.prepare(query).get(...params) as { n: number }).n
}

t.test('a session expires after 14 days without use, and use keeps it alive', async (t) => {
  const node = await buildNode(t)
  await buildUser(node, { login: 'lea' })
  const day = 24 * 3600 * 1000
  const login = await node.app.inject({
    method: 'POST',
    url: '/api/v1/session',
    payload: { login: 'lea', password: TEST_PASSWORD },
  })
  const headers = { cookie: `ochat_session=${login.cookies.find((c) => c.name === 'ochat_session')?.value}` }
  const get = async () =>
    (await node.app.inject({ method: 'GET', url: '/api/v1/session', headers })).statusCode
  node.clock.advance(13 * day)
  t.equal(await get(), 200, 'still valid after 13 idle days')
  node.clock.advance(13 * day)
  t.equal(await get(), 200, 'the last use restarted the 14 days')
  node.clock.advance(14 * day + 1000)
  t.equal(await get(), 401, 'expired after 14 idle days')
})

t.test('the live socket refuses a handshake from another site, and one without credentials', async (t) => {
  const node = await buildNode(t, { listen: true })
  const sarah = await buildUser(node)
  const url = `${node.url?.replace('http', 'ws')}/api/v1/live`
  const handshake = (headers: Record<string, string>) =>
    new Promise<number>((resolve) => {
      const socket = new WebSocket(url, { headers })
      socket.on('open', () => {
        socket.close()
        resolve(101)
      })
      socket.on('unexpected-response', (_request, response) => {
        resolve(response.statusCode ?? 0)
        socket.terminate()
      })
      socket.on('error', () => resolve(-1))
    })
  const bearer = { authorization: `Bearer ${sarah.secret}` }
  t.equal(await handshake({ ...bearer, origin: 'https://evil.test' }), 403, 'another site: refused')
  t.equal(await handshake({}), 401, 'no credentials: refused')
  t.equal(await handshake({ ...bearer, origin: node.url ?? '' }), 101, 'the node’s own pages: accepted')
})

t.test('someone removed from an own record no longer reads it through their inbox', async (t) => {
  const node = await buildNode(t)
  const admin = await buildUser(node, { role: 'admin' })
  t.equal((await admin.call('POST', '/api/v1/models', CONTRACT)).status, 201)
  const creator = await buildUser(node)
  const fay = await buildUser(node)
  const contract = await buildRecord(creator, 'x_contract')
  await creator.call('POST', `/api/v1/records/${contract.id}/followers`, { partnerId: fay.partnerId })
  await creator.call('POST', `/api/v1/records/${contract.id}/messages`, { kind: 'message', body: 'terms v2' })
  t.equal((await fay.call('GET', '/api/v1/inbox')).body.items.length, 1, 'told while following')
  t.equal((await fay.call('GET', '/api/v1/inbox/counters')).body.unread, 1)
  t.equal(
    (await creator.call('DELETE', `/api/v1/records/${contract.id}/followers/${fay.partnerId}`)).status,
    204,
  )
  t.same((await fay.call('GET', '/api/v1/inbox')).body.items, [], 'the item is hidden once access is gone')
  t.equal((await fay.call('GET', '/api/v1/inbox/counters')).body.unread, 0)
})
