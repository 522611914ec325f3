import { ManualClock } from '@ochat/shared-protocol/server'
import t from 'tap'
import { type Actor, buildNode, buildPartner, buildRecord, buildUser } from './helpers.ts'

/**
 * A model's list as people work it: a search box, "my records", the activity state filter, and
 * columns sorted by a click, all done by the node so that pages and hidden records stay right.
 */

const names = (body: { items: { name: string }[] }) => body.items.map((item) => item.name)
const list = (actor: Actor, query: string, model = 'lead') =>
  actor.call('GET', `/api/v1/models/${model}/records?${query}`)

t.test('the search box finds words in the name and the text fields, any case', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  await buildRecord(sarah, 'lead', { name: 'Oak desks', description: 'Wants twelve' })
  await buildRecord(sarah, 'lead', { name: 'Chairs', description: 'Matching the OAK desks' })
  await buildRecord(sarah, 'lead', { name: 'Lamps', email: 'buyer@oakwood.test' })
  await buildRecord(sarah, 'lead', { name: '100% recycled paper' })
  await buildRecord(sarah, 'lead', { name: 'Paper' })

  t.same(names((await list(sarah, 'q=oak')).body).sort(), ['Chairs', 'Lamps', 'Oak desks'])
  t.same(names((await list(sarah, 'q=twelve')).body), ['Oak desks'], 'a long text field')
  t.same(names((await list(sarah, `q=${encodeURIComponent('100%')}`)).body), ['100% recycled paper'])
  t.same(names((await list(sarah, 'q=nothing-like-it')).body), [])
  t.equal((await list(sarah, `q=${'x'.repeat(101)}`)).status, 400, 'too long a search')
})

t.test('"my records" are those assigned to me', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const tom = await buildUser(node, { name: 'Tom Trader' })
  await buildRecord(sarah, 'lead', { name: 'Mine', user_id: sarah.userId })
  await buildRecord(sarah, 'lead', { name: 'Made for Tom', user_id: tom.userId })
  await buildRecord(tom, 'lead', { name: 'Given to me', user_id: sarah.userId })
  t.same(names((await list(sarah, 'mine=true')).body).sort(), ['Given to me', 'Mine'])
  t.equal(names((await list(sarah, 'mine=false')).body).length, 3)
  t.equal((await list(sarah, 'mine=yes')).status, 400)
})

t.test("the activity filter takes each record's worst state, in its assignee's time zone", async (t) => {
  // Noon in London is already tomorrow in Auckland (UTC+13 in November).
  const node = await buildNode(t, { clock: new ManualClock(Date.parse('2026-11-25T12:00:00Z')) })
  const sarah = await buildUser(node, { name: 'Sarah Sales', timeZone: 'UTC' })
  const kiri = await buildUser(node, { name: 'Kiri Kiwi', timeZone: 'Pacific/Auckland' })
  const schedule = async (recordId: number, deadline: string, assigneeId: number) => {
    const response = await sarah.call('POST', `/api/v1/records/${recordId}/activities`, {
      type: 'call',
      deadline,
      assigneeId,
    })
    t.equal(response.status, 201)
  }
  const late = await buildRecord(sarah, 'lead', { name: 'Late' })
  await schedule(late.id, '2026-11-20', sarah.userId)
  await schedule(late.id, '2026-12-20', sarah.userId)
  const dueToday = await buildRecord(sarah, 'lead', { name: 'Due today' })
  await schedule(dueToday.id, '2026-11-25', sarah.userId)
  await schedule(dueToday.id, '2026-12-01', sarah.userId)
  const lateInAuckland = await buildRecord(sarah, 'lead', { name: 'Late in Auckland' })
  await schedule(lateInAuckland.id, '2026-11-25', kiri.userId)
  const later = await buildRecord(sarah, 'lead', { name: 'Later' })
  await schedule(later.id, '2026-12-24', kiri.userId)
  await buildRecord(sarah, 'lead', { name: 'Nothing planned' })

  t.same(names((await list(sarah, 'activity=overdue')).body).sort(), ['Late', 'Late in Auckland'])
  t.same(names((await list(sarah, 'activity=today')).body), ['Due today'])
  t.same(names((await list(sarah, 'activity=planned')).body), ['Later'])
  const all = (await list(sarah, '')).body.items as { name: string; activityState?: string }[]
  t.same(
    Object.fromEntries(all.map((item) => [item.name, item.activityState ?? null])),
    {
      Late: 'overdue',
      'Due today': 'today',
      'Late in Auckland': 'overdue',
      Later: 'planned',
      'Nothing planned': null,
    },
    'every row carries the state its column shows',
  )
  t.equal((await list(sarah, 'activity=soon')).status, 400)
})

