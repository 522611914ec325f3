// PROTOCOL.md §2.2: signed node → relay requests.
import t from 'tap'
import { MemoryNonceStore, signRequest, verifySignedRequest } from '../src/crypto/signed-request.ts'
import { buildInstance } from './factories.ts'

const alice = buildInstance()
const relayId = 'rl_aaaaaaaaaaaaaaaaaaaaaaaaaa'
const body = JSON.stringify({ to: 'oc_bbbbbbbbbbbbbbbbbbbbbbbbbb', message: 'Hello from Acme' })
const now = 1_795_000_000_000

function signed(overrides: { timestamp?: number } = {}) {
  return signRequest({
    method: 'POST',
    path: '/v1/connections',
    audience: relayId,
    instanceId: alice.instanceId,
    identitySecretKey: alice.identity.secretKey,
    body,
    timestamp: overrides.timestamp ?? now / 1000,
  })
}

function verify(
  headers: Record<string, string>,
  overrides: Partial<{
    method: string
    path: string
    body: string
    audience: string
    nowMs: number
    key: Uint8Array | undefined
  }> = {},
  nonces = new MemoryNonceStore(),
) {
  return verifySignedRequest({
    method: overrides.method ?? 'POST',
    path: overrides.path ?? '/v1/connections',
    audience: overrides.audience ?? relayId,
    headers,
    body: overrides.body ?? body,
    identityKey: 'key' in overrides ? overrides.key : alice.identity.publicKey,
    nonces,
    nowMs: overrides.nowMs ?? now,
  })
}

t.test('a signed request verifies and names its instance', async (t) => {
  const result = await verify(signed())
  t.same(result, { ok: true, value: { instanceId: alice.instanceId } })
})

t.test('changing what was signed breaks the signature', async (t) => {
  const headers = signed()
  for (const [what, change] of [
    ['method', { method: 'PUT' }],
    ['path', { path: '/v1/connections/other' }],
    ['query', { path: '/v1/connections?admin=1' }],
    ['body', { body: body.replace('Hello', 'Hullo') }],
    ['audience (another relay)', { audience: 'rl_bbbbbbbbbbbbbbbbbbbbbbbbbb' }],
    ['key', { key: buildInstance().identity.publicKey }],
  ] as const) {
    t.match(
      await verify(headers, change),
      { ok: false, code: 'E_AUTH_BAD_SIGNATURE', reason: /^auth-required: / },
      what,
    )
  }
  t.match(
    await verify({ ...headers, 'ochat-nonce': 'AAAAAAAAAAAAAAAAAAAAAA' }),
    { ok: false, code: 'E_AUTH_BAD_SIGNATURE' },
    'nonce',
  )
})

t.test('an unknown instance gets the same answer as a bad signature', async (t) => {
  const unknown = await verify(signed(), { key: undefined })
  const forged = await verify(signed(), { key: buildInstance().identity.publicKey })
  t.same(unknown, forged)
})

t.test('a replayed request is refused, even within the window', async (t) => {
  const nonces = new MemoryNonceStore()
  const headers = signed()
  t.match(await verify(headers, {}, nonces), { ok: true })
  t.match(await verify(headers, {}, nonces), { ok: false, code: 'E_AUTH_REPLAYED', reason: /replay/ })
})

t.test('a forged request cannot burn a nonce', async (t) => {
  const nonces = new MemoryNonceStore()
  const headers = signed()
  t.match(await verify(headers, { body: 'tampered' }, nonces), { ok: false, code: 'E_AUTH_BAD_SIGNATURE' })
  t.match(await verify(headers, {}, nonces), { ok: true }, 'the genuine request still passes')
})

t.test('timestamps more than 300 s away are refused, either way', async (t) => {
  t.match(await verify(signed({ timestamp: now / 1000 - 301 })), {
    ok: false,
    code: 'E_AUTH_CLOCK_SKEW',
    reason: /NTP/,
  })
  t.match(await verify(signed({ timestamp: now / 1000 + 301 })), { ok: false, code: 'E_AUTH_CLOCK_SKEW' })
  t.match(await verify(signed({ timestamp: now / 1000 - 300 })), { ok: true }, '300 s is still inside')
})

t.test('missing or malformed headers ask for authentication', async (t) => {
  t.match(await verify({}), {
    ok: false,
    code: 'E_AUTH_MISSING',
    reason: /^auth-required: sign this request/,
  })
  const headers = signed()
  t.match(await verify({ ...headers, 'ochat-timestamp': 'yesterday' }), {
    ok: false,
    code: 'E_AUTH_MALFORMED',
  })
  t.match(await verify({ ...headers, 'ochat-signature': 'short' }), { ok: false, code: 'E_AUTH_MALFORMED' })
  t.match(await verify({ ...headers, 'ochat-instance': 'alice' }), { ok: false, code: 'E_AUTH_MALFORMED' })
})

t.test('MemoryNonceStore forgets nonces once they expire', async (t) => {
  const nonces = new MemoryNonceStore()
  t.equal(nonces.claim('n', 1_000, 0), true)
  t.equal(nonces.claim('n', 1_000, 500), false)
  t.equal(nonces.claim('n', 30_000, 20_000), true, 'expired, then swept')
})

t.test(
  'regression: the window is in whole seconds, 300 s inclusive and 301 s refused, both ways',
  async (t) => {
    const timestamp = now / 1000
    // The relay's clock 300.999 s after the signed second: still second +300, so accepted.
    t.match(await verify(signed({ timestamp }), { nowMs: now + 300_999 }), { ok: true }, '300 s old')
    t.match(await verify(signed({ timestamp }), { nowMs: now + 301_000 }), {
      ok: false,
      code: 'E_AUTH_CLOCK_SKEW',
    })
    t.match(
      await verify(signed({ timestamp: timestamp + 300 }), { nowMs: now + 999 }),
      { ok: true },
      '300 s ahead',
    )
    t.match(await verify(signed({ timestamp: timestamp + 301 }), { nowMs: now + 999 }), {
      ok: false,
      code: 'E_AUTH_CLOCK_SKEW',
    })
  },
)

t.test('regression: a replay at exactly +300 s, the last accepted second, is still refused', async (t) => {
  const nonces = new MemoryNonceStore()
  const headers = signed()
  t.match(await verify(headers, {}, nonces), { ok: true })
  t.match(await verify(headers, { nowMs: now + 300_000 }, nonces), { ok: false, code: 'E_AUTH_REPLAYED' })
})

t.test('regression: a timestamp with leading zeros is malformed', async (t) => {
  t.match(await verify({ ...signed(), 'ochat-timestamp': `00${now / 1000}` }), {
    ok: false,
    code: 'E_AUTH_MALFORMED',
  })
})
