import t from 'tap'
import { buildNode, buildUser, TEST_PASSWORD } from './helpers.ts'

t.test('password guessing is slowed down: 5 failures lock the login for 15 minutes', async (t) => {
  const node = await buildNode(t)
  const ann = await buildUser(node, { login: 'ann' })
  const login = (password: string) =>
    node.app.inject({ method: 'POST', url: '/api/v1/session', payload: { login: ann.login, password } })
  for (let attempt = 0; attempt < 5; attempt++) t.equal((await login('wrong password')).statusCode, 401)
  const locked = await login(TEST_PASSWORD)
  t.equal(locked.statusCode, 429, 'even the right password waits')
  t.equal(locked.json().error.code, 'E_RATE_LIMITED')
  t.equal(locked.headers['retry-after'], String(15 * 60))
  node.clock.advance(15 * 60 * 1000)
  const after = await login(TEST_PASSWORD)
  t.equal(after.statusCode, 200, 'allowed again once the window passed')
  t.match(String(after.headers['set-cookie']), /ochat_session=.*HttpOnly/)
  for (let attempt = 0; attempt < 4; attempt++) await login('wrong password')
  t.equal((await login(TEST_PASSWORD)).statusCode, 200, 'a success clears the count')
  t.equal((await login('wrong password')).statusCode, 401)
})
