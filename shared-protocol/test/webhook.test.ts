// PROTOCOL.md §7: Standard Webhooks v1a (ed25519), and the relay key set a node pins (§1.5).
import t from 'tap'
import nacl from 'tweetnacl'
import { MemoryNonceStore } from '../src/crypto/signed-request.ts'
import { signWebhook, verifyWebhook, webhookKeyPairFromSeed } from '../src/crypto/webhook.ts'

const current = webhookKeyPairFromSeed(new Uint8Array(32).fill(1))
const next = webhookKeyPairFromSeed(new Uint8Array(32).fill(2))
const body = '{"v":1,"items":[]}'
const now = 1_795_000_000_000

function headers(secretKeys = [current.secretKey], timestamp = now / 1000, id = 'msg_1') {
  return signWebhook({ id, timestamp, body, secretKeys })
}

function verify(
  h: Record<string, string>,
  publicKeys = [current.publicKey],
  options: { body?: string; nowMs?: number; nonces?: MemoryNonceStore } = {},
) {
  return verifyWebhook({
    headers: h,
    body: options.body ?? body,
    publicKeys,
    nowMs: options.nowMs ?? now,
    nonces: options.nonces ?? new MemoryNonceStore(),
  })
}

t.test('signs id.timestamp.body with ed25519, in the v1a header format', async (t) => {
  const h = headers()
  t.equal(h['webhook-id'], 'msg_1')
  t.equal(h['webhook-timestamp'], String(now / 1000))
  t.match(h['webhook-signature'], /^v1a,[A-Za-z0-9+/]{86}==$/)
  const signature = Buffer.from(h['webhook-signature']?.slice(4) ?? '', 'base64')
  const publicKey = Buffer.from(current.publicKey.slice(5), 'base64')
  t.ok(
    nacl.sign.detached.verify(Buffer.from(`msg_1.${now / 1000}.${body}`), signature, publicKey),
    'tweetnacl agrees',
  )
  t.match(await verify(h), { ok: true, value: { id: 'msg_1' } })
})

t.test('during key rotation, either pinned key accepts a doubly signed webhook', async (t) => {
  const both = headers([current.secretKey, next.secretKey])
  t.equal(both['webhook-signature']?.split(' ').length, 2)
  t.match(await verify(both, [current.publicKey]), { ok: true }, 'node that pins only the old key')
  t.match(await verify(both, [next.publicKey]), { ok: true }, 'node that pins only the new key')
  t.match(
    await verify(headers([next.secretKey]), [current.publicKey]),
    { ok: false, code: 'E_WEBHOOK_BAD_SIGNATURE' },
    'unpinned key',
  )
})

t.test('tampering with the body, id or timestamp is refused', async (t) => {
  const h = headers()
  t.match(await verify(h, undefined, { body: body.replace('1', '2') }), {
    ok: false,
    code: 'E_WEBHOOK_BAD_SIGNATURE',
  })
  t.match(await verify({ ...h, 'webhook-id': 'msg_2' }), { ok: false, code: 'E_WEBHOOK_BAD_SIGNATURE' })
  t.match(await verify({ ...h, 'webhook-timestamp': String(now / 1000 + 1) }), {
    ok: false,
    code: 'E_WEBHOOK_BAD_SIGNATURE',
  })
})

t.test('signatures of other schemes are skipped, not trusted', async (t) => {
  const h = headers()
  const withV1 = { ...h, 'webhook-signature': `v1,c29tZXRoaW5n ${h['webhook-signature']}` }
  t.match(await verify(withV1), { ok: true })
  t.match(await verify({ ...h, 'webhook-signature': 'v1,c29tZXRoaW5n' }), {
    ok: false,
    code: 'E_WEBHOOK_BAD_SIGNATURE',
  })
})

t.test('a replayed webhook is refused; the relay retry with a new timestamp passes', async (t) => {
  const nonces = new MemoryNonceStore()
  const h = headers()
  t.match(await verify(h, undefined, { nonces }), { ok: true })
  t.match(await verify(h, undefined, { nonces }), { ok: false, code: 'E_WEBHOOK_REPLAYED' })
  const retry = headers([current.secretKey], now / 1000 + 5)
  t.match(await verify(retry, undefined, { nonces, nowMs: now + 5000 }), { ok: true })
})

t.test('outside ±300 s, or with headers missing, it is refused', async (t) => {
  t.match(await verify(headers(undefined, now / 1000 - 301)), { ok: false, code: 'E_WEBHOOK_CLOCK_SKEW' })
  t.match(await verify(headers(undefined, now / 1000 + 301)), { ok: false, code: 'E_WEBHOOK_CLOCK_SKEW' })
  const { 'webhook-signature': _dropped, ...unsigned } = headers()
  t.match(await verify(unsigned), { ok: false, code: 'E_WEBHOOK_MALFORMED' })
  t.match(await verify({ ...headers(), 'webhook-timestamp': '1.5' }), {
    ok: false,
    code: 'E_WEBHOOK_MALFORMED',
  })
})

t.test(
  'regression: the window is in whole seconds, 300 s inclusive and 301 s refused, both ways',
  async (t) => {
    const second = now / 1000
    t.match(await verify(headers(undefined, second), undefined, { nowMs: now + 300_999 }), { ok: true })
    t.match(await verify(headers(undefined, second), undefined, { nowMs: now + 301_000 }), {
      ok: false,
      code: 'E_WEBHOOK_CLOCK_SKEW',
    })
    t.match(await verify(headers(undefined, second + 300), undefined, { nowMs: now + 999 }), { ok: true })
    t.match(await verify(headers(undefined, second + 301), undefined, { nowMs: now + 999 }), {
      ok: false,
      code: 'E_WEBHOOK_CLOCK_SKEW',
    })
  },
)

t.test('regression: a replay at exactly +300 s is still refused', async (t) => {
  const nonces = new MemoryNonceStore()
  const h = headers()
  t.match(await verify(h, undefined, { nonces }), { ok: true })
  t.match(await verify(h, undefined, { nonces, nowMs: now + 300_000 }), {
    ok: false,
    code: 'E_WEBHOOK_REPLAYED',
  })
})

t.test('regression: the timestamp is signed as written, and leading zeros are refused', async (t) => {
  const h = headers()
  t.match(await verify({ ...h, 'webhook-timestamp': `00${h['webhook-timestamp']}` }), {
    ok: false,
    code: 'E_WEBHOOK_MALFORMED',
  })
})

t.test('regression: more than four v1a signatures are refused before any is checked', async (t) => {
  const five = headers([current.secretKey, next.secretKey, next.secretKey, next.secretKey, next.secretKey])
  t.match(await verify(five), { ok: false, code: 'E_WEBHOOK_MALFORMED', reason: /more than 4/ })
})
