import fc from 'fast-check'
import t from 'tap'
import { type Actor, buildNode, buildPartner, buildRecord, buildUser, type TestNode } from './helpers.ts'

/**
 * Bad input, as an attacker or a buggy integrator sends it: every refusal is a 4xx with a
 * stable code, never a 500, and a refused write leaves no row behind. Regression tests are named
 * after what broke.
 */

/** Rows per table: a refused request must not change any count. */
function rowCounts(node: TestNode): Record<string, number> {
  const tables = node.database.sqlite
    .prepare("select name from sqlite_master where type = 'table' and name not like 'sqlite_%'")
    .all() as { name: string }[]
  return Object.fromEntries(
    tables.map(({ name }) => [
      name,
      (node.database.sqlite.prepare(`select count(*) as n from "${name}"`).get() as { n: number }).n,
    ]),
  )
}

const CODE = /^E_[A-Z_]+$/

t.test(
  'activity dates stay in range: a far deadline is refused, never snoozed into "+010000-01"',
  async (t) => {
    const node = await buildNode(t)
    const sarah = await buildUser(node)
    const lead = await buildRecord(sarah)
    for (const body of [
      { type: 'todo', deadline: '9999-12-31' },
      { type: 'todo', deadline: '0001-01-01' },
      { type: 'call', startsAt: '9999-12-31T23:59:59Z' },
      { type: 'call', startsAt: '0000-01-01T00:00:00Z' },
    ]) {
      const refused = await sarah.call('POST', `/api/v1/records/${lead.id}/activities`, body)
      t.equal(refused.status, 400, JSON.stringify(body))
      t.equal(refused.body.error.code, 'E_INVALID_BODY')
    }
    t.equal(rowCounts(node).activities, 0, 'nothing scheduled')
    const last = await sarah.call('POST', `/api/v1/records/${lead.id}/activities`, {
      type: 'upload_document', // chains to the next type on done: a second date computed from this one
      deadline: '9000-12-31',
    })
    t.equal(last.status, 201, 'the last accepted day')
    const snoozed = await sarah.call('POST', `/api/v1/activities/${last.body.id}/snooze`)
    t.equal(snoozed.body.deadline, '9001-01-07', 'a snooze after it is still a date')
    t.equal(snoozed.body.state, 'planned')
    const done = await sarah.call('POST', `/api/v1/activities/${last.body.id}/done`, {})
    t.equal(done.status, 200)
    t.match(done.body.triggered.deadline, /^\d{4}-\d{2}-\d{2}$/)
    const moved = await sarah.call('PATCH', `/api/v1/activities/${done.body.triggered.id}`, {
      startsAt: '9999-12-31T10:00:00Z',
    })
    t.equal(moved.status, 400, 'a reschedule past the range is refused too')
  },
)

t.test('a datetime value near year 9999 with an offset is refused, not stored as "+010000-…"', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node)
  const customer = buildPartner(node)
  const refused = await sarah.call('POST', '/api/v1/models/sale_order/records', {
    values: { name: 'SO1', partner_id: customer.id, commitment_date: '9999-12-31T23:59:59-14:00' },
  })
  t.equal(refused.status, 400)
  t.equal(refused.body.error.details[0].path, 'commitment_date')
  const order = await sarah.call('POST', '/api/v1/models/sale_order/records', {
    values: { name: 'SO2', partner_id: customer.id, commitment_date: '9999-12-31T23:59:59+14:00' },
  })
  t.equal(order.status, 201)
  const sentBack = await sarah.call('PATCH', `/api/v1/records/${order.body.id}`, {
    version: order.body.version,
    values: order.body.values,
  })
  t.equal(sentBack.status, 200, 'what the node answers can be sent back as is')
})

t.test(
  'a body of thousands of different @words looks up 100 at most (it held every write for 2 s)',
  async (t) => {
    const node = await buildNode(t)
    const sarah = await buildUser(node)
    const lead = await buildRecord(sarah)
    buildPartner(node, { name: 'Zed' })
    const words = Array.from({ length: 30_000 }, (_, index) => `@w${index.toString(36)}`)
    const early = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
      kind: 'message',
      body: ['@Zed', ...words].join(' '),
    })
    t.equal(early.status, 201)
    t.same(
      early.body.mentions.map((m: { name: string }) => m.name),
      ['Zed'],
      'a name among the first 100 is mentioned',
    )
    const late = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
      kind: 'message',
      body: [...words.slice(0, 100), '@Zed'].join(' '),
    })
    t.equal(late.status, 201)
    t.same(late.body.mentions, [], 'past 100 different @words, the rest stay text')
  },
)

