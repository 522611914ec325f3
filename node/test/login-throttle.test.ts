import t from 'tap'
import { buildNode, buildUser, TEST_PASSWORD, type TestNode } from './helpers.ts'

/** One login attempt, from an address, with the cookies a browser would send. */
function attempt(
  node: TestNode,
  input: {
    login: string
    password: string
    address?: string
    cookies?: Record<string, string>
    headers?: Record<string, string>
  },
) {
  return node.app.inject({
    method: 'POST',
    url: '/api/v1/session',
    payload: { login: input.login, password: input.password },
    remoteAddress: input.address ?? '127.0.0.1',
    ...(input.cookies ? { cookies: input.cookies } : {}),
    ...(input.headers ? { headers: input.headers } : {}),
  })
}

/** The device cookie a successful login gave this browser. */
function deviceCookie(response: Awaited<ReturnType<typeof attempt>>): Record<string, string> {
  const device = response.cookies.find((cookie) => cookie.name === 'ochat_device')
  if (!device) throw new Error('no device cookie was set')
  return { ochat_device: device.value }
}

/** Fails `count` times, waiting out every delay, as a patient guesser would. */
async function guess(node: TestNode, input: { login: string; address?: string; count: number }) {
  for (let failed = 0; failed < input.count; ) {
    const response = await attempt(node, {
      login: input.login,
      password: 'wrong guess',
      address: input.address,
    })
    if (response.statusCode === 401) failed++
    else if (response.statusCode === 429) node.clock.advance(Number(response.headers['retry-after']) * 1000)
    else throw new Error(`unexpected ${response.statusCode}`)
  }
}

t.test('wrong passwords from one address slow that address down with growing delays', async (t) => {
  const node = await buildNode(t)
  await buildUser(node, { login: 'ann' })
  for (let failure = 0; failure < 3; failure++)
    t.equal((await attempt(node, { login: 'ann', password: 'wrong' })).statusCode, 401, 'three are free')
  const waits: number[] = []
  for (let round = 0; round < 10; round++) {
    const refused = await attempt(node, { login: 'ann', password: TEST_PASSWORD })
    t.equal(refused.statusCode, 429, 'even the right password waits its turn')
    t.equal(refused.json().error.code, 'E_RATE_LIMITED')
    const seconds = Number(refused.headers['retry-after'])
    waits.push(seconds)
    node.clock.advance(seconds * 1000)
    t.equal((await attempt(node, { login: 'ann', password: 'wrong' })).statusCode, 401)
  }
  t.same(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300], 'the delay doubles, capped at 5 minutes')
  node.clock.advance(300_000)
  t.equal((await attempt(node, { login: 'ann', password: TEST_PASSWORD })).statusCode, 200, 'never a lockout')
  for (let failure = 0; failure < 3; failure++) await attempt(node, { login: 'ann', password: 'wrong' })
  t.equal(
    (await attempt(node, { login: 'ann', password: 'wrong' })).statusCode,
    429,
    'a success started the count again: three free, then the wait',
  )
})

t.test('guesses from another address never lock the real user out', async (t) => {
  const node = await buildNode(t)
  await buildUser(node, { login: 'ann' })
  await guess(node, { login: 'ann', address: '203.0.113.66', count: 20 })
  const still = await attempt(node, { login: 'ann', password: 'wrong', address: '203.0.113.66' })
  t.equal(still.statusCode, 429, 'the guessing address waits')
  const ann = await attempt(node, { login: 'ann', password: TEST_PASSWORD, address: '198.51.100.7' })
  t.equal(ann.statusCode, 200, 'ann, at her own address, logs in at once')
})

t.test('a known device logs in even while its address is being used to guess its login', async (t) => {
  const node = await buildNode(t)
  await buildUser(node, { login: 'ann' })
  const office = '192.0.2.10'
  const device = deviceCookie(await attempt(node, { login: 'ann', password: TEST_PASSWORD, address: office }))
  // A colleague's infected laptop behind the same office NAT guesses ann's password 20 times.
  await guess(node, { login: 'ann', address: office, count: 20 })
  const stranger = await attempt(node, { login: 'ann', password: TEST_PASSWORD, address: office })
  t.equal(stranger.statusCode, 429, 'a browser ann never used waits, like the guesser')
  const known = await attempt(node, {
    login: 'ann',
    password: TEST_PASSWORD,
    address: office,
    cookies: device,
  })
  t.equal(known.statusCode, 200, 'the browser ann logged in from before gets straight in')
  t.equal(
    (await attempt(node, { login: 'ann', password: 'wrong', address: office })).statusCode,
    429,
    'her login gives the guesser no fresh free guesses',
  )
  const forOther = await attempt(node, {
    login: 'ann',
    password: TEST_PASSWORD,
    address: office,
    cookies: { ochat_device: 'forged.1.mac' },
  })
  t.equal(forOther.statusCode, 429, 'a forged device cookie counts for nothing')
})

