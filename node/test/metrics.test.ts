import { Writable } from 'node:stream'
import t from 'tap'
import { RETRY_DELAYS_MS } from '../src/webhooks/queue.ts'
import { settled, webhookScene } from './fixtures/webhooks.ts'
import {
  type Actor,
  buildNode,
  buildPartner,
  buildRecord,
  buildUser,
  TEST_PASSWORD,
  type TestNode,
} from './helpers.ts'

/**
 * GET /metrics: who may read it (a scraper's token, an administrator; nobody else), what it says about
 * the queues an operator watches, and the request id every answer and log line carries.
 */

const TOKEN = 'scraper-token-0123456789'

/** A session cookie, as the browser gets it from logging in. */
async function sessionOf(node: TestNode, actor: Actor): Promise<string> {
  const login = await node.app.inject({
    method: 'POST',
    url: '/api/v1/session',
    payload: { login: actor.login, password: TEST_PASSWORD },
  })
  if (login.statusCode !== 200) throw new Error(`login answered ${login.statusCode}`)
  const cookie = login.cookies.find((entry) => entry.name === 'ochat_session')
  if (!cookie) throw new Error('no session cookie')
  return `${cookie.name}=${cookie.value}`
}

async function scrape(node: TestNode, headers: Record<string, string> = {}) {
  return node.app.inject({ method: 'GET', url: '/metrics', headers })
}

