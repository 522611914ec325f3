import t from 'tap'
import { buildNode, buildUser, TEST_PASSWORD, type TestNode } from './helpers.ts'

async function logIn(node: TestNode, login: string, headers: Record<string, string> = {}) {
  const response = await node.app.inject({
    method: 'POST',
    url: '/api/v1/session',
    payload: { login, password: TEST_PASSWORD },
    headers,
  })
  if (response.statusCode !== 200) throw new Error(`login failed: ${response.statusCode}`)
  return {
    response,
    session: response.cookies.find((cookie) => cookie.name === 'ochat_session'),
    device: response.cookies.find((cookie) => cookie.name === 'ochat_device'),
  }
}

t.test('cookies are Secure whenever the node is reached over https', async (t) => {
  const public_ = await buildNode(t, { env: { NODE_PUBLIC_URL: 'https://erp.acme.example' } })
  await buildUser(public_, { login: 'ann' })
  const { session, device } = await logIn(public_, 'ann')
  t.equal(session?.secure, true, 'the session cookie, with an https public URL')
  t.equal(device?.secure, true, 'the device cookie too')
  t.equal(device?.httpOnly, true)
  t.equal(device?.sameSite, 'Strict')
  t.equal(device?.path, '/api/v1/session', 'sent to the login route only')

  // The TLS proxy in front of a node whose public URL was left at its http default.
  const proxied = await buildNode(t, { env: { NODE_TRUST_PROXY: 'true' } })
  await buildUser(proxied, { login: 'ann' })
  const overTls = await logIn(proxied, 'ann', { 'x-forwarded-proto': 'https' })
  t.equal(overTls.session?.secure, true, 'the proxy says https: Secure')
  t.equal(overTls.device?.secure, true)
  const logout = await proxied.app.inject({
    method: 'DELETE',
    url: '/api/v1/session',
    headers: { 'x-forwarded-proto': 'https', 'x-csrf-token': overTls.response.json().csrfToken },
    cookies: { ochat_session: String(overTls.session?.value) },
  })
  t.equal(logout.statusCode, 204)
  t.equal(logout.cookies.find((cookie) => cookie.name === 'ochat_session')?.secure, true, 'logging out too')

  const direct = await buildNode(t)
  await buildUser(direct, { login: 'ann' })
  const forged = await logIn(direct, 'ann', { 'x-forwarded-proto': 'https' })
  t.notOk(forged.session?.secure, 'an untrusted X-Forwarded-Proto changes nothing (plain http stays usable)')
})

t.test('a password change revokes the API keys when asked to', async (t) => {
  const node = await buildNode(t)
  const ann = await buildUser(node, { login: 'ann' })
  const kept = await ann.call('PATCH', `/api/v1/users/${ann.userId}`, {
    password: 'a new long password',
    currentPassword: TEST_PASSWORD,
  })
  t.equal(kept.status, 200)
  t.equal((await ann.call('GET', '/api/v1/session')).status, 200, 'not asked: the keys keep working')

  const alone = await ann.call('PATCH', `/api/v1/users/${ann.userId}`, { revokeApiKeys: true })
  t.equal(alone.status, 400, 'revokeApiKeys goes with a new password')
  t.equal(alone.body.error.code, 'E_INVALID_BODY')

  const revoked = await ann.call('PATCH', `/api/v1/users/${ann.userId}`, {
    password: 'another long password',
    currentPassword: 'a new long password',
    revokeApiKeys: true,
  })
  t.equal(revoked.status, 200)
  const after = await ann.call('GET', '/api/v1/session')
  t.equal(after.status, 401, 'every key of ann stops at once')
  t.equal(after.body.error.code, 'E_AUTH_REQUIRED')
})

t.test('an administrator deactivating a user always revokes their keys and sessions', async (t) => {
  const node = await buildNode(t)
  const admin = await buildUser(node, { role: 'admin' })
  const bob = await buildUser(node, { login: 'bob' })
  const { session } = await logIn(node, 'bob')
  const bobSession = { cookies: { ochat_session: String(session?.value) } }
  t.equal((await bob.call('GET', '/api/v1/session')).status, 200)
  t.equal((await admin.call('PATCH', `/api/v1/users/${bob.userId}`, { active: false })).status, 200)
  t.equal((await admin.call('PATCH', `/api/v1/users/${bob.userId}`, { active: true })).status, 200)
  t.equal(
    (await bob.call('GET', '/api/v1/session')).status,
    401,
    'reactivating bob does not bring his old key back',
  )
  const old = await node.app.inject({ method: 'GET', url: '/api/v1/session', ...bobSession })
  t.equal(old.statusCode, 401, 'nor his old session')
  const { session: fresh } = await logIn(node, 'bob')
  const keys = await node.app.inject({
    method: 'GET',
    url: '/api/v1/api-keys',
    cookies: { ochat_session: String(fresh?.value) },
  })
  t.equal(keys.json().items.length, 1)
  t.equal(keys.json().items[0].revokedAt, node.clock.now(), 'bob sees his key revoked, and when')
})

t.test('model definitions need the models:read scope', async (t) => {
  const node = await buildNode(t)
  await buildUser(node, { login: 'ann' })
  const recordsOnly = await buildUser(node, { scopes: ['records:read'] })
  for (const url of ['/api/v1/models', '/api/v1/models/lead']) {
    const refused = await recordsOnly.call('GET', url)
    t.equal(refused.status, 403, url)
    t.equal(refused.body.error.code, 'E_SCOPE')
    t.match(refused.body.error.reason, /models:read/)
  }
  t.equal((await recordsOnly.call('GET', '/api/v1/models/lead/records')).status, 200, 'records stay readable')
  const modelsReader = await buildUser(node, { scopes: ['models:read'] })
  t.equal((await modelsReader.call('GET', '/api/v1/models')).status, 200)
  const { session } = await logIn(node, 'ann')
  const ui = await node.app.inject({
    method: 'GET',
    url: '/api/v1/models',
    cookies: { ochat_session: String(session?.value) },
  })
  t.equal(ui.statusCode, 200, 'the web UI (a session has every scope of its role) still loads the models')
})
