import t from 'tap'
import { buildNode, buildPartner, buildUser, TEST_PASSWORD } from './helpers.ts'

t.test('external partners: create, validate, read, update, page through and search', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const created = await sarah.call('POST', '/api/v1/partners', {
    name: 'Carla Customer',
    email: 'carla@client.test',
    companyName: 'Client Inc',
  })
  t.equal(created.status, 201)
  t.same(created.body, {
    id: created.body.id,
    name: 'Carla Customer',
    email: 'carla@client.test',
    companyName: 'Client Inc',
    internal: false,
    fromMail: false,
    avatarUrl: null,
  })
  const forged = await sarah.call('POST', '/api/v1/partners', { name: 'Mallory', internal: true })
  t.equal(forged.status, 400, 'nobody makes a partner internal through the API')
  const badEmail = await sarah.call('POST', '/api/v1/partners', { name: 'Bad', email: 'not-an-address' })
  t.equal(badEmail.status, 400)
  t.match(JSON.stringify(badEmail.body.error.details), /email/)
  t.equal((await sarah.call('POST', '/api/v1/partners', { name: '  ' })).status, 400, 'a name is required')

  const renamed = await sarah.call('PATCH', `/api/v1/partners/${created.body.id}`, {
    companyName: 'Client SA',
  })
  t.equal(renamed.status, 200)
  t.equal(renamed.body.companyName, 'Client SA')
  t.equal(renamed.body.name, 'Carla Customer', 'other fields unchanged')
  t.equal(renamed.body.email, 'carla@client.test', 'changing the company keeps the email')
  const rename = await sarah.call('PATCH', `/api/v1/partners/${created.body.id}`, { name: 'Carla Client' })
  t.same(
    rename.body,
    {
      id: created.body.id,
      name: 'Carla Client',
      email: 'carla@client.test',
      companyName: 'Client SA',
      internal: false,
      fromMail: false,
      avatarUrl: null,
    },
    'renaming a partner keeps their email and company',
  )
  const cleared = await sarah.call('PATCH', `/api/v1/partners/${created.body.id}`, { companyName: null })
  t.equal(cleared.body.companyName, null, 'null still clears a field')
  await sarah.call('PATCH', `/api/v1/partners/${created.body.id}`, {
    name: 'Carla Customer',
    companyName: 'Client SA',
  })
  const internal = await sarah.call('PATCH', `/api/v1/partners/${sarah.partnerId}`, { name: 'Someone else' })
  t.equal(internal.status, 403, 'a user’s partner is changed through the user')
  t.equal((await sarah.call('GET', `/api/v1/partners/${sarah.partnerId}`)).body.name, 'Sarah Sales')
  t.equal((await sarah.call('GET', '/api/v1/partners/99999')).status, 404)

  for (let i = 0; i < 4; i++) buildPartner(node, { name: `Vendor ${i}`, email: `v${i}@vendor.test` })
  const seen: string[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const response = await sarah.call('GET', `/api/v1/partners?limit=2${cursor ? `&cursor=${cursor}` : ''}`)
    t.equal(response.status, 200)
    seen.push(...response.body.items.map((row: { name: string }) => row.name))
    cursor = response.body.nextCursor
    pages++
  } while (cursor && pages < 10)
  t.same(seen, ['Sarah Sales', 'Carla Customer', 'Vendor 0', 'Vendor 1', 'Vendor 2', 'Vendor 3'])
  t.equal(pages, 3)

  const search = async (text: string) =>
    (await sarah.call('GET', `/api/v1/partners?search=${encodeURIComponent(text)}`)).body.items.map(
      (row: { name: string }) => row.name,
    )
  t.same(await search('vendor 2'), ['Vendor 2'], 'by name, any case')
  t.same(await search('client.test'), ['Carla Customer'], 'by email')
})

t.test('partner search treats % and _ as the characters people typed', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  buildPartner(node, { name: '100% Cotton Ltd' })
  buildPartner(node, { name: '1000 Threads' })
  buildPartner(node, { name: 'snake_case GmbH' })
  buildPartner(node, { name: 'snakeXcase AG' })
  const search = async (text: string) =>
    (await sarah.call('GET', `/api/v1/partners?search=${encodeURIComponent(text)}`)).body.items.map(
      (row: { name: string }) => row.name,
    )
  t.same(await search('100%'), ['100% Cotton Ltd'])
  t.same(await search('snake_case'), ['snake_case GmbH'])
})

