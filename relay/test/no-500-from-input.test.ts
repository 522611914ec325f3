// No input gives a 500, and every refusal, Fastify's and Node's own included, is the stable error shape
// with the headers every answer carries. Regression tests are named after what broke.
import { ErrorBodySchema } from '@ochat/shared-protocol'
import t from 'tap'
import WebSocket from 'ws'
import { rawExchange } from '../../test/support/raw-http.ts'
import { buildNode, buildRelay, capturedLogs, register, signed } from './helpers.ts'

t.test('a body nested 10,000 deep is refused before any handler, with the reason', async (t) => {
  const relay = await buildRelay(t, 'pglite')
  const acme = buildNode('Acme')
  await register(relay, acme)
  const deep = (levels: number) => `{"to":"x","message":${'['.repeat(levels)}${']'.repeat(levels)}}`
  for (const [payload, refusedForDepth] of [
    [deep(10_000), true],
    [deep(65), true],
    [deep(60), false],
  ] as const) {
    const response = await relay.app.inject({
      method: 'POST',
      url: '/v1/instances',
      headers: { 'content-type': 'application/json' },
      payload,
    })
    t.equal(response.statusCode, 400)
    const { code, reason } = response.json().error
    // 60 levels reach the registration's own schema, which refuses the body for what it is.
    t.same(
      [code, /more than 64 deep/.test(reason)],
      [refusedForDepth ? 'E_INVALID_BODY' : code, refusedForDepth],
    )
  }
  const fine = await signed(relay, acme, 'GET', '/v1/instances/me')
  t.equal(fine.statusCode, 200, 'ordinary requests are untouched')
})

t.test("Fastify's own refusals carry the error shape and a code of the catalog", async (t) => {
  const relay = await buildRelay(t, 'pglite')
  const cases: [string, string, number, string, Record<string, string>?, string?][] = [
    ['GET', `/v1/connections/${'1'.repeat(200)}`, 414, 'E_URI_TOO_LONG'],
    ['GET', '/v1/connections/%E0%A4%A', 400, 'E_INVALID_PARAMS'],
    ['PROPFIND', '/v1/info', 404, 'E_NOT_FOUND'],
    ['POST', '/v1/instances', 415, 'E_UNSUPPORTED_MEDIA_TYPE', { 'content-type': 'text/xml' }, '<a/>'],
    ['GET', '/v1/ws', 426, 'E_UPGRADE_REQUIRED'],
  ]
  for (const [method, url, status, code, headers, payload] of cases) {
    const response = await relay.app.inject({
      method: method as 'GET',
      url,
      ...(headers ? { headers } : {}),
      ...(payload !== undefined ? { payload } : {}),
    })
    t.equal(response.statusCode, status, `${method} ${url.slice(0, 40)}`)
    t.ok(ErrorBodySchema.safeParse(response.json()).success, 'the error shape')
    t.equal(response.json().error.code, code)
    t.equal(response.headers['x-content-type-options'], 'nosniff')
    t.equal(response.headers['x-frame-options'], 'DENY')
  }
  const info = await relay.app.inject({ method: 'GET', url: '/v1/info' })
  t.equal(info.headers['x-content-type-options'], 'nosniff', 'on successes too')
  t.match(info.headers['content-security-policy'], /frame-ancestors 'none'/)
})

t.test("Node's HTTP parser refusals (431, 400) are the error shape too, on a real socket", async (t) => {
  const relay = await buildRelay(t, 'pglite', { listen: true })
  const cases: [string, number, string][] = [
    [`GET /v1/info?q=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 431, 'E_HEADERS_TOO_LARGE'],
    [`GET /v1/info HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'E_HEADERS_TOO_LARGE'],
    ['\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not HTTP\r\n\r\n', 400, 'E_BAD_REQUEST'],
  ]
  for (const [bytes, status, code] of cases) {
    const answer = await rawExchange(relay.baseUrl, bytes)
    t.equal(answer.status, status, JSON.stringify(bytes.slice(0, 30)))
    t.equal(JSON.parse(answer.body).error.code, code)
    t.ok(ErrorBodySchema.safeParse(JSON.parse(answer.body)).success, 'the error shape')
    t.equal(answer.headers['x-content-type-options'], 'nosniff')
  }
  t.equal((await fetch(`${relay.baseUrl}/healthz`)).status, 200, 'the relay still answers')
})

t.test('a malformed client frame closes the socket and is logged at warn, not error', async (t) => {
  const logs = capturedLogs()
  const relay = await buildRelay(t, 'pglite', {
    listen: true,
    env: { RELAY_LOG_LEVEL: 'info' },
    logStream: logs.stream,
  })
  const socket = new WebSocket(`${relay.baseUrl.replace('http', 'ws')}/v1/ws`)
  await new Promise((resolve) => socket.once('message', resolve))
  const closed = new Promise<number>((resolve) => socket.once('close', resolve))
  // A masked frame with the reserved opcode 0x3: no WebSocket client sends it.
  const tcp = (socket as unknown as { _socket: { write(bytes: Buffer): void } })._socket
  tcp.write(Buffer.from([0x83, 0x80, 0, 0, 0, 0]))
  const code = await closed
  t.ok(code === 1002 || code === 1006, `the relay closes the socket (${code})`)
  const lines = logs
    .text()
    .split('\n')
    .filter((line) => line.includes('WS_ERR_'))
    .map((line) => JSON.parse(line))
  t.equal(lines.length, 1, 'logged once')
  t.equal(lines[0]?.level, 40, 'at warn')
  t.equal(lines[0]?.code, 'WS_ERR_INVALID_OPCODE')
})