t.test('columns sort both ways on the server, and pages follow the order', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const zoe = await buildUser(node, { name: 'Zoe Zeller' })
  const anna = await buildUser(node, { name: 'Anna Abel' })
  const acme = buildPartner(node, { name: 'Acme Corp' })
  await buildRecord(sarah, 'lead', { name: 'beta', expected_revenue: 300, user_id: zoe.userId })
  await buildRecord(sarah, 'lead', { name: 'Alpha', expected_revenue: 100, user_id: anna.userId })
  await buildRecord(sarah, 'lead', { name: 'Delta', expected_revenue: 50, partner_id: acme.id })
  await buildRecord(sarah, 'lead', { name: 'Gamma', expected_revenue: 200, user_id: anna.userId })

  t.same(names((await list(sarah, 'sort=name')).body), ['Alpha', 'beta', 'Delta', 'Gamma'])
  t.same(names((await list(sarah, 'sort=name&order=desc')).body), ['Gamma', 'Delta', 'beta', 'Alpha'])
  t.same(names((await list(sarah, 'sort=expected_revenue&order=desc')).body), [
    'beta',
    'Gamma',
    'Alpha',
    'Delta',
  ])
  t.same(
    names((await list(sarah, 'sort=user_id')).body),
    ['Delta', 'Alpha', 'Gamma', 'beta'],
    'people by their name (none first), ties by creation',
  )

  // Two at a time, sorted: every record once, in order.
  const seen: string[] = []
  let cursor: string | null = null
  do {
    const query: string = `sort=expected_revenue&limit=2${cursor ? `&cursor=${cursor}` : ''}`
    const response = await list(sarah, query)
    t.equal(response.status, 200)
    seen.push(...names(response.body))
    cursor = response.body.nextCursor
  } while (cursor)
  t.same(seen, ['Delta', 'Alpha', 'Gamma', 'beta'])

  const refused = async (query: string, why: string) => {
    const response = await list(sarah, query)
    t.equal(response.status, 400, why)
    t.equal(response.body.error.code, 'E_INVALID_PARAMS', why)
  }
  await refused('sort=nope', 'a field the model does not have')
  await refused('sort=toString', 'a name every object inherits')
  await refused('sort=constructor', 'another inherited name')
  await refused('sort=description', 'a long text field')
  await refused('sort=values', 'a column that is not one of the sortable ones')
  await refused('sort=amount_total', "another model's field")
  await refused('sort=name&cursor=abc', 'a cursor the API never gave')
  t.equal((await list(sarah, 'sort=name&order=sideways')).status, 400)
  const margin = await list(sarah, 'sort=margin', 'sale_order')
  t.equal(margin.status, 400, 'a restricted field does not sort: its order would tell what it holds')
})

t.test('filters keep pages whole and never show or count hidden records', async (t) => {
  const node = await buildNode(t)
  const admin = await buildUser(node, { name: 'Ada Admin', role: 'admin' })
  const defined = await admin.call('POST', '/api/v1/models', {
    name: 'x_contract',
    label: 'Contract',
    userAccess: 'own',
    fields: [
      { name: 'name', label: 'Title', type: 'char', required: true },
      { name: 'owner_id', label: 'Owner', type: 'user', assignee: true, trackingSequence: 1 },
      { name: 'terms', label: 'Terms', type: 'text' },
    ],
  })
  t.equal(defined.status, 201)
  const cora = await buildUser(node, { name: 'Cora Creator' })
  const olaf = await buildUser(node, { name: 'Olaf Outsider' })
  for (const name of ['Secret oak 1', 'Secret oak 2', 'Secret oak 3'])
    await buildRecord(cora, 'x_contract', { name, terms: 'oak' })
  for (const name of ['Own oak 1', 'Own oak 2', 'Own oak 3'])
    await buildRecord(olaf, 'x_contract', { name, terms: 'oak' })

  const seen: string[] = []
  let cursor: string | null = null
  do {
    const query: string = `q=oak&sort=name&limit=2${cursor ? `&cursor=${cursor}` : ''}`
    const response = await list(olaf, query, 'x_contract')
    seen.push(...names(response.body))
    cursor = response.body.nextCursor
  } while (cursor)
  t.same(seen, ['Own oak 1', 'Own oak 2', 'Own oak 3'], 'sorted and searched: only what Olaf may see')
  const first = await list(olaf, 'q=secret&limit=1', 'x_contract')
  t.same(first.body, { items: [], nextCursor: null }, 'a search for hidden names finds nothing')
  const sorted = await list(olaf, 'sort=name&limit=3', 'x_contract')
  t.equal(sorted.body.nextCursor, null, 'no further page promised for hidden records')
  t.equal(names((await list(admin, 'q=oak', 'x_contract')).body).length, 6, 'an admin sees all')
})
