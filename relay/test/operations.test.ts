// Operations: metrics for operators, suspension over the socket, graceful shutdown.
import t from 'tap'
import { request } from 'undici'
import { updateInstance } from '../src/instances/repository.ts'
import { buildNode, buildRelay, connect, eachDriver, register, sealFor, signed } from './helpers.ts'
import { eventually, startWebhookNode } from './webhook-node.ts'
import { openSocket } from './ws-client.ts'

eachDriver(
  t,
  '/metrics reports queue depth and age per destination, deliveries and breakers; not to strangers',
  async (t, driver) => {
    const relay = await buildRelay(t, driver, {
      listen: true,
      env: { RELAY_METRICS_TOKEN: 'operator-token-0123456789' },
    })
    const acme = buildNode('Acme')
    const globex = buildNode('Globex')
    await connect(relay, acme, globex)
    await signed(relay, acme, 'POST', '/v1/envelopes', {
      envelopes: [sealFor(acme, globex), sealFor(acme, globex)],
    })
    const scrape = async (authorization?: string) => {
      const response = await request(`${relay.baseUrl}/metrics`, {
        headers: authorization ? { authorization } : {},
      })
      return { status: response.statusCode, text: await response.body.text() }
    }
    t.equal((await scrape()).status, 404, 'no token: not there')
    t.equal((await scrape('Bearer wrong')).status, 404)
    const { status, text } = await scrape('Bearer operator-token-0123456789')
    t.equal(status, 200)
    t.match(text, new RegExp(`ochat_relay_queue_depth\\{destination="${globex.instanceId}"\\} 2`))
    t.match(text, new RegExp(`ochat_relay_queue_oldest_age_seconds\\{destination="${globex.instanceId}"\\}`))
    t.match(text, /ochat_relay_envelopes_accepted_total 2/)
    t.match(text, /ochat_relay_http_request_duration_seconds_bucket\{.*route="\/v1\/envelopes".*status="200"/)
    t.match(text, /ochat_relay_sockets 0/)
  },
)

eachDriver(t, 'a suspended instance’s socket is refused with 4403 and a clear error', async (t, driver) => {
  const relay = await buildRelay(t, driver, { listen: true })
  const acme = buildNode('Acme')
  await register(relay, acme)
  await updateInstance(relay.database.db, acme.instanceId, { status: 'suspended' })
  const socket = await openSocket(relay, acme, { authenticate: false })
  socket.answerChallenge()
  t.match(await socket.next('error'), {
    error: { code: 'E_SUSPENDED', message: /suspended by the relay operator/ },
  })
  t.equal((await socket.closed()).code, 4403)
})

eachDriver(t, 'graceful shutdown finishes a webhook delivery already in flight', async (t, driver) => {
  const relay = await buildRelay(t, driver, { listen: true })
  const acme = buildNode('Acme')
  const globex = buildNode('Globex')
  await connect(relay, acme, globex)
  const hook = await startWebhookNode(relay, globex)
  t.teardown(() => hook.close())
  await register(relay, globex, { webhookUrl: hook.url })
  hook.answer({ status: 200, delayMs: 700, body: '' })
  const envelope = sealFor(acme, globex)
  await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes: [envelope] })
  await eventually(() => hook.received.length === 1)
  const closing = relay.close()
  await closing
  t.pass('close waited for the POST in flight instead of dropping it')
  t.equal(hook.received.length, 1)
})

eachDriver(
  t,
  'suspending an instance closes its open socket on every replica; reconnecting gets 4403',
  async (t, driver) => {
    const relay = await buildRelay(t, driver, { listen: true })
    const acme = buildNode('Acme')
    await register(relay, acme)
    const socket = await openSocket(relay, acme)
    const { announceInstanceChange } = await import('../src/delivery/lease-repository.ts')
    await updateInstance(relay.database.db, acme.instanceId, { status: 'suspended' })
    await announceInstanceChange(relay.database.db, acme.instanceId)
    t.equal((await socket.closed()).code, 4401, 'closed: authenticate again')
    const again = await openSocket(relay, acme, { authenticate: false })
    again.answerChallenge()
    t.equal((await again.closed()).code, 4403)
  },
)
