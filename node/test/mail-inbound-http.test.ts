import { count } from 'drizzle-orm'
import t, { type Test } from 'tap'
import { incomingMails } from '../src/db/schema.ts'
import { buildNode, buildUser, type TestNode } from './helpers.ts'

const DOMAIN = 'acme.test'

function email(input: { to?: string; subject?: string; messageId?: string; body?: string } = {}): Buffer {
  return Buffer.from(
    [
      'From: Carla Customer <carla@client.test>',
      `To: ${input.to ?? `sales@${DOMAIN}`}`,
      `Subject: ${input.subject ?? 'Quote for 40 chairs'}`,
      `Message-ID: <${input.messageId ?? `${Math.random().toString(36).slice(2)}@client.test`}>`,
      'Date: Wed, 25 Nov 2026 09:00:00 +0000',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      '',
      input.body ?? 'Hello, could you send a quote for 40 chairs?',
      '',
    ].join('\r\n'),
  )
}

async function handOver(
  node: TestNode,
  secret: string,
  raw: Buffer | string,
  contentType = 'message/rfc822',
) {
  const response = await node.app.inject({
    method: 'POST',
    url: '/api/v1/mail/inbound',
    headers: { authorization: `Bearer ${secret}`, 'content-type': contentType },
    payload: raw,
  })
  return { status: response.statusCode, body: response.json(), response }
}

async function mailNode(t: Test, env: Record<string, string> = {}) {
  const node = await buildNode(t, { env: { NODE_MAIL_DOMAIN: DOMAIN, ...env } })
  const admin = await buildUser(node, { role: 'admin' })
  const sales = (await admin.call('GET', '/api/v1/mail/aliases')).body.items.find(
    (alias: { name: string }) => alias.name === 'sales',
  )
  await admin.call('PATCH', `/api/v1/mail/aliases/${sales.id}`, { contactPolicy: 'everyone' })
  return { node, admin }
}

function stored(node: TestNode): number {
  return node.database.db.select({ n: count() }).from(incomingMails).get()?.n ?? 0
}

t.test("an administrator's key with mail:inbound hands mail over; other keys are refused", async (t) => {
  const { node } = await mailNode(t)
  const noScope = await buildUser(node, { role: 'admin', scopes: ['records:read'] })
  const refusedScope = await handOver(node, noScope.secret, email())
  t.equal(refusedScope.status, 403)
  t.equal(refusedScope.body.error.code, 'E_SCOPE')

  const user = await buildUser(node, { role: 'user', scopes: ['mail:inbound'] })
  const refusedUser = await handOver(node, user.secret, email())
  t.equal(refusedUser.status, 403)
  t.equal(refusedUser.body.error.code, 'E_FORBIDDEN')
  t.equal(stored(node), 0, 'nothing refused by access is filed')

  const gateway = await buildUser(node, { role: 'admin', scopes: ['mail:inbound'] })
  const taken = await handOver(node, gateway.secret, email({ subject: 'From the gateway' }))
  t.equal(taken.status, 200, JSON.stringify(taken.body))
  t.equal(taken.body.outcome, 'created')
  t.ok(taken.body.recordId, 'the answer names the new record')
  const record = await gateway.call('GET', `/api/v1/records/${taken.body.recordId}`)
  t.equal(record.status, 403, 'the gateway key reads nothing else')
})

