import t from 'tap'
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
 * The node attacked the way an outsider, a curious colleague or a stolen credential would (deny by
 * default, reveal nothing).
 * Regression tests are named after what broke. What is shown, and to whom: attacks-content.test.ts;
 * bad input: attacks-input.test.ts; the live socket: attacks-live.test.ts.
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

async function login(node: TestNode, actor: Actor, password = TEST_PASSWORD) {
  const response = await node.app.inject({
    method: 'POST',
    url: '/api/v1/session',
    payload: { login: actor.login, password },
  })
  const cookie = response.cookies.find((c) => c.name === 'ochat_session')?.value ?? ''
  return { status: response.statusCode, cookie: `ochat_session=${cookie}`, csrf: response.json().csrfToken }
}

async function upload(node: TestNode, actor: Actor, query: string, content = 'hello') {
  const response = await node.app.inject({
    method: 'POST',
    url: `/api/v1/attachments?${query}`,
    headers: { authorization: `Bearer ${actor.secret}`, 'content-type': 'text/plain' },
    payload: content,
  })
  return { status: response.statusCode, body: response.json(), response }
}

t.test('changing your own password needs the current one (no takeover by a narrow API key)', async (t) => {
  const node = await buildNode(t)
  const kim = await buildUser(node, { login: 'kim', scopes: ['records:read', 'records:write'] })
  const noCurrent = await kim.call('PATCH', `/api/v1/users/${kim.userId}`, { password: 'attacker pw 1' })
  t.equal(noCurrent.status, 403)
  t.equal(noCurrent.body.error.code, 'E_FORBIDDEN')
  const wrong = await kim.call('PATCH', `/api/v1/users/${kim.userId}`, {
    password: 'attacker pw 1',
    currentPassword: 'a guess',
  })
  t.equal(wrong.status, 403)
  t.equal((await login(node, kim, 'attacker pw 1')).status, 401, 'the password did not change')
  t.equal((await login(node, kim)).status, 200, 'the old one still works')

  const session = await login(node, kim)
  const right = await node.app.inject({
    method: 'PATCH',
    url: `/api/v1/users/${kim.userId}`,
    headers: { cookie: session.cookie, 'x-csrf-token': session.csrf },
    payload: { password: 'a new password', currentPassword: TEST_PASSWORD },
  })
  t.equal(right.statusCode, 200, 'with the current password it changes')
  t.equal((await login(node, kim, 'a new password')).status, 200)

  // An administrator resets someone else's password without knowing it; nobody else can.
  const admin = await buildUser(node, { role: 'admin' })
  const lee = await buildUser(node, { login: 'lee' })
  t.equal((await lee.call('PATCH', `/api/v1/users/${kim.userId}`, { password: 'lee owns kim' })).status, 403)
  t.equal(
    (await admin.call('PATCH', `/api/v1/users/${lee.userId}`, { password: 'reset by admin' })).status,
    200,
  )
  t.equal((await login(node, lee, 'reset by admin')).status, 200)
})

t.test('guessing the current password is throttled like a login', async (t) => {
  const node = await buildNode(t)
  const kim = await buildUser(node, { login: 'kim' })
  const change = (currentPassword: string) =>
    kim.call('PATCH', `/api/v1/users/${kim.userId}`, { password: 'a new password', currentPassword })
  for (let attempt = 0; attempt < 3; attempt++) t.equal((await change(`guess ${attempt}`)).status, 403)
  const locked = await change(TEST_PASSWORD)
  t.equal(locked.status, 429, 'even the right password waits')
  t.equal(locked.body.error.code, 'E_RATE_LIMITED')
  t.equal(locked.response.headers['retry-after'], '1', 'a delay that grows with each guess')
  t.equal((await login(node, kim)).status, 429, 'and so does logging in from the same address')
  node.clock.advance(1000)
  t.equal((await change(TEST_PASSWORD)).status, 200, 'once the delay is over it works')
})

