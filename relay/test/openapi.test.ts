// The OpenAPI document at /docs/json covers every route, and only those; /docs shows it to a browser.
import { routesWithoutAnswer } from '@ochat/shared-protocol/server'
import t from 'tap'
import { buildRelay } from './helpers.ts'

t.test('every declared route is documented, with its schemas', async (t) => {
  const relay = await buildRelay(t, 'pglite')
  const response = await relay.app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(response.statusCode, 200)
  const document = response.json()
  t.equal(document.openapi, '3.1.0')
  const operations = Object.entries(
    document.paths as Record<string, Record<string, { summary: string }>>,
  ).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({
      name: `${method} ${path.replace(/\{(\w+)\}/g, ':$1')}`,
      summary: operation.summary,
    })),
  )
  t.same(
    operations.map((operation) => operation.name).sort(),
    relay.app.declaredRoutes.map((route) => `${route.method} ${route.url}`).sort(),
    'the document has one operation per declared route',
  )
  t.ok(operations.length >= 20, `${operations.length} operations`)
  t.same(routesWithoutAnswer(relay.app.declaredRoutes), [], 'every route declares its success answer')
  t.same(
    operations.filter((operation) => !operation.summary).map((operation) => operation.name),
    [],
    'every operation has a summary',
  )

  const submit = document.paths['/v1/envelopes'].post
  t.ok(
    submit.requestBody.content['application/json'].schema.properties.envelopes,
    'request body from the zod schema',
  )
  t.same(submit.security, [{ signedRequest: [] }])
  t.same(document.paths['/v1/info'].get.security, [], 'public routes say so')
  const registration = document.paths['/v1/instances'].post
  t.same(registration.security, [], 'registration needs no header: its body is signed')
  t.match(registration.description, /body's `signature` is by the identity key it registers/)
  t.notOk(JSON.stringify(document.components.securitySchemes).includes('selfSigned'))
  t.same(document.paths['/v1/blobs/{id}'].put.security, [{ uploadToken: [] }])
  t.same(document.paths['/metrics'].get.security, [{ metricsToken: [] }])
  for (const [path, codes] of [
    ['/v1/instances', ['E_REGISTRATION_RATE_LIMITED']],
    [
      '/v1/connections',
      ['E_CONNECTION_RATE_LIMITED', 'E_CONNECTION_REQUESTS_FULL', 'E_CONNECTION_RECENTLY_REJECTED'],
    ],
  ] as const) {
    const limited = document.paths[path].post.responses['429']
    t.ok(limited.headers['Retry-After'], `${path} may answer 429, with Retry-After`)
    for (const code of codes) t.match(limited.description, code, `${path}: ${code} is documented`)
  }

  t.ok(
    document.paths['/v1/blobs/{id}'].put.requestBody.content['application/octet-stream'],
    'the upload is a raw octet stream',
  )
  t.ok(document.paths['/v1/blobs/{id}'].get.responses['206'], 'a download may answer a range')
  t.ok(document.paths['/metrics'].get.responses['200'].content['text/plain'], 'metrics are text')
  t.ok(document.paths['/v1/ws'].get.responses['101'], 'the socket is an upgrade')
  t.match(
    document.paths['/v1/connections/{id}/decision'].post.responses['200'].content['application/json'].schema
      .properties,
    { connection: {}, purged: { type: 'integer' } },
    'answers from the shared schemas',
  )
})

t.test(
  'a browser at /docs gets the viewer, served by the relay; any other client still gets the JSON',
  async (t) => {
    const relay = await buildRelay(t, 'pglite')
    const page = await relay.app.inject({
      method: 'GET',
      url: '/docs',
      headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' },
    })
    t.equal(page.statusCode, 200)
    t.match(page.headers['content-type'], /^text\/html/)
    t.match(
      page.body,
      /<script src="\/docs\/assets\/swagger-ui-bundle\.js">/,
      'the viewer is a file of the relay',
    )
    t.notMatch(page.body, /<script>|https?:\/\//, 'no inline script, no other origin')
    t.match(page.headers['content-security-policy'], /script-src 'self'/)

    const json = await relay.app.inject({ method: 'GET', url: '/docs', headers: { accept: '*/*' } })
    t.match(json.headers['content-type'], /^application\/json/, 'a client asking for anything gets the JSON')
    t.equal(json.json().openapi, '3.1.0')

    const style = await relay.app.inject({ method: 'GET', url: '/docs/assets/swagger-ui.css' })
    t.equal(style.statusCode, 200)
    t.match(style.headers['content-type'], /^text\/css/)
    const missing = await relay.app.inject({ method: 'GET', url: '/docs/assets/index.html' })
    t.equal(missing.statusCode, 404)
    t.equal(missing.json().error.code, 'E_NOT_FOUND')
  },
)