t.test('five wrong passwords from a known device make only that device a stranger', async (t) => {
  const node = await buildNode(t)
  await buildUser(node, { login: 'ann' })
  const office = '192.0.2.10'
  const device = deviceCookie(await attempt(node, { login: 'ann', password: TEST_PASSWORD, address: office }))
  await guess(node, { login: 'ann', address: office, count: 10 })
  for (let typo = 0; typo < 5; typo++)
    t.equal(
      (await attempt(node, { login: 'ann', password: 'typo', address: office, cookies: device })).statusCode,
      401,
      'the device answers only for its own failures',
    )
  const untrusted = await attempt(node, {
    login: 'ann',
    password: TEST_PASSWORD,
    address: office,
    cookies: device,
  })
  t.equal(untrusted.statusCode, 429, 'after five, the device is throttled like any stranger')
  const session = await attempt(node, { login: 'ann', password: TEST_PASSWORD, address: '198.51.100.7' })
  t.equal(session.statusCode, 200, 'ann elsewhere is not touched')
  const again = await attempt(node, {
    login: 'ann',
    password: TEST_PASSWORD,
    address: office,
    cookies: { ochat_session: String(session.cookies.find((c) => c.name === 'ochat_session')?.value) },
  })
  t.equal(again.statusCode, 200, 'a valid session of the same user is trusted like a device')
})

t.test('twenty failures from one address do not lock out other users elsewhere', async (t) => {
  const node = await buildNode(t)
  // Logins that exist: an unknown one costs a full-strength scrypt check, which is slow in a test.
  for (const login of ['ann', 'bob', 'carol', 'dave', 'erin']) await buildUser(node, { login })
  const sprayer = '203.0.113.66'
  for (const login of ['ann', 'bob', 'carol', 'dave'])
    await guess(node, { login, address: sprayer, count: 5 })
  const sprayed = await attempt(node, { login: 'erin', password: 'x', address: sprayer })
  t.equal(sprayed.statusCode, 429, 'the spraying address waits, even for a login it never tried')
  t.equal(
    (await attempt(node, { login: 'ann', password: TEST_PASSWORD, address: '198.51.100.7' })).statusCode,
    200,
  )
  t.equal(
    (await attempt(node, { login: 'bob', password: TEST_PASSWORD, address: '198.51.100.8' })).statusCode,
    200,
  )
})

t.test('a guesser cannot dodge the delay by taking a fresh IPv6 address from its /64', async (t) => {
  const node = await buildNode(t)
  await buildUser(node, { login: 'ann' })
  for (let failure = 1; failure <= 3; failure++)
    await attempt(node, { login: 'ann', password: 'wrong', address: `2001:db8:0:7::${failure}` })
  const rotated = await attempt(node, { login: 'ann', password: 'wrong', address: '2001:db8:0:7:ffff::4' })
  t.equal(rotated.statusCode, 429)
  const neighbour = await attempt(node, { login: 'ann', password: TEST_PASSWORD, address: '2001:db8:0:8::1' })
  t.equal(neighbour.statusCode, 200, 'another /64 is another client')
})

t.test('behind a proxy, NODE_TRUST_PROXY makes X-Forwarded-For tell users apart', async (t) => {
  const proxied = await buildNode(t, { env: { NODE_TRUST_PROXY: '127.0.0.1' } })
  await buildUser(proxied, { login: 'ann' })
  const via = (address: string) => ({ 'x-forwarded-for': address })
  for (let failure = 0; failure < 3; failure++)
    await attempt(proxied, { login: 'ann', password: 'wrong', headers: via('203.0.113.66') })
  t.equal(
    (await attempt(proxied, { login: 'ann', password: 'wrong', headers: via('203.0.113.66') })).statusCode,
    429,
  )
  const ann = await attempt(proxied, { login: 'ann', password: TEST_PASSWORD, headers: via('198.51.100.7') })
  t.equal(ann.statusCode, 200, 'another client of the same proxy is not slowed down')

  const direct = await buildNode(t)
  await buildUser(direct, { login: 'ann' })
  for (let failure = 0; failure < 3; failure++)
    await attempt(direct, { login: 'ann', password: 'wrong', headers: via('203.0.113.66') })
  const forged = await attempt(direct, { login: 'ann', password: 'wrong', headers: via('198.51.100.99') })
  t.equal(forged.statusCode, 429, 'without NODE_TRUST_PROXY a forged X-Forwarded-For changes nothing')
})

