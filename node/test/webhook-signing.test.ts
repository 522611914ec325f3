import { randomBytes } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import t from 'tap'
import { isWebhookSecret, newWebhookSecret, webhookHeaders } from '../src/webhooks/signing.ts'

// Integrators verify with the official Standard Webhooks library, so that is what judges our headers.
// It refuses timestamps more than 5 minutes from its own clock, hence the real one here.
const body = JSON.stringify({ type: 'record.created', data: { id: 42, name: 'Café Łódź' } })

function signed(secrets: string[], payload = body): Record<string, string> {
  return webhookHeaders({
    id: 'msg_2Ah5vXyG',
    timestamp: Math.floor(Date.now() / 1000),
    body: payload,
    secrets,
  })
}

t.test('a signed webhook verifies with the official library', async (t) => {
  const secret = newWebhookSecret()
  const headers = signed([secret])
  t.same(Object.keys(headers).sort(), ['webhook-id', 'webhook-signature', 'webhook-timestamp'])
  t.match(headers['webhook-signature'], /^v1,[A-Za-z0-9+/]{43}=$/)
  t.same(new Webhook(secret).verify(body, headers), JSON.parse(body))
})

t.test('a tampered body, id or timestamp does not verify', async (t) => {
  const secret = newWebhookSecret()
  const headers = signed([secret])
  const receiver = new Webhook(secret)
  t.throws(() => receiver.verify(body.replace('42', '43'), headers), /No matching signature/)
  t.throws(() => receiver.verify(body, { ...headers, 'webhook-id': 'msg_other' }), /No matching signature/)
  const earlier = String(Number(headers['webhook-timestamp']) - 1)
  t.throws(() => receiver.verify(body, { ...headers, 'webhook-timestamp': earlier }), /No matching signature/)
})

t.test('another secret does not verify', async (t) => {
  const headers = signed([newWebhookSecret()])
  t.throws(() => new Webhook(newWebhookSecret()).verify(body, headers), /No matching signature/)
})

t.test('during a rotation each secret alone verifies the two-signature header', async (t) => {
  const current = newWebhookSecret()
  const previous = newWebhookSecret()
  const headers = signed([current, previous])
  t.equal(headers['webhook-signature']?.split(' ').length, 2)
  t.same(new Webhook(current).verify(body, headers), JSON.parse(body))
  t.same(new Webhook(previous).verify(body, headers), JSON.parse(body))
  t.throws(() => new Webhook(newWebhookSecret()).verify(body, headers), /No matching signature/)
})

t.test('secrets a receiver generated elsewhere, of 24 to 64 bytes, sign', async (t) => {
  for (const size of [24, 64]) {
    const secret = `whsec_${randomBytes(size).toString('base64')}`
    t.ok(isWebhookSecret(secret), `${size} bytes`)
    t.same(new Webhook(secret).verify(body, signed([secret])), JSON.parse(body), `${size} bytes`)
  }
})

t.test('new secrets are distinct and valid', async (t) => {
  const a = newWebhookSecret()
  const b = newWebhookSecret()
  t.not(a, b)
  t.match(a, /^whsec_[A-Za-z0-9+/]{43}=$/)
  t.ok(isWebhookSecret(a))
})

t.test('a malformed secret is refused, and never echoed', async (t) => {
  const good = newWebhookSecret()
  const malformed = [
    good.slice('whsec_'.length), // no prefix
    `whsk_${good.slice('whsec_'.length)}`, // another prefix
    `whsec_${randomBytes(16).toString('base64')}`, // too short
    `whsec_${randomBytes(65).toString('base64')}`, // too long
    `whsec_${randomBytes(32).toString('base64url')}!`, // not base64
    'whsec_',
    '',
  ]
  for (const secret of malformed) {
    t.notOk(isWebhookSecret(secret), JSON.stringify(secret))
    const error = t.throws(() => signed([good, secret]), RangeError) as Error
    t.match(error.message, /secret #2 is not "whsec_" \+ base64 of 24 to 64 bytes/)
    if (secret.length > 'whsec_'.length) t.notOk(error.message.includes(secret.slice(6)))
  }
})

t.test('no secret or a fractional timestamp is refused rather than sent unsigned', async (t) => {
  t.throws(() => signed([]), RangeError)
  t.throws(
    () => webhookHeaders({ id: 'msg_1', timestamp: 1.5, body, secrets: [newWebhookSecret()] }),
    /whole number of Unix seconds/,
  )
})