t.test('privilege: no self-promotion, no keys from keys, no one else’s keys, no revoked key', async (t) => {
  const node = await buildNode(t)
  const admin = await buildUser(node, { role: 'admin' })
  const adminNoScope = await buildUser(node, { role: 'admin', scopes: ['records:read', 'records:write'] })
  const sam = await buildUser(node, { login: 'sam' })
  const promote = await sam.call('PATCH', `/api/v1/users/${sam.userId}`, { role: 'admin' })
  t.equal(promote.status, 403, 'a user cannot make themselves admin')
  t.equal((await sam.call('GET', '/api/v1/session')).body.user.role, 'user')
  const byKey = await adminNoScope.call('PATCH', `/api/v1/users/${sam.userId}`, { role: 'admin' })
  t.equal(byKey.status, 403, 'an admin’s key without the admin scope cannot change roles')
  t.equal((await adminNoScope.call('POST', '/api/v1/models', CONTRACT)).status, 403, 'nor define models')
  t.equal((await adminNoScope.call('PATCH', `/api/v1/users/${sam.userId}`, { active: false })).status, 403)

  const minted = await admin.call('POST', '/api/v1/api-keys', { name: 'more', scopes: ['admin'] })
  t.equal(minted.status, 403, 'an API key cannot mint keys')
  const session = await login(node, sam)
  const asSam = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) =>
    node.app.inject({
      method,
      url,
      headers: { cookie: session.cookie, 'x-csrf-token': session.csrf },
      ...(payload ? { payload } : {}),
    })
  t.equal(
    (await asSam('POST', '/api/v1/api-keys', { name: 'x', scopes: ['admin'] })).statusCode,
    403,
    'a user cannot give a key the admin scope',
  )
  const inbound = await asSam('POST', '/api/v1/api-keys', { name: 'mta', scopes: ['mail:inbound'] })
  t.equal(inbound.statusCode, 403, 'nor the scope that hands in raw mail, whose sender is believed')
  const samKey = (await asSam('POST', '/api/v1/api-keys', { name: 'ci', scopes: ['models:read'] })).json()
  t.ok(samKey.secret)
  const adminSession = await login(node, admin)
  const adminKeys = await node.app.inject({
    method: 'GET',
    url: '/api/v1/api-keys',
    headers: { cookie: adminSession.cookie },
  })
  t.notOk(
    adminKeys.json().items.some((key: { id: number }) => key.id === samKey.id),
    'an admin lists their own keys, not Sam’s',
  )
  const revokeOther = await node.app.inject({
    method: 'DELETE',
    url: `/api/v1/api-keys/${samKey.id}`,
    headers: { cookie: adminSession.cookie, 'x-csrf-token': adminSession.csrf },
  })
  t.equal(revokeOther.statusCode, 404, 'another user’s key is "not found"')
  const useKey = () =>
    node.app.inject({
      method: 'GET',
      url: '/api/v1/models',
      headers: { authorization: `Bearer ${samKey.secret}` },
    })
  t.equal((await useKey()).statusCode, 200)
  t.equal((await asSam('DELETE', `/api/v1/api-keys/${samKey.id}`)).statusCode, 204)
  t.equal((await useKey()).statusCode, 401, 'a revoked key stops at once')
  for (const header of [
    `Bearer ${samKey.secret.slice(0, -1)}`,
    'Bearer ',
    `Basic ${samKey.secret}`,
    'Bearer x'.repeat(2000),
  ])
    t.equal(
      (await node.app.inject({ method: 'GET', url: '/api/v1/models', headers: { authorization: header } }))
        .statusCode,
      401,
      `a wrong Authorization header (${header.slice(0, 12)}…) is 401`,
    )
})

t.test('deleting someone else’s upload is an admin action: a key needs the admin scope', async (t) => {
  const node = await buildNode(t)
  const uploader = await buildUser(node)
  const adminNoScope = await buildUser(node, { role: 'admin', scopes: ['chatter:read', 'chatter:write'] })
  const admin = await buildUser(node, { role: 'admin' })
  const lead = await buildRecord(uploader)
  const file = await upload(node, uploader, `fileName=a.txt&recordId=${lead.id}`)
  t.equal(file.status, 201)
  const refused = await adminNoScope.call('DELETE', `/api/v1/attachments/${file.body.id}`)
  t.equal(refused.status, 403)
  t.equal((await uploader.call('GET', `/api/v1/attachments/${file.body.id}`)).status, 200, 'still there')
  t.equal((await admin.call('DELETE', `/api/v1/attachments/${file.body.id}`)).status, 204)
})

