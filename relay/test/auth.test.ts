// PROTOCOL.md §2.2: every instance request is signed; forged, replayed and stale ones are refused.
import { signRequest } from '@ochat/shared-protocol'
import type { ManualClock } from '@ochat/shared-protocol/server'
import t from 'tap'
import { buildNode, buildRelay, eachDriver, register, signed } from './helpers.ts'

eachDriver(
  t,
  'unsigned, forged, tampered, replayed and stale requests get 401 with a reason',
  async (t, driver) => {
    const relay = await buildRelay(t, driver)
    const acme = buildNode()
    await register(relay, acme)

    const unsigned = await relay.app.inject({ method: 'GET', url: '/v1/connections' })
    t.equal(unsigned.statusCode, 401)
    t.match(unsigned.json(), {
      error: { code: 'E_AUTH_MISSING', reason: /^auth-required: sign this request/ },
    })

    const body = JSON.stringify({ to: buildNode().instanceId, message: 'hi' })
    const headers = signRequest({
      method: 'POST',
      path: '/v1/connections',
      audience: relay.relayKeys.relayId,
      instanceId: acme.instanceId,
      identitySecretKey: acme.identity.secretKey,
      body,
      timestamp: Math.floor(relay.clock.now() / 1000),
    })
    const send = (payload: string, extra: Record<string, string> = {}) =>
      relay.app.inject({
        method: 'POST',
        url: '/v1/connections',
        headers: { ...headers, 'content-type': 'application/json', ...extra },
        payload,
      })

    const tampered = await send(body.replace('hi', 'HI'))
    t.match(tampered.json(), { error: { code: 'E_AUTH_BAD_SIGNATURE' } }, 'body changed after signing')
    const wrongPath = await relay.app.inject({
      method: 'POST',
      url: '/v1/connections?x=1',
      headers: { ...headers, 'content-type': 'application/json' },
      payload: body,
    })
    t.match(wrongPath.json(), { error: { code: 'E_AUTH_BAD_SIGNATURE' } }, 'query added after signing')

    const first = await send(body)
    t.equal(first.statusCode, 404, 'genuine request goes through (to an unknown instance)')
    const replay = await send(body)
    t.equal(replay.statusCode, 401)
    t.match(replay.json(), { error: { code: 'E_AUTH_REPLAYED', reason: /replay/ } })

    const stranger = buildNode()
    const unknown = await signed(relay, stranger, 'GET', '/v1/connections')
    const forged = await signed(
      relay,
      { ...buildNode(), instanceId: acme.instanceId },
      'GET',
      '/v1/connections',
    )
    t.same(unknown.json(), forged.json(), 'unknown instance and bad signature look the same')

    const clock = relay.clock as ManualClock
    const stale = signRequest({
      method: 'GET',
      path: '/v1/connections',
      audience: relay.relayKeys.relayId,
      instanceId: acme.instanceId,
      identitySecretKey: acme.identity.secretKey,
      timestamp: Math.floor(clock.now() / 1000) - 301,
    })
    const old = await relay.app.inject({ method: 'GET', url: '/v1/connections', headers: stale })
    t.match(old.json(), { error: { code: 'E_AUTH_CLOCK_SKEW', reason: /NTP/ } })
  },
)

eachDriver(t, 'a request signed for another relay is refused here', async (t, driver) => {
  const relay = await buildRelay(t, driver)
  const acme = buildNode()
  await register(relay, acme)
  const headers = signRequest({
    method: 'GET',
    path: '/v1/connections',
    audience: 'rl_aaaaaaaaaaaaaaaaaaaaaaaaaa',
    instanceId: acme.instanceId,
    identitySecretKey: acme.identity.secretKey,
    timestamp: Math.floor(relay.clock.now() / 1000),
  })
  t.match((await relay.app.inject({ method: 'GET', url: '/v1/connections', headers })).json(), {
    error: { code: 'E_AUTH_BAD_SIGNATURE' },
  })
})