t.test('every route refuses a caller without credentials, or without the scope it needs', async (t) => {
  const node = await buildNode(t)
  const lead = await buildRecord(await buildUser(node))
  const narrow = await buildUser(node, { scopes: ['activities:read'] })
  let checked = 0
  for (const [key, access] of node.app.routeAccess) {
    const [method = '', path = ''] = key.split(' ')
    if (access === 'public' || path === '/api/v1/live') continue
    const url = path.replace(':model', 'lead').replace(/:\w+/g, String(lead.id))
    const verb = method.toUpperCase() as 'GET' | 'POST' | 'PATCH' | 'DELETE'
    const anonymous = await node.app.inject({ method: verb, url, payload: verb === 'GET' ? undefined : {} })
    t.equal(anonymous.statusCode, 401, `${key}: 401 without credentials`)
    t.equal(anonymous.json().error.code, 'E_AUTH_REQUIRED')
    if (verb === 'GET')
      t.equal((await node.app.inject({ method: 'HEAD', url })).statusCode, 401, `HEAD ${path}: 401 too`)
    const forged = await node.app.inject({
      method: verb,
      url,
      headers: { authorization: 'Bearer ock_forged_key', cookie: 'ochat_session=forged' },
    })
    t.equal(forged.statusCode, 401, `${key}: 401 with a made-up key or cookie`)
    // "admin": the admin scope (API keys), and for some routes the admin role too (tested apart).
    if (access !== 'session' && access !== 'activities:read') {
      const refused = await narrow.call(verb, url, verb === 'GET' ? undefined : {})
      t.equal(refused.status, 403, `${key}: a key without "${access}" is refused`)
      t.equal(refused.body.error.code, 'E_SCOPE', key)
    }
    checked++
  }
  t.ok(checked > 40, `${checked} routes checked`)
})

t.test('bad ids and bad queries: 400 E_INVALID_PARAMS or 404 E_NOT_FOUND, never a 500', async (t) => {
  const node = await buildNode(t)
  const admin = await buildUser(node, { role: 'admin' })
  const ids = ['0', '-1', '1.5', 'abc', '9007199254740993', '99999999999999999999', '%00', '1e400', '%20']
  const problems: string[] = []
  for (const [key, access] of node.app.routeAccess) {
    const [method = '', path = ''] = key.split(' ')
    if (!path.includes(':id') && !path.includes(':partnerId') && !path.includes(':token')) continue
    if (access === 'public' && !path.startsWith('/ical')) continue
    for (const id of ids) {
      const url = path.replace(':model', 'lead').replace(/:\w+/g, id)
      const response = await admin.call(method.toUpperCase() as 'GET', url, method === 'get' ? undefined : {})
      const code = response.body?.error?.code
      if (![400, 404].includes(response.status) || !['E_INVALID_PARAMS', 'E_NOT_FOUND'].includes(code))
        problems.push(`${key} ${id}: ${response.status} ${code}`)
    }
  }
  const lists = [
    '/api/v1/models/lead/records',
    '/api/v1/inbox',
    '/api/v1/my/activities',
    '/api/v1/partners',
    '/api/v1/users',
  ]
  const queries = [
    'limit=0',
    'limit=-5',
    'limit=201',
    'limit=1e9',
    'limit=abc',
    'limit=1&limit=2',
    'cursor=%00',
    'cursor=LTE',
    `cursor=${'A'.repeat(101)}`,
    'cursor=MS41',
    'state=bad',
    'unread=maybe',
  ]
  for (const list of lists)
    for (const query of queries) {
      const response = await admin.call('GET', `${list}?${query}`)
      const ignored = response.status === 200 && /^(state|unread)=/.test(query) // not a parameter of this list
      if (!ignored && (response.status !== 400 || response.body.error.code !== 'E_INVALID_PARAMS'))
        problems.push(`${list}?${query}: ${response.status}`)
    }
  const lead = await buildRecord(admin)
  for (const query of ['kind=x', 'kind=', 'kind=note,,message', 'limit=0'])
    if ((await admin.call('GET', `/api/v1/records/${lead.id}/messages?${query}`)).status !== 400)
      problems.push(`messages?${query}`)
  t.same(problems, [], 'every bad id and query is refused with a stable code')
})

