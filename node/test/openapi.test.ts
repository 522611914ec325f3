// The OpenAPI document at /docs/json is generated from the zod schemas and covers every route, and only
// those; /docs shows it to a browser.
import { routesWithoutAnswer } from '@ochat/shared-protocol/server'
import t from 'tap'
import { buildNode } from './helpers.ts'

t.test('every declared route is documented, with its schemas and the scope it needs', async (t) => {
  const node = await buildNode(t)
  const response = await node.app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(response.statusCode, 200)
  const document = response.json()
  t.equal(document.openapi, '3.1.0')
  const documented = Object.entries(document.paths as Record<string, Record<string, unknown>>)
    .flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
    )
    .sort()
  t.same(documented, node.app.declaredRoutes.map((route) => `${route.method} ${route.url}`).sort())
  t.same(routesWithoutAnswer(node.app.declaredRoutes), [], 'every route declares what it answers')
  const post = document.paths['/api/v1/records/{id}/messages'].post
  t.same(post.requestBody.content['application/json'].schema.properties.kind.enum, ['message', 'note'])
  t.equal(post.requestBody.required, true, 'a message needs a body')
  t.equal(
    document.paths['/api/v1/inbox/read-all'].post.requestBody.required,
    false,
    'marking all read may be sent without a body',
  )
  t.equal(post['x-scope'], 'chatter:write')
  const list = document.paths['/api/v1/records/{id}/messages'].get
  t.ok(
    list.parameters.some((parameter: { name: string }) => parameter.name === 'kind'),
    'query parameters come from the zod query schema',
  )
  t.same(document.paths['/api/v1/session'].post.security, [], 'logging in is public')
  t.ok(
    list.responses['200'].content['application/json'].schema.properties.items,
    'answers come from the zod response schema',
  )
  const upload = document.paths['/api/v1/attachments'].post
  t.ok(upload.requestBody.content['application/octet-stream'], 'a file is uploaded as raw bytes')
  t.equal(upload.requestBody.required, true, 'an upload needs its bytes')
  t.ok(upload.responses['201'].content['application/json'].schema.properties.sha256)
  const download = document.paths['/api/v1/attachments/{id}/content'].get
  t.ok(download.responses['206'], 'a download may answer one byte range')
  t.ok(document.paths['/ical/{token}.ics'].get.responses['200'].content['text/calendar'])
  t.equal(document.paths['/api/v1/models'].post['x-scope'], 'admin', 'defining a model is for administrators')
})

t.test('the document names the scope each route really checks', async (t) => {
  const node = await buildNode(t)
  const document = (await node.app.inject({ method: 'GET', url: '/docs/json' })).json()
  t.equal(node.app.routeAccess.size, node.app.declaredRoutes.length, 'every route says who may call it')
  for (const [key, access] of node.app.routeAccess) {
    const [method = '', path = ''] = key.split(' ')
    const operation = document.paths[path.replace(/:(\w+)/g, '{$1}')]?.[method]
    const documented =
      operation?.['x-scope'] ??
      (operation?.security.length === 0 ? 'public' : operation ? 'session' : undefined)
    t.equal(documented, access, key)
  }
})

t.test(
  'a browser at /docs gets the viewer, served by the node; any other client still gets the JSON',
  async (t) => {
    const node = await buildNode(t)
    const page = await node.app.inject({
      method: 'GET',
      url: '/docs',
      headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' },
    })
    t.equal(page.statusCode, 200)
    t.match(page.headers['content-type'], /^text\/html/)
    t.match(
      page.body,
      /<script src="\/docs\/assets\/swagger-ui-bundle\.js">/,
      'the viewer is a file of the node',
    )
    t.notMatch(page.body, /<script>|https?:\/\//, 'no inline script, no other origin')
    t.match(page.headers['content-security-policy'], /script-src 'self'/)
    t.match(page.headers['content-security-policy'], /frame-ancestors 'none'/)

    for (const accept of [undefined, '*/*', 'application/json']) {
      const response = await node.app.inject({
        method: 'GET',
        url: '/docs',
        headers: accept ? { accept } : {},
      })
      t.match(response.headers['content-type'], /^application\/json/, `Accept: ${accept}`)
      t.equal(response.json().openapi, '3.1.0')
    }

    const script = await node.app.inject({ method: 'GET', url: '/docs/assets/swagger-ui-bundle.js' })
    t.equal(script.statusCode, 200)
    t.match(script.headers['content-type'], /^text\/javascript/)
    t.ok(script.body.length > 100_000, 'the whole bundle')
    const start = await node.app.inject({ method: 'GET', url: '/docs/assets/start.js' })
    t.match(start.body, /url: '\/docs\/json'/, 'the viewer reads /docs/json')
    t.match(start.body, /validatorUrl: null/, 'and sends it to no validator')
    for (const name of ['index.html', 'constructor', '..%2Fpackage.json', 'swagger-ui-bundle.js.map']) {
      const missing = await node.app.inject({ method: 'GET', url: `/docs/assets/${name}` })
      t.equal(missing.statusCode, 404, name)
      t.equal(missing.json().error.code, 'E_NOT_FOUND', name)
    }
  },
)
