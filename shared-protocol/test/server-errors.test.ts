// The error catalog mechanism both servers build their errors and handlers on: what a caller receives
// for a refusal, a schema failure, a failure of the server, and bytes that are not HTTP at all.
import { connect } from 'node:net'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import { z } from 'zod'
import { ErrorBodySchema, ReasonSchema } from '../src/errors.ts'
import {
  type Catalog,
  CatalogError,
  type ErrorExtra,
  rejectionInit,
  serverErrors,
} from '../src/server/errors.ts'

const CATALOG = {
  E_INVALID_BODY: { status: 400, prefix: 'invalid', message: 'The request body is not valid; see details.' },
  E_INVALID_PARAMS: { status: 400, prefix: 'invalid', message: 'The request path or query is not valid.' },
  E_BAD_REQUEST: {
    status: 400,
    prefix: 'invalid',
    message: 'The request is not valid HTTP; see the reason.',
  },
  E_REQUEST_TIMEOUT: { status: 408, prefix: 'invalid', message: 'The request did not arrive in time.' },
  E_URI_TOO_LONG: { status: 414, prefix: 'invalid', message: 'A part of the URL is too long.' },
  E_HEADERS_TOO_LARGE: { status: 431, prefix: 'invalid', message: 'The headers are too large.' },
  E_METHOD_NOT_ALLOWED: { status: 405, prefix: 'invalid', message: 'This method is not allowed here.' },
  E_BODY_TOO_LARGE: { status: 413, prefix: 'invalid', message: 'The request body is too large.' },
  E_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    prefix: 'invalid',
    message: 'Send JSON (Content-Type: application/json).',
  },
  E_NOT_FOUND: { status: 404, prefix: 'invalid', message: 'Not found, or you do not have access to it.' },
  E_OFF: { status: 409, prefix: 'blocked', message: "O'Chat is off on this server." },
  E_UNAVAILABLE: { status: 503, prefix: 'error', message: 'The database cannot be reached; retry later.' },
  E_INTERNAL: { status: 500, prefix: 'error', message: 'The server failed; the logs have the details.' },
} as const satisfies Catalog

type Code = keyof typeof CATALOG

class TestError extends CatalogError<Code> {
  override name = 'TestError'
  constructor(code: Code, detail?: string, extra: ErrorExtra = {}) {
    super({ code, ...CATALOG[code], detail, ...extra })
  }
}

const handlers = serverErrors({
  create: (code, detail, extra) => new TestError(code, detail, extra),
  mapUnknown: (error) =>
    (error as { code?: unknown }).code === 'ECONNREFUSED' ? new TestError('E_UNAVAILABLE') : undefined,
  socket: { name: 'socket', peer: 'client' },
})

t.test('without a detail, the catalog message reads as a clause after the prefix', async (t) => {
  const body = new TestError('E_INVALID_BODY').body()
  t.same(body, {
    error: {
      code: 'E_INVALID_BODY',
      message: 'The request body is not valid; see details.',
      reason: 'invalid: the request body is not valid; see details',
    },
  })
  t.ok(ErrorBodySchema.safeParse(body).success, 'in the wire shape')
  t.equal(new TestError('E_OFF').detail, "O'Chat is off on this server", 'a name keeps its capital')
  t.equal(
    new TestError('E_UNSUPPORTED_MEDIA_TYPE').detail,
    'send JSON (Content-Type: application/json)',
    'only the first letter is lowered',
  )
  t.equal(new TestError('E_NOT_FOUND', 'no such record').body().error.reason, 'invalid: no such record')
})

t.test('a detail too long for a reason is cut to fit, and says so', async (t) => {
  const error = new TestError('E_INVALID_BODY', `name: ${'x'.repeat(2000)}`)
  const { reason } = error.body().error
  t.equal(reason.length, 500)
  t.ok(reason.endsWith('…'))
  t.ok(ReasonSchema.safeParse(reason).success, 'the wire accepts it')
})