t.test(
  'random bodies on every write: a 4xx with a code, never a 500, never a half-written row',
  async (t) => {
    const node = await buildNode(t)
    const admin = await buildUser(node, { role: 'admin' })
    const sarah = await buildUser(node, { name: 'Sarah' })
    const customer = buildPartner(node, { name: 'Carla' })
    const lead = await buildRecord(sarah, 'lead')
    const message = (
      await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, { kind: 'message', body: 'x' })
    ).body
    const activity = (await sarah.call('POST', `/api/v1/records/${lead.id}/activities`, { type: 'call' }))
      .body
    await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: customer.id })
    const version = () =>
      node.database.sqlite.prepare('select version from records where id = ?').get(lead.id) as {
        version: number
      }

    // A valid body per write; each run breaks one field (or the whole body) with something hostile.
    const shapes: [Actor, 'POST' | 'PATCH', string, () => Record<string, unknown>][] = [
      [
        sarah,
        'POST',
        '/api/v1/models/lead/records',
        () => ({ values: { name: 'x', stage: 'new', expected_revenue: 5 } }),
      ],
      [
        sarah,
        'PATCH',
        `/api/v1/records/${lead.id}`,
        () => ({ version: version().version, values: { stage: 'won' } }),
      ],
      [
        sarah,
        'POST',
        `/api/v1/records/${lead.id}/messages`,
        () => ({ kind: 'note', body: 'hi', format: 'html', mentionPartnerIds: [], attachmentIds: [] }),
      ],
      [sarah, 'PATCH', `/api/v1/messages/${message.id}`, () => ({ body: 'edited', format: 'markdown' })],
      [
        sarah,
        'POST',
        `/api/v1/records/${lead.id}/followers`,
        () => ({ partnerId: customer.id, subscription: 'custom', subtypes: ['comment'] }),
      ],
      [
        sarah,
        'PATCH',
        `/api/v1/records/${lead.id}/followers/${customer.id}`,
        () => ({ subscription: 'all', subtypes: [] }),
      ],
      [
        sarah,
        'POST',
        `/api/v1/records/${lead.id}/activities`,
        () => ({
          type: 'call',
          summary: 's',
          note: 'n',
          deadline: '2026-12-01',
          assigneeId: sarah.userId,
          startsAt: '2026-12-01T09:00:00Z',
          durationMinutes: 30,
        }),
      ],
      [
        sarah,
        'PATCH',
        `/api/v1/activities/${activity.id}`,
        () => ({ deadline: '2026-12-02', summary: 's', note: 'n', durationMinutes: 15 }),
      ],
      [sarah, 'POST', '/api/v1/partners', () => ({ name: 'P', email: 'p@x.test', companyName: 'C' })],
      [sarah, 'PATCH', `/api/v1/partners/${customer.id}`, () => ({ name: 'Carla', email: null })],
      [
        sarah,
        'PATCH',
        `/api/v1/users/${sarah.userId}`,
        () => ({ name: 'Sarah', notification: 'inbox', timeZone: 'UTC' }),
      ],
      [sarah, 'POST', '/api/v1/inbox/read-all', () => ({ recordId: lead.id })],
      [
        admin,
        'POST',
        '/api/v1/models',
        () => ({
          name: 'x_fuzz',
          label: 'F',
          userAccess: 'own',
          fields: [{ name: 'name', label: 'N', type: 'char', required: true }],
        }),
      ],
      [
        admin,
        'POST',
        '/api/v1/users',
        () => ({ login: 'fuzz', password: 'long enough', name: 'F', role: 'user', timeZone: 'UTC' }),
      ],
    ]
    const hostile = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.constantFrom(
        null,
        '',
        '\u0000',
        'a\u0000b',
        '\ud800',
        '\u202e',
        'x'.repeat(300_000),
        -1,
        0,
        1.5,
        2 ** 53,
        -(2 ** 63),
        1e308,
        Number.MIN_VALUE,
        [],
        {},
        [1, 2, 3],
        { $gt: '' },
        '9999-12-31',
        '0000-00-00',
        '2026-02-30',
        'Etc/GMT+99',
        ['\u0000'],
        [2 ** 31, 2 ** 31],
      ),
    )
    const mutation = fc.oneof(
      { weight: 5, arbitrary: fc.record({ field: fc.nat(20), value: hostile }) },
      { weight: 1, arbitrary: fc.record({ field: fc.constant(-1), value: hostile }) },
    )
    for (const [actor, method, url, valid] of shapes) {
      await fc.assert(
        fc.asyncProperty(mutation, async ({ field, value }) => {
          const body = valid()
          const keys = Object.keys(body)
          const payload =
            field === -1 ? value : { ...body, [keys[field % (keys.length + 1)] ?? 'extra']: value }
          const before = rowCounts(node)
          const response = await actor.call(method, url, payload)
          if (response.status >= 500) return false
          if (response.status < 400) return true
          const unchanged = JSON.stringify(rowCounts(node)) === JSON.stringify(before)
          return CODE.test(response.body?.error?.code ?? '') && unchanged
        }),
        { numRuns: 25, seed: 4 },
      )
      t.pass(`${method} ${url}`)
    }
    for (const raw of [
      `{"values":${'['.repeat(50_000)}${']'.repeat(50_000)}}`,
      '{"a":',
      'null',
      '"x"',
      '\u0000',
    ])
      for (const [actor, method, url] of shapes.slice(0, 4)) {
        const response = await node.app.inject({
          method,
          url,
          headers: { authorization: `Bearer ${actor.secret}`, 'content-type': 'application/json' },
          payload: raw,
        })
        t.equal(response.statusCode, 400, `${method} ${url} with ${raw.slice(0, 12)}…`)
      }
    const tooBig = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
      kind: 'message',
      body: 'x'.repeat(2 * 1024 * 1024),
    })
    t.equal(tooBig.status, 413)
    t.equal(tooBig.body.error.code, 'E_BODY_TOO_LARGE')
  },
)