t.test('an "own" record and everything on it answers exactly like a missing id', async (t) => {
  const node = await buildNode(t)
  const admin = await buildUser(node, { role: 'admin' })
  t.equal((await admin.call('POST', '/api/v1/models', CONTRACT)).status, 201)
  const owner = await buildUser(node, { name: 'Olga Owner' })
  const outsider = await buildUser(node, { name: 'Otto Outsider' })
  const customer = buildPartner(node, { name: 'Carl Customer' })
  const contract = await buildRecord(owner, 'x_contract', { customer_id: customer.id })
  const posted = await owner.call('POST', `/api/v1/records/${contract.id}/messages`, {
    kind: 'note',
    body: 'private',
  })
  await owner.call('PATCH', `/api/v1/messages/${posted.body.id}`, { body: 'private, edited' })
  const activity = await owner.call('POST', `/api/v1/records/${contract.id}/activities`, { type: 'todo' })
  t.equal(activity.status, 201)
  const file = await upload(node, owner, `fileName=terms.pdf&recordId=${contract.id}`)
  t.equal(file.status, 201)
  const loose = await upload(node, owner, 'fileName=draft.txt') // for no record yet: the uploader’s alone
  t.equal(loose.status, 201)
  // The owner gets an inbox item from a colleague’s post; the outsider tries to mark it read.
  const colleague = await buildUser(node)
  await owner.call('POST', `/api/v1/records/${contract.id}/followers`, { partnerId: colleague.partnerId })
  await colleague.call('POST', `/api/v1/records/${contract.id}/messages`, { kind: 'message', body: 'hi' })
  const inboxItem = (await owner.call('GET', '/api/v1/inbox')).body.items[0]
  t.ok(inboxItem, 'the owner has an inbox item')

  const missing = 987_654
  const probes: [string, 'GET' | 'POST' | 'PATCH' | 'DELETE', (id: number) => string, number, unknown?][] = [
    ['message versions', 'GET', (id) => `/api/v1/messages/${id}/versions`, posted.body.id],
    [
      'follower choice',
      'PATCH',
      (id) => `/api/v1/records/${id}/followers/${owner.partnerId}`,
      contract.id,
      { subscription: 'none' },
    ],
    ['its activities', 'GET', (id) => `/api/v1/records/${id}/activities`, contract.id],
    ['schedule on it', 'POST', (id) => `/api/v1/records/${id}/activities`, contract.id, { type: 'todo' }],
    ['read an activity', 'GET', (id) => `/api/v1/activities/${id}`, activity.body.id],
    ['edit an activity', 'PATCH', (id) => `/api/v1/activities/${id}`, activity.body.id, { summary: 'x' }],
    ['snooze an activity', 'POST', (id) => `/api/v1/activities/${id}/snooze`, activity.body.id],
    ['cancel an activity', 'POST', (id) => `/api/v1/activities/${id}/cancel`, activity.body.id],
    ['finish an activity', 'POST', (id) => `/api/v1/activities/${id}/done`, activity.body.id, {}],
    ['file metadata', 'GET', (id) => `/api/v1/attachments/${id}`, file.body.id],
    ['file content', 'GET', (id) => `/api/v1/attachments/${id}/content`, file.body.id],
    ['delete a file', 'DELETE', (id) => `/api/v1/attachments/${id}`, file.body.id],
    ['someone’s loose upload', 'GET', (id) => `/api/v1/attachments/${id}`, loose.body.id],
    ['its content', 'GET', (id) => `/api/v1/attachments/${id}/content`, loose.body.id],
    ['delete it', 'DELETE', (id) => `/api/v1/attachments/${id}`, loose.body.id],
    ['mark an inbox item read', 'POST', (id) => `/api/v1/inbox/${id}/read`, inboxItem.id],
  ]
  for (const [what, method, url, id, payload] of probes) {
    const hidden = await outsider.call(method, url(id), payload)
    const absent = await outsider.call(method, url(missing), payload)
    t.equal(hidden.status, 404, `${what}: 404`)
    t.same(hidden.body, absent.body, `${what}: the same body as a missing id`)
    t.same(hidden.response.headers['content-type'], absent.response.headers['content-type'])
  }
  const uploadHidden = await upload(node, outsider, `fileName=a.txt&recordId=${contract.id}`)
  const uploadAbsent = await upload(node, outsider, `fileName=a.txt&recordId=${missing}`)
  t.equal(uploadHidden.status, 404, 'uploading for it: 404')
  t.same(uploadHidden.body, uploadAbsent.body)

  // Nothing the outsider did changed anything the owner sees.
  const after = await owner.call('GET', `/api/v1/activities/${activity.body.id}`)
  t.equal(after.body.status, 'open')
  t.equal(after.body.summary, activity.body.summary)
  t.equal((await owner.call('GET', `/api/v1/attachments/${file.body.id}`)).status, 200)
  t.equal((await owner.call('GET', '/api/v1/inbox')).body.items[0].read, false)

  // Lists never show it either: "my activities", the inbox, the iCal feed of someone not assigned.
  t.same((await outsider.call('GET', '/api/v1/my/activities')).body.items, [])
  t.same((await outsider.call('GET', '/api/v1/inbox')).body.items, [])
  const wrongToken = await node.app.inject({ method: 'GET', url: '/ical/not-a-token.ics' })
  t.equal(wrongToken.statusCode, 404)
})

