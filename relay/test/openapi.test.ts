// Issue 3, operations: the OpenAPI document at /docs covers every route, and only those.
import t from 'tap'
import { buildRelay } from './helpers.ts'

t.test('every registered route is documented, with its schemas', async (t) => {
  const relay = await buildRelay(t, 'pglite')
  const response = await relay.app.inject({ method: 'GET', url: '/docs' })
  t.equal(response.statusCode, 200)
  const document = response.json()
  t.equal(document.openapi, '3.1.0')
  const documented = Object.entries(document.paths as Record<string, Record<string, unknown>>)
    .flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
    )
    .sort()
  t.same(documented, [...new Set(relay.app.registeredRoutes)].sort())
  const submit = document.paths['/v1/envelopes'].post
  t.ok(
    submit.requestBody.content['application/json'].schema.properties.envelopes,
    'request body from the zod schema',
  )
  t.same(submit.security, [{ signedRequest: [] }])
  t.same(document.paths['/v1/info'].get.security, [], 'public routes say so')
  for (const path of ['/v1/instances', '/v1/connections'])
    t.ok(document.paths[path].post.responses['429'].headers['Retry-After'], `${path} may answer 429`)
})