eachDriver(t, 'unknown routes answer a JSON 404, never a stack trace', async (t, driver) => {
  const relay = await buildRelay(t, driver)
  const response = await relay.app.inject({ method: 'GET', url: '/v1/nothing-here' })
  t.equal(response.statusCode, 404)
  t.match(response.json(), { error: { code: 'E_NOT_FOUND' } })
})

t.test(
  'deny by default: a route that is neither signed nor declares its auth stops the relay from starting',
  async (t) => {
    const { assertRouteAuth, requireInstance } = await import('../src/auth/plugin.ts')
    t.throws(
      () => assertRouteAuth({ method: 'GET', url: '/v1/secret' }),
      /neither signed nor declares its auth/,
    )
    t.doesNotThrow(() => assertRouteAuth({ method: 'GET', url: '/v1/info', config: { auth: 'public' } }))
    const signedHandler = requireInstance({} as never)
    t.doesNotThrow(() => assertRouteAuth({ method: 'GET', url: '/v1/mine', preValidation: signedHandler }))
    t.throws(
      () => assertRouteAuth({ method: 'GET', url: '/v1/mine', preValidation: async () => {} }),
      'a look-alike hook is not enough',
    )
    // As a preHandler it would run after the body is validated, telling an unsigned caller what is wrong with it.
    const late = { method: 'GET', url: '/v1/mine', preHandler: signedHandler }
    t.throws(() => assertRouteAuth(late), 'the signed hook must run before validation')
  },
)

eachDriver(
  t,
  'bodies are capped before authentication: 1 MiB, except envelope submits',
  async (t, driver) => {
    const relay = await buildRelay(t, driver)
    const acme = buildNode()
    await register(relay, acme)
    const big = JSON.stringify({ to: 'x', message: 'y'.repeat(1_100_000) })
    // Well-formed signed headers get past the pre-check; the body limit then stops the read.
    const headers = signRequest({
      method: 'POST',
      path: '/v1/connections',
      audience: relay.relayKeys.relayId,
      instanceId: acme.instanceId,
      identitySecretKey: acme.identity.secretKey,
      body: big,
      timestamp: Math.floor(relay.clock.now() / 1000),
    })
    const response = await relay.app.inject({
      method: 'POST',
      url: '/v1/connections',
      headers: { ...headers, 'content-type': 'application/json' },
      payload: big,
    })
    t.equal(response.statusCode, 413)
    t.match(response.json(), { error: { code: 'E_BODY_TOO_LARGE' } })
    const submit = await relay.app.inject({
      method: 'POST',
      url: '/v1/envelopes',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ envelopes: 'z'.repeat(1_100_000) }),
    })
    t.equal(submit.statusCode, 401, 'an unsigned submit is refused before its body is read')
    t.match(submit.json(), { error: { code: 'E_AUTH_MISSING' } })
  },
)

eachDriver(
  t,
  'regression: the ±300 s window is in whole seconds, inclusive, whatever the milliseconds of the clock',
  async (t, driver) => {
    const relay = await buildRelay(t, driver)
    const acme = buildNode()
    await register(relay, acme)
    const clock = relay.clock as ManualClock
    // The clock part-way into a second: a fractional comparison refused 300 s old requests here.
    clock.set(Math.floor(clock.now() / 1000) * 1000 + 700)
    const second = Math.floor(clock.now() / 1000)
    const at = (timestamp: number) =>
      relay.app.inject({
        method: 'GET',
        url: '/v1/connections',
        headers: signRequest({
          method: 'GET',
          path: '/v1/connections',
          audience: relay.relayKeys.relayId,
          instanceId: acme.instanceId,
          identitySecretKey: acme.identity.secretKey,
          timestamp,
        }),
      })
    t.equal((await at(second - 300)).statusCode, 200, 'signed 300 s ago')
    t.equal((await at(second + 300)).statusCode, 200, 'signed 300 s ahead')
    for (const timestamp of [second - 301, second + 301]) {
      const refused = await at(timestamp)
      t.equal(refused.statusCode, 401)
      t.match(refused.json(), { error: { code: 'E_AUTH_CLOCK_SKEW' } })
    }
  },
)