t.test('outcomes: created, duplicate, refused and unreadable, each listed', async (t) => {
  const { node, admin } = await mailNode(t)
  const raw = email({ messageId: 'chairs-1@client.test', subject: 'Chairs' })
  const created = await handOver(node, admin.secret, raw, 'application/octet-stream')
  t.equal(created.status, 200, JSON.stringify(created.body))
  t.equal(created.body.outcome, 'created')
  const lead = await admin.call('GET', `/api/v1/records/${created.body.recordId}`)
  t.equal(lead.body.name, 'Chairs', 'the lead is named after the subject')

  const again = await handOver(node, admin.secret, raw)
  t.equal(again.status, 200)
  t.equal(again.body.outcome, 'duplicate', 'the same Message-ID twice makes one lead')

  const refusedRaw = email({ to: `nobody@${DOMAIN}`, subject: 'Lost' })
  const refused = await handOver(node, admin.secret, refusedRaw)
  t.equal(refused.status, 200, 'a refused mail is filed: the hand-over worked')
  t.equal(refused.body.outcome, 'refused')
  t.match(refused.body.reason, /\S/, 'with the reason')

  const unreadable = await handOver(node, admin.secret, 'this is not an email at all')
  t.equal(unreadable.status, 200, 'and so is an unreadable one')
  t.equal(unreadable.body.outcome, 'error')
  t.match(unreadable.body.reason, /\S/)

  const all = await admin.call('GET', '/api/v1/mail/incoming')
  t.same(
    all.body.items.map((item: { outcome: string; via: string }) => item.outcome),
    ['error', 'refused', 'duplicate', 'created'],
    'newest first',
  )
  t.ok(all.body.items.every((item: { via: string }) => item.via === 'http'))
  const refusedList = await admin.call('GET', '/api/v1/mail/incoming?outcome=refused')
  t.equal(refusedList.body.items.length, 1)
  const [item] = refusedList.body.items
  t.equal(item.subject, 'Lost')
  t.ok(item.rawUntil, 'its raw message is kept')

  const download = await admin.call('GET', `/api/v1/mail/incoming/${item.id}/raw`)
  t.equal(download.status, 200)
  t.equal(download.response.headers['content-type'], 'message/rfc822')
  t.match(download.response.headers['content-disposition'], /attachment/)
  t.ok(download.response.rawPayload.equals(refusedRaw), 'byte for byte as it came')

  const paged = await admin.call('GET', '/api/v1/mail/incoming?limit=3')
  t.equal(paged.body.items.length, 3)
  const rest = await admin.call('GET', `/api/v1/mail/incoming?limit=3&cursor=${paged.body.nextCursor}`)
  t.same(
    rest.body.items.map((entry: { outcome: string }) => entry.outcome),
    ['created'],
  )

  node.clock.advance(15 * 24 * 3600_000)
  const expired = await admin.call('GET', `/api/v1/mail/incoming/${item.id}/raw`)
  t.equal(expired.status, 404, 'gone once expired')
  const listedAfter = await admin.call('GET', '/api/v1/mail/incoming?outcome=refused')
  t.equal(listedAfter.body.items[0].rawUntil, null)

  const user = await buildUser(node)
  t.equal((await user.call('GET', '/api/v1/mail/incoming')).status, 403, 'administrators only')
  t.equal((await user.call('GET', `/api/v1/mail/incoming/${item.id}/raw`)).status, 403)
})

t.test('past NODE_SMTP_MAX_BYTES: 413 and nothing kept; a type other than a message: 415', async (t) => {
  const { node, admin } = await mailNode(t, { NODE_SMTP_MAX_BYTES: '4096' })
  const big = await handOver(node, admin.secret, email({ body: 'x'.repeat(10_000) }))
  t.equal(big.status, 413)
  t.equal(big.body.error.code, 'E_BODY_TOO_LARGE')
  const json = await handOver(node, admin.secret, JSON.stringify({ raw: 'x' }), 'application/json')
  t.equal(json.status, 415)
  t.match(json.body.error.reason, /message\/rfc822/)
  t.equal(stored(node), 0)
  const small = await handOver(node, admin.secret, email())
  t.equal(small.status, 200)
})

t.test(
  'a webhook retried with its Idempotency-Key gets the first answer; another mail under it is refused',
  async (t) => {
    const { node, admin } = await mailNode(t)
    const send = (raw: Buffer) =>
      node.app.inject({
        method: 'POST',
        url: '/api/v1/mail/inbound',
        headers: {
          authorization: `Bearer ${admin.secret}`,
          'content-type': 'message/rfc822',
          'idempotency-key': 'provider-event-1',
        },
        payload: raw,
      })
    const raw = email({ subject: 'Retried by the provider' })
    const first = await send(raw)
    t.equal(first.json().outcome, 'created')
    const retried = await send(raw)
    t.same(retried.json(), first.json(), 'the same answer, not "duplicate"')
    const other = await send(email({ subject: 'Another mail' }))
    t.equal(other.statusCode, 422)
    t.equal(other.json().error.code, 'E_IDEMPOTENCY_MISMATCH')
  },
)