/** A sample's value from the Prometheus text: `name{labels} value`. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((entry) => entry.startsWith(`${name}${labels} `))
  return line === undefined ? undefined : Number(line.split(' ').at(-1))
}

t.test('only a scraper with the token and administrators may read the metrics', async (t) => {
  const { node, admin, sarah } = await webhookScene(t, { NODE_METRICS_TOKEN: TOKEN })
  const anonymous = await scrape(node)
  t.equal(anonymous.statusCode, 401, 'nobody: 401')
  t.equal(anonymous.json().error.code, 'E_AUTH_REQUIRED')
  t.notMatch(anonymous.body, /ochat_node_/, 'and not a figure')
  t.equal(
    (await scrape(node, { authorization: 'Bearer not-the-token-at-all' })).statusCode,
    401,
    'a wrong token',
  )

  const user = await scrape(node, { authorization: `Bearer ${sarah.secret}` })
  t.equal(user.statusCode, 403, "a user's key: 403")
  t.equal(user.json().error.code, 'E_FORBIDDEN')
  t.equal((await scrape(node, { cookie: await sessionOf(node, sarah) })).statusCode, 403, "a user's session")
  const narrowAdmin = await buildUser(node, { role: 'admin', scopes: ['records:read'] })
  t.equal(
    (await scrape(node, { authorization: `Bearer ${narrowAdmin.secret}` })).statusCode,
    403,
    "an administrator's key without the admin scope",
  )

  const scraper = await scrape(node, { authorization: `Bearer ${TOKEN}` })
  t.equal(scraper.statusCode, 200, 'the token: 200')
  t.match(scraper.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  t.match(scraper.body, /^# HELP ochat_node_mail_queued /m)
  t.match(scraper.body, /^process_cpu_user_seconds_total /m, "and the process's own figures")
  t.equal((await scrape(node, { authorization: `Bearer ${admin.secret}` })).statusCode, 200, "an admin's key")
  t.equal(
    (await scrape(node, { cookie: await sessionOf(node, admin) })).statusCode,
    200,
    "an admin's session",
  )
})

t.test('without a token configured, a bearer that looks like one is refused', async (t) => {
  const { node, admin } = await webhookScene(t)
  t.equal((await scrape(node, { authorization: `Bearer ${TOKEN}` })).statusCode, 401)
  t.equal((await scrape(node, { authorization: `Bearer ${admin.secret}` })).statusCode, 200)
})

t.test('a queued email, a failed one and a failed webhook show in the numbers', async (t) => {
  const { node, admin, sarah, receiver } = await webhookScene(t, { NODE_METRICS_TOKEN: TOKEN })
  const read = async () => (await scrape(node, { authorization: `Bearer ${TOKEN}` })).body
  const before = await read()
  t.equal(sample(before, 'ochat_node_mail_queued'), 0)
  t.equal(sample(before, 'ochat_node_mail_failed', '{status="failed"}'), 0)
  t.equal(sample(before, 'ochat_node_webhook_messages_pending'), 0)

  receiver.answerWith(() => ({ status: 500, body: 'down for maintenance' }))
  const endpoint = await admin.call('POST', '/api/v1/webhooks/endpoints', {
    url: receiver.url,
    events: ['record.created'],
  })
  t.equal(endpoint.status, 201)
  const lead = await buildRecord(sarah, 'lead', { name: 'Big deal' })
  await settled(node)
  // Without an SMTP server the email to Carla stays queued; Walter has no address, so his fails at once.
  for (const partner of [
    buildPartner(node, { name: 'Carla', email: 'carla@client.test' }),
    buildPartner(node, { name: 'Walter', email: null }),
  ])
    await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: partner.id })
  const posted = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'message',
    body: 'Your offer is ready',
  })
  t.equal(posted.status, 201)
  node.clock.advance(90_000)

  const during = await read()
  t.equal(sample(during, 'ochat_node_mail_queued'), 1, 'one email queued')
  t.equal(sample(during, 'ochat_node_mail_oldest_queued_age_seconds'), 90, 'for 90 s')
  t.equal(sample(during, 'ochat_node_mail_failed', '{status="failed"}'), 1, 'one failed')
  t.equal(sample(during, 'ochat_node_webhook_messages_pending'), 1, 'the webhook waits for a retry')
  t.equal(sample(during, 'ochat_node_webhook_attempts_failed_last_hour'), 1, 'after one failed call')
  t.equal(sample(during, 'ochat_node_webhook_messages_failed_last_hour'), 0, 'not failed for good yet')
  t.match(
    during,
    /^ochat_node_http_request_duration_seconds_count\{method="POST",route="\/api\/v1\/records\/:id\/messages",status="201"\} 1$/m,
    'requests are counted by route pattern, not by URL',
  )

  // Every retry on the schedule fails too: the message is Failed for good.
  for (const delay of RETRY_DELAYS_MS.slice(1)) {
    node.clock.advance(delay)
    await settled(node)
  }
  t.equal(receiver.received.length, RETRY_DELAYS_MS.length, 'every attempt was made')
  const after = await read()
  t.equal(sample(after, 'ochat_node_webhook_messages_pending'), 0)
  t.equal(sample(after, 'ochat_node_webhook_messages_failed_last_hour'), 1, 'one webhook failed for good')
})

t.test('each answer carries its request id, and the log lines of that request too', async (t) => {
  const logged: string[] = []
  const logStream = new Writable({
    write(chunk, _encoding, done) {
      logged.push(String(chunk))
      done()
    },
  })
  const node = await buildNode(t, { env: { NODE_LOG_LEVEL: 'info' }, logStream })
  const given = await node.app.inject({
    method: 'GET',
    url: '/healthz',
    headers: { 'x-request-id': 'proxy-4711.a' },
  })
  t.equal(given.headers['x-request-id'], 'proxy-4711.a', "a caller's sane id is kept")
  const lines = logged.map((line) => JSON.parse(line) as { reqId?: string; msg: string })
  t.ok(lines.filter((line) => line.reqId === 'proxy-4711.a').length >= 2, 'on the request and its completion')

  for (const bad of ['two words', 'x'.repeat(200), 'quote"d', '-leading-dash']) {
    const answer = await node.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': bad } })
    const id = String(answer.headers['x-request-id'])
    t.not(id, bad, `${JSON.stringify(bad.slice(0, 20))} is replaced`)
    t.match(id, /^[0-9a-f-]{36}$/, 'by a fresh id')
  }
  const missing = await node.app.inject({ method: 'GET', url: '/no/such/page' })
  t.equal(missing.statusCode, 404)
  t.match(String(missing.headers['x-request-id']), /^[0-9a-f-]{36}$/, 'errors carry one too')
})
