import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Sqlite from 'better-sqlite3'
import { drizzle } from 'drizzle-orm/better-sqlite3'
import { migrate } from 'drizzle-orm/better-sqlite3/migrator'
import t from 'tap'
import { openDatabase } from '../src/db/client.ts'
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

t.test(
  "a user's own session changes its password while others fail logins from the same address",
  async (t) => {
    const node = await buildNode(t)
    const bob = await buildUser(node, { login: 'bob' })
    const colleagues = ['ann', 'carol', 'dave', 'erin', 'fred', 'gina', 'hal']
    for (const login of colleagues) await buildUser(node, { login })
    const { response, session } = await logIn(node, 'bob')
    // Colleagues behind the same NAT keep mistyping: 21 failures, past the address's budget of 20.
    for (const login of colleagues)
      for (let failure = 0; failure < 3; failure++)
        await node.app.inject({
          method: 'POST',
          url: '/api/v1/session',
          payload: { login, password: 'wrong' },
        })
    const stranger = await node.app.inject({
      method: 'POST',
      url: '/api/v1/session',
      payload: { login: 'bob', password: TEST_PASSWORD },
    })
    t.equal(stranger.statusCode, 429, 'the address waits')
    const changed = await node.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${bob.userId}`,
      headers: { 'x-csrf-token': response.json().csrfToken },
      cookies: { ochat_session: String(session?.value) },
      payload: { currentPassword: TEST_PASSWORD, password: 'a new and long password' },
    })
    t.equal(changed.statusCode, 200, 'the session is trusted: only its own failures count')
  },
)

t.test(
  'keys made before models:read was a scope keep reading models if they work with records',
  async (t) => {
    // The node's database as it was before the migration that made models:read a scope.
    const dir = mkdtempSync(join(tmpdir(), 'ochat-node-upgrade-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const before = join(dir, 'drizzle')
    cpSync(fileURLToPath(new URL('../drizzle', import.meta.url)), before, { recursive: true })
    const journalPath = join(before, 'meta', '_journal.json')
    const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { tag: string }[] }
    journal.entries = journal.entries.filter((entry) => entry.tag < '0003')
    writeFileSync(journalPath, JSON.stringify(journal))
    const file = join(dir, 'node.sqlite')
    const old = new Sqlite(file)
    migrate(drizzle(old), { migrationsFolder: before })
    old.pragma('foreign_keys = OFF')
    const insert = old.prepare(
      `insert into api_keys (user_id, name, prefix, secret_hash, scopes, created_at) values (1, ?, 'ock_', ?, ?, 0)`,
    )
    insert.run('reader', 'a', JSON.stringify(['records:read']))
    insert.run('writer', 'b', JSON.stringify(['records:write', 'chatter:write']))
    insert.run('chat bot', 'c', JSON.stringify(['ochat:read']))
    old.close()

    const upgraded = openDatabase(file)
    t.teardown(() => upgraded.close())
    const scopes = upgraded.sqlite.prepare('select name, scopes from api_keys order by id').all() as {
      name: string
      scopes: string
    }[]
    t.same(
      scopes.map((row) => [row.name, JSON.parse(row.scopes)]),
      [
        ['reader', ['records:read', 'models:read']],
        ['writer', ['records:write', 'chatter:write', 'models:read']],
        ['chat bot', ['ochat:read']],
      ],
    )
  },
)

t.test('a caller refused by who they are is refused whatever the body: 403, never a 400', async (t) => {
  const node = await buildNode(t)
  const admin = await buildUser(node, { login: 'ada', role: 'admin' })
  const sam = await buildUser(node, { login: 'sam' })
  const bodies = [{}, { name: 42, scopes: 'admin' }, { name: 'ok', scopes: ['not-a-scope'] }]

  for (const body of bodies) {
    const minted = await admin.call('POST', '/api/v1/api-keys', body)
    t.equal(minted.status, 403, `an API key cannot mint keys, body ${JSON.stringify(body)}`)
    t.equal(minted.body.error.code, 'E_FORBIDDEN')
    t.match(JSON.stringify(minted.body.error), /logged-in session/, 'and says why')
  }
  // The same bad bodies from a session, which may create keys, are what they are: invalid.
  const { response } = await logIn(node, 'ada')
  const cookie = response.cookies.find((c) => c.name === 'ochat_session')?.value
  const fromSession = await node.app.inject({
    method: 'POST',
    url: '/api/v1/api-keys',
    headers: { cookie: `ochat_session=${cookie}`, 'x-csrf-token': response.json().csrfToken },
    payload: { name: 42 },
  })
  t.equal(fromSession.statusCode, 400, 'a session sending a bad body is told so')
  t.equal(fromSession.json().error.code, 'E_INVALID_BODY')

  // Administrator-only routes refuse a user before reading the body too.
  for (const url of ['/api/v1/users', '/api/v1/models', '/api/v1/ochat/connections']) {
    for (const body of [{}, { login: 5, name: [] }]) {
      const refused = await sam.call('POST', url, body)
      t.equal(refused.status, 403, `${url}: a user is refused, body ${JSON.stringify(body)}`)
      t.equal(refused.body.error.code, 'E_FORBIDDEN', url)
    }
  }
  t.equal(
    (await admin.call('POST', '/api/v1/users', {})).status,
    400,
    'an administrator is told the body is bad',
  )
})
