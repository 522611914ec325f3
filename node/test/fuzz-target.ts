import type { Test } from 'tap'
import { operationsOf, type Pools } from '../../test/fuzz/generate.ts'
import type { Target } from '../../test/fuzz/run.ts'
import { buildNode, buildPartner, buildRecord, buildUser, TEST_PASSWORD, type TestNode } from './helpers.ts'

/**
 * Tables whose rows a refused request may add on purpose: the answer kept for an Idempotency-Key (a 4xx
 * is kept too, and replayed) and the record of failed logins shown to administrators.
 */
const REFUSALS_RECORDED = new Set(['idempotency_keys', 'login_attempts'])

/**
 * A node with something in every table the API reaches (users, keys, a session, contacts, records, a
 * message, an activity, a follower, an upload), its OpenAPI document, and the ids to aim at.
 */
export async function nodeTarget(t: Test) {
  const node = await buildNode(t)
  const admin = await buildUser(node, { role: 'admin', login: 'fuzz-admin' })
  const sarah = await buildUser(node, { login: 'fuzz-sarah' })
  const narrow = await buildUser(node, { scopes: ['records:read'] })
  // The keys the fuzz runs with get ids no generated request aims at: revoking them would end the run early.
  node.database.sqlite.prepare('update api_keys set id = id + 1000000').run()
  const customer = buildPartner(node)
  const lead = await buildRecord(sarah)
  const own = await buildRecord(admin)
  const message = (
    await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, { kind: 'message', body: 'hello' })
  ).body
  const activity = (await sarah.call('POST', `/api/v1/records/${lead.id}/activities`, { type: 'call' })).body
  await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: customer.id })
  const upload = await node.app.inject({
    method: 'POST',
    url: `/api/v1/attachments?fileName=notes.txt&recordId=${lead.id}`,
    headers: { authorization: `Bearer ${sarah.secret}`, 'content-type': 'text/plain' },
    payload: 'hello',
  })
  const login = await node.app.inject({
    method: 'POST',
    url: '/api/v1/session',
    payload: { login: sarah.login, password: TEST_PASSWORD },
  })
  const session = login.cookies.find((cookie) => cookie.name === 'ochat_session')?.value ?? ''
  const document = (await node.app.inject({ method: 'GET', url: '/docs' })).json()
  const models = (await admin.call('GET', '/api/v1/models')).body.items.map((m: { name: string }) => m.name)

  const numbers = [lead.id, own.id, message.id, activity.id, customer.id, sarah.partnerId, admin.userId]
  const ids = [...new Set([...numbers, upload.json().id, 1, 2, 3].map(String))]
  const pools: Pools = {
    params: {
      id: ids,
      partnerId: [customer.id, sarah.partnerId].map(String),
      model: [...models, 'x_unknown'],
      token: ['feed', 'x'.repeat(43)],
    },
    // Known logins too: a login for an unknown user is checked against a hash at the full scrypt cost
    // (0.3 s or more, so that it takes as long as a real one), and would make most of the run's time.
    ids: [...ids, admin.login, sarah.login],
    principals: ['admin', 'user', 'narrow', 'session', 'anonymous', 'forged'],
  }
  const credentials: Record<string, Record<string, string>> = {
    admin: { authorization: `Bearer ${admin.secret}` },
    user: { authorization: `Bearer ${sarah.secret}` },
    narrow: { authorization: `Bearer ${narrow.secret}` },
    session: { cookie: `ochat_session=${session}`, 'x-csrf-token': login.json().csrfToken },
    anonymous: {},
    forged: { authorization: 'Bearer ock_forged_0000', cookie: 'ochat_session=forged' },
  }
  const tables = (
    node.database.sqlite
      .prepare("select name from sqlite_master where type = 'table' and name not like 'sqlite_%'")
      .all() as { name: string }[]
  )
    .map(({ name }) => name)
    .filter((name) => !REFUSALS_RECORDED.has(name))
  const count = node.database.sqlite.prepare(
    `select ${tables.map((name) => `(select count(*) from "${name}") as "${name}"`).join(', ')}`,
  )
  const target: Target = {
    name: 'node',
    async send(request) {
      const response = await node.app.inject({
        method: request.method as 'GET',
        url: request.url,
        headers: { ...request.headers, ...credentials[request.as] },
        ...(request.payload !== undefined ? { payload: request.payload } : {}),
      })
      return { status: response.statusCode, headers: response.headers, body: response.body }
    },
    counts: () => count.get() as Record<string, number>,
  }
  return { node, target, pools, operations: operationsOf(document) }
}

/** The node's database is whole: SQLite's own checks, and every foreign key points at a row. */
export function integrity(node: TestNode) {
  const sqlite = node.database.sqlite
  return {
    check: (sqlite.prepare('pragma integrity_check').all() as { integrity_check: string }[])
      .map((row) => row.integrity_check)
      .join(', '),
    foreignKeys: sqlite.prepare('pragma foreign_key_check').all().length,
  }
}