t.test('CSRF: every cookie-authenticated write needs the token, uploads included', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { login: 'sarah' })
  const lead = await buildRecord(sarah)
  const session = await login(node, sarah)
  const writes: ['POST' | 'PATCH' | 'DELETE', string, unknown][] = [
    ['POST', `/api/v1/records/${lead.id}/messages`, { kind: 'message', body: 'forged' }],
    ['PATCH', `/api/v1/records/${lead.id}`, { version: 1, values: { name: 'forged' } }],
    ['PATCH', `/api/v1/users/${sarah.userId}`, { name: 'forged' }],
    ['POST', '/api/v1/api-keys', { name: 'forged', scopes: ['records:read'] }],
    ['POST', '/api/v1/inbox/read-all', {}],
    ['DELETE', `/api/v1/records/${lead.id}`, undefined],
    ['DELETE', '/api/v1/session', undefined],
  ]
  for (const [method, url, payload] of writes)
    for (const token of [undefined, 'forged', '']) {
      const response = await node.app.inject({
        method,
        url,
        headers: { cookie: session.cookie, ...(token === undefined ? {} : { 'x-csrf-token': token }) },
        ...(payload === undefined ? {} : { payload: payload as object }),
      })
      t.equal(response.statusCode, 403, `${method} ${url} with token ${token}`)
      t.equal(response.json().error.code, 'E_CSRF')
    }
  const forgedUpload = await node.app.inject({
    method: 'POST',
    url: '/api/v1/attachments?fileName=x.txt',
    headers: { cookie: session.cookie, 'content-type': 'text/plain' },
    payload: 'forged',
  })
  t.equal(forgedUpload.statusCode, 403, 'an upload without the token is refused')
  t.equal((node.database.sqlite.prepare('select count(*) as n from attachments').get() as { n: number }).n, 0)
  t.equal((await sarah.call('GET', `/api/v1/records/${lead.id}`)).body.name, lead.name, 'nothing changed')
  t.equal((await sarah.call('GET', '/api/v1/session')).status, 200, 'the session still works')
})

t.test('idempotency keys are per user: another user’s key replays nothing of the first', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah' })
  const mallory = await buildUser(node, { name: 'Mallory' })
  const lead = await buildRecord(sarah)
  const post = (actor: Actor, body: string) =>
    node.app.inject({
      method: 'POST',
      url: `/api/v1/records/${lead.id}/messages`,
      headers: { authorization: `Bearer ${actor.secret}`, 'idempotency-key': 'order-42' },
      payload: { kind: 'note', body },
    })
  const first = await post(sarah, 'the secret terms')
  t.equal(first.statusCode, 201)
  const same = await post(mallory, 'the secret terms')
  t.equal(same.statusCode, 201, 'Mallory’s request runs as her own')
  t.notOk(same.headers['idempotent-replayed'])
  t.equal(same.json().author.name, 'Mallory')
  t.not(same.json().id, first.json().id)
  const other = await post(mallory, 'guess')
  t.equal(other.statusCode, 422, 'her key, reused for something else: a mismatch of her own')
  t.notMatch(other.body, /secret terms|Sarah/)
})

t.test('the Bearer scheme name is case-insensitive (RFC 9110), the key itself is not', async (t) => {
  const node = await buildNode(t)
  const ann = await buildUser(node)
  const as = (authorization: string) =>
    node.app.inject({ method: 'GET', url: '/api/v1/session', headers: { authorization } })
  t.equal((await as(`bearer ${ann.secret}`)).statusCode, 200)
  t.equal((await as(`BEARER   ${ann.secret}`)).statusCode, 200)
  t.equal((await as(`Bearer ${ann.secret.toUpperCase()}`)).statusCode, 401)
  t.equal((await as(`Basic ${ann.secret}`)).statusCode, 401)
})
