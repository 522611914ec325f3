import t from 'tap'
import { buildNode, buildUser, TEST_PASSWORD } from './helpers.ts'

/**
 * The UI asks at every page load who is logged in. Logged out is the usual answer on a first visit:
 * the probe says so with a 200, so the browser logs no failed request, while GET /api/v1/session
 * keeps its 401 for API clients.
 */

t.test('the session probe answers 200 logged out and in; the session route keeps its 401', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const probe = (headers: Record<string, string> = {}) =>
    node.app.inject({ method: 'GET', url: '/api/v1/session/probe', headers })

  const out = await probe()
  t.equal(out.statusCode, 200)
  t.same(out.json(), { csrfToken: null, user: null })
  t.same((await probe({ cookie: 'ochat_session=not-a-session' })).json(), { csrfToken: null, user: null })
  t.equal((await node.app.inject({ method: 'GET', url: '/api/v1/session' })).statusCode, 401)

  const login = await node.app.inject({
    method: 'POST',
    url: '/api/v1/session',
    payload: { login: sarah.login, password: TEST_PASSWORD },
  })
  t.equal(login.statusCode, 200)
  const cookie = login.cookies.find((c) => c.name === 'ochat_session')
  const logged = await probe({ cookie: `ochat_session=${cookie?.value}` })
  t.equal(logged.statusCode, 200)
  t.equal(logged.json().user.name, 'Sarah Sales')
  t.equal(logged.json().csrfToken, login.json().csrfToken, 'the token writes need')

  const byKey = await probe({ authorization: `Bearer ${sarah.secret}` })
  t.equal(byKey.json().user.name, 'Sarah Sales', 'an API key works too')
  t.equal(byKey.json().csrfToken, null)
})

t.test('the icon is served at /favicon.ico and under /assets', async (t) => {
  const node = await buildNode(t)
  for (const url of ['/favicon.ico', '/assets/favicon.svg']) {
    const response = await node.app.inject({ method: 'GET', url })
    t.equal(response.statusCode, 200, url)
    t.match(response.headers['content-type'], /^image\/svg\+xml/, url)
    t.match(response.body, /<svg/, url)
  }
})
