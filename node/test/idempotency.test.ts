import { PassThrough } from 'node:stream'
import t from 'tap'
import { IDEMPOTENCY_TTL_MS } from '../src/api/idempotency.ts'
import { type Actor, buildNode, buildRecord, buildUser, type TestNode } from './helpers.ts'

/** POST with an Idempotency-Key header, as an integrator retrying a request would send it. */
async function post(node: TestNode, actor: Actor, url: string, payload: object, key: string) {
  const response = await node.app.inject({
    method: 'POST',
    url,
    headers: { authorization: `Bearer ${actor.secret}`, 'idempotency-key': key },
    payload,
  })
  return {
    status: response.statusCode,
    body: response.json(),
    text: response.body,
    replayed: response.headers['idempotent-replayed'],
  }
}

function count(node: TestNode, sql: string, ...params: unknown[]): number {
  return (node.database.sqlite.prepare(sql).get(...params) as { n: number }).n
}

t.test('a POST repeated with the same key runs once and answers the same', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const john = await buildUser(node, { name: 'John Ops' })
  const lead = await buildRecord(sarah)
  await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: john.partnerId })
  const url = `/api/v1/records/${lead.id}/messages`
  const message = { kind: 'message', body: 'The truck leaves at 9' }

  const first = await post(node, sarah, url, message, 'order-117-note')
  t.equal(first.status, 201)
  t.equal(first.replayed, undefined)
  const retry = await post(node, sarah, url, message, 'order-117-note')
  t.equal(retry.status, 201)
  t.equal(retry.replayed, 'true')
  t.equal(retry.text, first.text, 'the same answer, byte for byte')

  const chatter = await sarah.call('GET', `${url}?kind=message`)
  t.same(
    chatter.body.items.map((item: { id: number }) => item.id),
    [first.body.id],
    'one message in the chatter',
  )
  t.equal(
    count(node, 'select count(*) as n from notifications where partner_id = ?', john.partnerId),
    1,
    'John is told once',
  )

  const other = await post(node, sarah, url, { ...message, body: 'The truck leaves at 10' }, 'order-117-note')
  t.equal(other.status, 422)
  t.equal(other.body.error.code, 'E_IDEMPOTENCY_MISMATCH')

  const johnsOwn = await post(node, john, url, message, 'order-117-note')
  t.equal(johnsOwn.status, 201, "another user's identical key is another key")
  t.equal(johnsOwn.replayed, undefined)
  t.not(johnsOwn.body.id, first.body.id)
  t.equal(johnsOwn.body.author.name, 'John Ops')

  const bad = await post(node, sarah, url, message, 'x'.repeat(201))
  t.equal(bad.status, 400)
  t.equal(bad.body.error.code, 'E_INVALID_HEADER')
  t.equal((await sarah.call('GET', `${url}?kind=message`)).body.items.length, 2, 'nothing ran for a bad key')
})

t.test('a refused request is replayed as refused, even once it would succeed', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node)
  const lead = await buildRecord(sarah)
  const url = `/api/v1/records/${lead.id}/messages`
  const upload = await node.app.inject({
    method: 'POST',
    url: '/api/v1/attachments?fileName=plan.txt',
    headers: { authorization: `Bearer ${sarah.secret}`, 'content-type': 'text/plain' },
    payload: 'plan',
  })
  const attachmentId = upload.json().id as number
  const message = { kind: 'message', body: 'see attached', attachmentIds: [attachmentId + 1] }

  const refused = await post(node, sarah, url, message, 'k-4xx')
  t.equal(refused.status, 400)
  t.equal(refused.body.error.code, 'E_INVALID_BODY')
  // The missing file now exists (the next upload gets that id), yet the key keeps its answer.
  const next = await node.app.inject({
    method: 'POST',
    url: '/api/v1/attachments?fileName=plan-2.txt',
    headers: { authorization: `Bearer ${sarah.secret}`, 'content-type': 'text/plain' },
    payload: 'plan 2',
  })
  t.equal(next.json().id, attachmentId + 1)
  const replayed = await post(node, sarah, url, message, 'k-4xx')
  t.equal(replayed.status, 400)
  t.equal(replayed.replayed, 'true')
  t.equal(replayed.text, refused.text)
  t.equal((await sarah.call('GET', `${url}?kind=message`)).body.items.length, 0)

  // 24 h later the key is forgotten: the same request runs, and now succeeds.
  node.clock.advance(IDEMPOTENCY_TTL_MS)
  const later = await post(node, sarah, url, message, 'k-4xx')
  t.equal(later.status, 201)
  t.equal(later.replayed, undefined)
  t.equal((await sarah.call('GET', `${url}?kind=message`)).body.items.length, 1)
})

t.test('a key is "in progress" while its upload streams, then replays the stored file', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node)
  const url = '/api/v1/attachments?fileName=scan.pdf'
  const headers = {
    authorization: `Bearer ${sarah.secret}`,
    'content-type': 'application/pdf',
    'content-length': '8',
    'idempotency-key': 'scan-1',
  }
  const body = new PassThrough()
  const first = node.app.inject({ method: 'POST', url, headers, payload: body })
  body.write('%PDF')
  // Wait until the node has taken the key and is reading the body.
  for (let i = 0; i < 100; i++) {
    if (count(node, "select count(*) as n from idempotency_keys where key = 'scan-1'") > 0) break
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  const meanwhile = await node.app.inject({ method: 'POST', url, headers, payload: '%PDF-1.7' })
  t.equal(meanwhile.statusCode, 409)
  t.equal(meanwhile.json().error.code, 'E_IDEMPOTENCY_IN_PROGRESS')
  body.end('-1.7')
  const stored = await first
  t.equal(stored.statusCode, 201)

  const retry = await node.app.inject({ method: 'POST', url, headers, payload: '%PDF-1.7' })
  t.equal(retry.statusCode, 201)
  t.equal(retry.headers['idempotent-replayed'], 'true')
  t.equal(retry.json().id, stored.json().id, 'the same attachment, not a second one')
  t.equal(count(node, 'select count(*) as n from attachments'), 1)
  const renamed = await node.app.inject({
    method: 'POST',
    url: '/api/v1/attachments?fileName=other.pdf',
    headers,
    payload: '%PDF-1.7',
  })
  t.equal(renamed.statusCode, 422, 'another file name is another request')
})

t.test('a body refused by validation is kept under its key like any other refusal', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node)
  const lead = await buildRecord(sarah)
  const url = `/api/v1/records/${lead.id}/messages`
  const invalid = { kind: 'message', body: 42 }

  const refused = await post(node, sarah, url, invalid, 'k-invalid')
  t.equal(refused.status, 400)
  t.equal(refused.body.error.code, 'E_INVALID_BODY')
  t.equal(refused.replayed, undefined)
  const again = await post(node, sarah, url, invalid, 'k-invalid')
  t.equal(again.status, 400)
  t.equal(again.replayed, 'true', 'the stored refusal is sent back')
  t.equal(again.text, refused.text)

  const corrected = await post(node, sarah, url, { kind: 'message', body: 'fixed' }, 'k-invalid')
  t.equal(corrected.status, 422, 'a corrected body under the same key is another request')
  t.equal(corrected.body.error.code, 'E_IDEMPOTENCY_MISMATCH')
  t.equal((await sarah.call('GET', `${url}?kind=message`)).body.items.length, 0, 'nothing was posted')

  const badKey = await post(node, sarah, url, invalid, 'x'.repeat(201))
  t.equal(badKey.status, 400)
  t.equal(badKey.body.error.code, 'E_INVALID_HEADER', 'the key is checked before the body')
})