t.test('parse lists every bad field, and names the first in the reason', async (t) => {
  const Schema = z.object({ name: z.string(), age: z.number().int(), email: z.email() })
  const error = t.throws(() => handlers.parse(Schema, { name: 1, age: 1.5, email: 'nope' })) as TestError
  t.ok(error instanceof TestError, "the server's own class")
  t.equal(error.status, 400)
  t.same(
    error.details?.map((detail) => detail.path),
    ['name', 'age', 'email'],
  )
  t.match(error.body().error.reason, /^invalid: name: /)
  const params = t.throws(() =>
    handlers.parse(z.object({ id: z.uuid() }), {}, 'E_INVALID_PARAMS'),
  ) as TestError
  t.equal(params.code, 'E_INVALID_PARAMS')
  t.same(handlers.parse(Schema, { name: 'Ada', age: 36, email: 'ada@example.com' }), {
    name: 'Ada',
    age: 36,
    email: 'ada@example.com',
  })
})

t.test('a protocol rejection keeps its own code and reason', async (t) => {
  const error = new CatalogError(
    rejectionInit(401, { code: 'E_AUTH_CLOCK_SKEW', reason: 'auth-required: the clock is 400 s off' }),
  )
  t.equal(error.status, 401)
  t.same(error.body(), {
    error: {
      code: 'E_AUTH_CLOCK_SKEW',
      message: 'the clock is 400 s off',
      reason: 'auth-required: the clock is 400 s off',
    },
  })
})

async function buildApp(t: Test) {
  const app = Fastify({
    frameworkErrors: handlers.frameworkErrors,
    clientErrorHandler: handlers.clientErrorHandler,
  })
  handlers.installErrorHandler(app)
  app.post('/refuse', async () => {
    throw new TestError('E_OFF', undefined, { headers: { 'retry-after': '5' } })
  })
  app.get('/fail', async () => {
    throw new Error('secret table name in a driver message')
  })
  app.get('/database', async () => {
    throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })
  })
  t.teardown(() => app.close())
  return app
}

t.test('the handler answers every failure in the error shape', async (t) => {
  const app = await buildApp(t)

  const refused = await app.inject({ method: 'POST', url: '/refuse', payload: {} })
  t.equal(refused.statusCode, 409)
  t.equal(refused.headers['retry-after'], '5', 'with the headers the error carries')
  t.same(refused.json().error.code, 'E_OFF')

  const failed = await app.inject({ method: 'GET', url: '/fail' })
  t.equal(failed.statusCode, 500)
  t.same(failed.json(), { error: new TestError('E_INTERNAL').body().error })
  t.notMatch(failed.body, /secret/, "the failure's message stays in the log")

  const unavailable = await app.inject({ method: 'GET', url: '/database' })
  t.equal(unavailable.statusCode, 503, "the server's own mapping of unknown errors")
  t.equal(unavailable.json().error.code, 'E_UNAVAILABLE')

  const badJson = await app.inject({
    method: 'POST',
    url: '/refuse',
    headers: { 'content-type': 'application/json' },
    payload: '{"a":',
  })
  t.equal(badJson.statusCode, 400)
  t.same(badJson.json().error, {
    code: 'E_INVALID_BODY',
    message: CATALOG.E_INVALID_BODY.message,
    reason: 'invalid: the body is not valid JSON',
  })

  const missing = await app.inject({ method: 'GET', url: '/nowhere' })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().error.code, 'E_NOT_FOUND')
})

t.test('bytes that are not HTTP get an answer in the error shape before the socket closes', async (t) => {
  const app = await buildApp(t)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (!address || typeof address !== 'object') throw new Error('not listening')
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = connect(address.port, '127.0.0.1', () => socket.write('NOT HTTP AT ALL\r\n\r\n'))
    let received = ''
    socket.on('data', (chunk) => {
      received += chunk.toString('utf8')
    })
    socket.on('close', () => resolve(received))
    socket.on('error', reject)
  })
  t.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/)
  t.match(answer, /x-content-type-options: nosniff/)
  const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))
  t.equal(body.error.code, 'E_BAD_REQUEST')
  t.ok(ErrorBodySchema.safeParse(body).success)
})
