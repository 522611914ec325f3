// Issue 4, REST API: the OpenAPI document at /docs is generated from the zod schemas and covers every
// route, and only those.
import t from 'tap'
import { buildNode } from './helpers.ts'

t.test('every registered route is documented, with its schemas and the scope it needs', async (t) => {
  const node = await buildNode(t)
  const response = await node.app.inject({ method: 'GET', url: '/docs' })
  t.equal(response.statusCode, 200)
  const document = response.json()
  t.equal(document.openapi, '3.1.0')
  const documented = Object.entries(document.paths as Record<string, Record<string, unknown>>)
    .flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
    )
    .sort()
  t.same(documented, [...new Set(node.app.registeredRoutes)].sort())
  const post = document.paths['/api/v1/records/{id}/messages'].post
  t.same(post.requestBody.content['application/json'].schema.properties.kind.enum, ['message', 'note'])
  t.equal(post['x-scope'], 'chatter:write')
  const list = document.paths['/api/v1/records/{id}/messages'].get
  t.ok(
    list.parameters.some((parameter: { name: string }) => parameter.name === 'kind'),
    'query parameters come from the zod query schema',
  )
  t.same(document.paths['/api/v1/session'].post.security, [], 'logging in is public')
})

t.test('the document names the scope each route really checks', async (t) => {
  const node = await buildNode(t)
  const document = (await node.app.inject({ method: 'GET', url: '/docs' })).json()
  for (const [key, access] of node.app.routeAccess) {
    const [method = '', path = ''] = key.split(' ')
    const operation = document.paths[path.replace(/:(\w+)/g, '{$1}')]?.[method]
    const documented =
      operation?.['x-scope'] ??
      (operation?.security.length === 0 ? 'public' : operation ? 'session' : undefined)
    t.equal(documented, access, key)
  }
})