t.test('administrators see failed logins; nobody else does', async (t) => {
  const node = await buildNode(t, { env: { NODE_TRUST_PROXY: 'true' } })
  const admin = await buildUser(node, { role: 'admin' })
  const user = await buildUser(node, { role: 'user' })
  await buildUser(node, { login: 'ann' })
  const headers = { 'x-forwarded-for': '203.0.113.66', 'user-agent': 'guesser/1.0' }
  for (let failure = 0; failure < 3; failure++)
    await attempt(node, { login: 'ann', password: 'hunter2-secret', headers })
  await attempt(node, { login: 'ann', password: 'hunter2-secret', headers })
  await attempt(node, { login: 'ann', password: TEST_PASSWORD, address: '198.51.100.7' })

  const first = await admin.call('GET', '/api/v1/login-attempts?limit=3')
  t.equal(first.status, 200)
  t.match(first.body.items[0], {
    login: 'ann',
    address: '203.0.113.66',
    userAgent: 'guesser/1.0',
    throttled: true,
    at: node.clock.now(),
  })
  t.same(
    first.body.items.map((item: { throttled: boolean }) => item.throttled),
    [true, false, false],
    'newest first, the throttled one marked',
  )
  const rest = await admin.call('GET', `/api/v1/login-attempts?limit=3&cursor=${first.body.nextCursor}`)
  t.equal(rest.body.items.length, 1, 'the successful login is not listed')
  t.equal(rest.body.nextCursor, null)
  t.notMatch(JSON.stringify([first.body, rest.body]), /hunter2/, 'never the password tried')

  const denied = await user.call('GET', '/api/v1/login-attempts')
  t.equal(denied.status, 403)
  t.equal(denied.body.error.code, 'E_FORBIDDEN')
  const anonymous = await node.app.inject({ method: 'GET', url: '/api/v1/login-attempts' })
  t.equal(anonymous.statusCode, 401)

  node.clock.advance(31 * 24 * 3600 * 1000)
  await attempt(node, { login: 'ann', password: 'wrong', address: '192.0.2.1' })
  const later = await admin.call('GET', '/api/v1/login-attempts')
  t.same(
    later.body.items.map((item: { address: string }) => item.address),
    ['192.0.2.1'],
    'attempts older than 30 days are purged',
  )
})

t.test('guesses sent side by side are throttled as if sent one after the other', async (t) => {
  const node = await buildNode(t)
  await buildUser(node, { login: 'ann' })
  const answers = await Promise.all(
    Array.from({ length: 20 }, () => attempt(node, { login: 'ann', password: 'wrong guess' })),
  )
  const statuses = answers.map((answer) => answer.statusCode).sort()
  t.same(statuses, [...Array(3).fill(401), ...Array(17).fill(429)], 'three are checked, the rest wait')
  t.equal(
    (await attempt(node, { login: 'ann', password: TEST_PASSWORD, address: '198.51.100.7' })).statusCode,
    200,
    'a right password from elsewhere is given its failure back',
  )
})

t.test(
  'many addresses together cannot guess one login without bound, nor lock out its devices',
  async (t) => {
    const node = await buildNode(t)
    await buildUser(node, { login: 'ann' })
    const device = deviceCookie(await attempt(node, { login: 'ann', password: TEST_PASSWORD }))
    // 100 failures an hour for one login, from 50 addresses that each stay within their own budget.
    for (let address = 1; address <= 50; address++)
      for (let failure = 0; failure < 2; failure++)
        await attempt(node, { login: 'ann', password: 'wrong', address: `203.0.113.${address}` })
    const fresh = await attempt(node, { login: 'ann', password: 'wrong', address: '198.51.100.1' })
    t.equal(fresh.statusCode, 429, 'a fresh address waits once the login had 100 failures this hour')
    const known = await attempt(node, {
      login: 'ann',
      password: TEST_PASSWORD,
      address: '198.51.100.2',
      cookies: device,
    })
    t.equal(known.statusCode, 200, "the user's own browser still logs in")
  },
)

t.test(
  'a flood of refused attempts is recorded once a minute, and a login naming nobody is masked',
  async (t) => {
    const node = await buildNode(t)
    const admin = await buildUser(node, { role: 'admin' })
    await buildUser(node, { login: 'ann' })
    await guess(node, { login: 'ann', address: '203.0.113.66', count: 3 })
    for (let refused = 0; refused < 50; refused++)
      await attempt(node, { login: 'ann', password: 'wrong', address: '203.0.113.66' })
    const listed = await admin.call('GET', '/api/v1/login-attempts?limit=100')
    t.same(
      listed.body.items.map((item: { throttled: boolean }) => item.throttled),
      [true, false, false, false],
      'three wrong passwords and one row for 50 refusals',
    )
    // Someone typed their password into the login field: the administrators must not read it.
    await attempt(node, { login: 'Tr0ub4dor&3', password: 'x', address: '198.51.100.9' })
    const masked = await admin.call('GET', '/api/v1/login-attempts?limit=1')
    t.equal(masked.body.items[0].login, 'Tr… (11 characters)')
  },
)

t.test('a forged X-Forwarded-For under NODE_TRUST_PROXY=true cannot pick its throttle key', async (t) => {
  const node = await buildNode(t, { env: { NODE_TRUST_PROXY: 'true' } })
  const admin = await buildUser(node, { role: 'admin' })
  await buildUser(node, { login: 'ann' })
  await attempt(node, { login: 'ann', password: 'wrong', headers: { 'x-forwarded-for': 'x'.repeat(5000) } })
  const listed = await admin.call('GET', '/api/v1/login-attempts?limit=1')
  t.equal(listed.body.items[0].address, '127.0.0.1', 'what is not an address falls back to the socket')
})