t.test('users: list, read, change your own profile, not someone else’s', async (t) => {
  const node = await buildNode(t)
  const admin = await buildUser(node, { name: 'Ada Admin', role: 'admin', login: 'ada' })
  const sarah = await buildUser(node, { name: 'Sarah Sales', login: 'sarah' })
  const john = await buildUser(node, { name: 'John Ops', login: 'john' })
  const list = await sarah.call('GET', '/api/v1/users?limit=2')
  t.same(
    list.body.items.map((row: { login: string }) => row.login),
    ['ada', 'sarah'],
  )
  const next = await sarah.call('GET', `/api/v1/users?limit=2&cursor=${list.body.nextCursor}`)
  t.same(
    next.body.items.map((row: { login: string }) => row.login),
    ['john'],
  )
  t.equal(next.body.nextCursor, null)
  t.notOk(JSON.stringify(list.body).includes('scrypt'), 'no password hashes')

  const mine = await sarah.call('PATCH', `/api/v1/users/${sarah.userId}`, {
    notification: 'email',
    timeZone: 'Europe/Brussels',
    name: 'Sarah Seller',
  })
  t.equal(mine.status, 200)
  t.match(mine.body, {
    notification: 'email',
    timeZone: 'Europe/Brussels',
    name: 'Sarah Seller',
    role: 'user',
  })
  t.equal((await john.call('GET', `/api/v1/partners/${sarah.partnerId}`)).body.name, 'Sarah Seller')
  const badZone = await sarah.call('PATCH', `/api/v1/users/${sarah.userId}`, { timeZone: 'Mars/Olympus' })
  t.equal(badZone.status, 400)
  const other = await sarah.call('PATCH', `/api/v1/users/${john.userId}`, { notification: 'email' })
  t.equal(other.status, 403)
  t.equal(
    (await john.call('GET', `/api/v1/users/${john.userId}`)).body.notification,
    'inbox',
    'John unchanged',
  )
  t.equal((await sarah.call('GET', '/api/v1/users/9999')).status, 404)

  const selfDemote = await admin.call('PATCH', `/api/v1/users/${admin.userId}`, { role: 'user' })
  t.equal(selfDemote.status, 403, 'an admin cannot lock themselves out')
  const promoted = await admin.call('PATCH', `/api/v1/users/${john.userId}`, { role: 'admin' })
  t.equal(promoted.body.role, 'admin')
})

t.test('creating users: validation, unique logins, and the new user can log in', async (t) => {
  const node = await buildNode(t)
  const admin = await buildUser(node, { role: 'admin' })
  const short = await admin.call('POST', '/api/v1/users', { login: 'x', password: 'short', name: 'X' })
  t.equal(short.status, 400)
  t.match(JSON.stringify(short.body.error.details), /password/)
  const spaced = await admin.call('POST', '/api/v1/users', {
    login: 'a b',
    password: TEST_PASSWORD,
    name: 'A B',
  })
  t.equal(spaced.status, 400)
  const made = await admin.call('POST', '/api/v1/users', {
    login: 'mia',
    password: TEST_PASSWORD,
    name: 'Mia Manager',
    email: 'mia@acme.test',
  })
  t.equal(made.status, 201)
  t.match(made.body, { login: 'mia', role: 'user', notification: 'inbox', timeZone: 'UTC', active: true })
  const partner = await admin.call('GET', `/api/v1/partners/${made.body.partnerId}`)
  t.same(partner.body.internal, true, 'a user’s partner is internal')
  const again = await admin.call('POST', '/api/v1/users', {
    login: 'mia',
    password: TEST_PASSWORD,
    name: 'Other',
  })
  t.equal(again.status, 409)
  t.equal(again.body.error.code, 'E_CONFLICT')
  const login = await node.app.inject({
    method: 'POST',
    url: '/api/v1/session',
    payload: { login: 'mia', password: TEST_PASSWORD },
  })
  t.equal(login.statusCode, 200)
  t.equal(login.json().user.name, 'Mia Manager')
})
