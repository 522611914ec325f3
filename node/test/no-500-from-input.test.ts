// No input gives a 500, and every refusal, Fastify's and Node's own included, is the stable error shape
// with the headers every answer carries. Regression tests are named after what broke.
import { once } from 'node:events'
import { connect } from 'node:net'
import { ErrorBodySchema } from '@ochat/shared-protocol'
import t from 'tap'
import WebSocket from 'ws'
import { capturedLogs } from '../../relay/test/helpers.ts'
import { rawExchange } from '../../test/support/raw-http.ts'
import { buildNode, buildPartner, buildUser, until } from './helpers.ts'

const deep = (levels: number) => `{"name":"P","x":${'['.repeat(levels)}${']'.repeat(levels)}}`

t.test(
  'a body nested 10,000 deep with an Idempotency-Key is a 400 before any handler, not a 500',
  async (t) => {
    const node = await buildNode(t)
    const sarah = await buildUser(node)
    const post = (payload: string, key: string) =>
      node.app.inject({
        method: 'POST',
        url: '/api/v1/partners',
        headers: {
          authorization: `Bearer ${sarah.secret}`,
          'content-type': 'application/json',
          'idempotency-key': key,
        },
        payload,
      })
    const nested = await post(deep(10_000), 'deep-1')
    t.equal(nested.statusCode, 400)
    t.equal(nested.json().error.code, 'E_INVALID_BODY')
    t.match(nested.json().error.reason, /nests arrays and objects more than 64 deep/)
    t.match((await post(deep(65), 'deep-2')).json().error.reason, /more than 64 deep/, 'the limit is 64')
    t.notMatch((await post(deep(60), 'deep-3')).json().error.reason, /deep/, '60 levels reach the schema')

    // The key still tells one request from another, by the bytes sent.
    const first = await post('{"name":"Carla"}', 'same')
    t.equal(first.statusCode, 201)
    const again = await post('{"name":"Carla"}', 'same')
    t.equal(again.headers['idempotent-replayed'], 'true')
    t.equal(again.json().id, first.json().id)
    t.equal((await post('{"name":"Bob"}', 'same')).statusCode, 422, 'another body under the same key')
  },
)

t.test('a 300-character asset name is a 404, not ENAMETOOLONG as a 500', async (t) => {
  const node = await buildNode(t)
  for (const url of [`/assets/${'a'.repeat(300)}.js`, `/assets/${'a/'.repeat(3000)}a.js`]) {
    const response = await node.app.inject({ method: 'GET', url })
    t.equal(response.statusCode, 404, url.slice(0, 30))
    t.equal(response.json().error.code, 'E_NOT_FOUND')
  }
  const page = await node.app.inject({ method: 'GET', url: '/assets/app.js' })
  t.equal(page.statusCode, 200, 'a real asset is still served')
})

t.test('an empty PATCH is refused or a no-op on every PATCH route, never "No values to set"', async (t) => {
  const node = await buildNode(t)
  const admin = await buildUser(node, { role: 'admin' })
  const customer = buildPartner(node, { name: 'Carla' })
  const emptied = await admin.call('PATCH', `/api/v1/partners/${customer.id}`, {})
  t.equal(emptied.status, 400)
  t.equal(emptied.body.error.code, 'E_INVALID_BODY')
  t.match(emptied.body.error.reason, /nothing to change/)
  t.equal((await admin.call('GET', `/api/v1/partners/${customer.id}`)).body.name, 'Carla', 'unchanged')
  const patches = [...node.app.routeAccess.keys()].filter((key) => key.startsWith('patch '))
  t.ok(patches.length >= 6, `${patches.length} PATCH routes`)
  for (const key of patches) {
    const url = key
      .slice('patch '.length)
      .replace(/:\w+/g, (name) => String(name === ':partnerId' ? customer.id : 1))
    const response = await admin.call('PATCH', url, {})
    t.ok(response.status < 500, `${key}: ${response.status}`)
  }
})

t.test("Fastify's own refusals carry the error shape and a code of the catalog", async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node)
  const cases: [string, string, number, string, Record<string, string>?, string?][] = [
    ['GET', `/api/v1/partners/${'1'.repeat(200)}`, 414, 'E_URI_TOO_LONG'],
    ['GET', '/api/v1/partners/%E0%A4%A', 400, 'E_INVALID_PARAMS'],
    ['PROPFIND', '/api/v1/partners', 404, 'E_NOT_FOUND'],
    ['POST', '/api/v1/partners', 415, 'E_UNSUPPORTED_MEDIA_TYPE', { 'content-type': 'text/xml' }, '<a/>'],
    ['POST', '/api/v1/partners', 400, 'E_INVALID_BODY', { 'content-type': 'application/json' }, ''],
    ['GET', '/api/v1/live', 426, 'E_UPGRADE_REQUIRED'],
  ]
  for (const [method, url, status, code, headers, payload] of cases) {
    const response = await node.app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${sarah.secret}`, ...headers },
      ...(payload !== undefined ? { payload } : {}),
    })
    t.equal(response.statusCode, status, `${method} ${url.slice(0, 40)}`)
    t.ok(ErrorBodySchema.safeParse(response.json()).success, 'the error shape')
    t.equal(response.json().error.code, code)
    t.equal(response.headers['x-content-type-options'], 'nosniff')
  }
})

t.test("Node's HTTP parser refusals (431, 400) are the error shape too, on a real socket", async (t) => {
  const node = await buildNode(t, { listen: true })
  const url = node.url ?? ''
  const cases: [string, number, string][] = [
    [`GET /api/v1/partners?q=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 431, 'E_HEADERS_TOO_LARGE'],
    [`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'E_HEADERS_TOO_LARGE'],
    ['\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not HTTP\r\n\r\n', 400, 'E_BAD_REQUEST'],
    ['GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', 400, 'E_BAD_REQUEST'],
  ]
  for (const [bytes, status, code] of cases) {
    const answer = await rawExchange(url, bytes)
    t.equal(answer.status, status, JSON.stringify(bytes.slice(0, 30)))
    t.equal(JSON.parse(answer.body).error.code, code)
    t.ok(ErrorBodySchema.safeParse(JSON.parse(answer.body)).success, 'the error shape')
    t.equal(answer.headers['x-content-type-options'], 'nosniff')
    t.equal(answer.headers['x-frame-options'], 'DENY')
  }
  t.equal((await fetch(`${url}/healthz`)).status, 200, 'the node still answers')
})

t.test('every answer carries nosniff and a frame policy; the UI pages keep their own CSP', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node)
  for (const [url, auth] of [
    ['/api/v1/partners', true],
    ['/api/v1/partners', false],
    ['/api/v1/nothing-here', true],
    ['/docs', false],
    ['/healthz', false],
    ['/', false],
  ] as const) {
    const response = await node.app.inject({
      method: 'GET',
      url,
      headers: auth ? { authorization: `Bearer ${sarah.secret}` } : {},
    })
    t.equal(response.headers['x-content-type-options'], 'nosniff', url)
    t.equal(response.headers['x-frame-options'], 'DENY', url)
    t.match(response.headers['content-security-policy'], /frame-ancestors 'none'/, url)
  }
  const page = await node.app.inject({ method: 'GET', url: '/' })
  t.match(page.headers['content-type'], /^text\/html/)
  t.match(page.headers['content-security-policy'], /script-src 'self'/, 'the UI keeps its own CSP')
  t.equal(page.headers['referrer-policy'], 'same-origin', 'and its own referrer policy')
})

t.test(
  'a client frame over the size limit closes the live socket and is logged at warn, not error',
  async (t) => {
    const logs = capturedLogs()
    const node = await buildNode(t, { listen: true, env: { NODE_LOG_LEVEL: 'info' }, logStream: logs.stream })
    const sarah = await buildUser(node)
    const socket = new WebSocket(`${node.url?.replace('http', 'ws')}/api/v1/live`, {
      headers: { authorization: `Bearer ${sarah.secret}` },
    })
    await new Promise((resolve) => socket.once('message', resolve))
    const closed = new Promise<number>((resolve) => socket.once('close', resolve))
    socket.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(70 * 1024) }))
    const code = await closed
    t.ok(code === 1009 || code === 1006, `the node closes the socket (${code})`)
    const lines = logs
      .text()
      .split('\n')
      .filter((line) => line.includes('WS_ERR_'))
      .map((line) => JSON.parse(line))
    t.equal(lines.length, 1, 'logged once')
    t.equal(lines[0]?.level, 40, 'at warn')
    t.equal(lines[0]?.code, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH')
  },
)

t.test('bytes that are not HTTP, sent while a download streams, never land inside it', async (t) => {
  const node = await buildNode(t, { listen: true })
  const sarah = await buildUser(node)
  const url = new URL(node.url ?? '')
  const uploaded = await fetch(`${url.origin}/api/v1/attachments?fileName=big.bin`, {
    method: 'POST',
    headers: { authorization: `Bearer ${sarah.secret}`, 'content-type': 'application/octet-stream' },
    body: Buffer.alloc(8 * 1024 * 1024, 0x61),
  })
  const { id } = (await uploaded.json()) as { id: number }
  const socket = connect(Number(url.port), url.hostname)
  await once(socket, 'connect')
  let received = ''
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1')
  })
  socket.on('error', () => undefined)
  // Reads nothing for a while, so the download is still being written when the garbage arrives.
  socket.pause()
  socket.write(
    `GET /api/v1/attachments/${id}/content HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${sarah.secret}\r\n\r\n`,
  )
  // The answer has begun (its first bytes wait, unread, in the socket's buffer).
  await until('the download to start', () => socket.readableLength > 0)
  socket.write('\x16\x03\x01 not HTTP\r\n\r\n')
  socket.resume()
  await once(socket, 'close')
  t.match(received, /^HTTP\/1\.1 200 /, 'the download started')
  t.equal(received.indexOf('HTTP/1.1 400'), -1, 'no second answer was written into it')
  t.equal((await fetch(`${url.origin}/healthz`)).status, 200, 'the node still answers')
})
