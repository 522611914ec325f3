// Request ids: every answer and every log line of a request carry one, and the webhook that delivers
// an envelope carries the id of the submit that stored it, so the node's log finds the relay's.

import { randomUUID } from 'node:crypto'
import t from 'tap'
import {
  buildNode,
  buildRelay,
  capturedLogs,
  connect,
  eachDriver,
  register,
  sealFor,
  signed,
} from './helpers.ts'
import { eventually, startWebhookNode } from './webhook-node.ts'
import { openSocket } from './ws-client.ts'

type LogLine = { reqId?: string; requestId?: string; submits?: string[]; msg: string }

const linesOf = (text: string): LogLine[] =>
  text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as LogLine)

eachDriver(
  t,
  'answers and log lines carry the request id, and so does the webhook of a submit',
  async (t, driver) => {
    const logs = capturedLogs()
    const relay = await buildRelay(t, driver, {
      listen: true,
      logStream: logs.stream,
      env: { RELAY_LOG_LEVEL: 'info' },
    })
    const kept = await relay.app.inject({
      method: 'GET',
      url: '/healthz',
      headers: { 'x-request-id': 'lb-01:9f3a' },
    })
    t.equal(kept.headers['x-request-id'], 'lb-01:9f3a', "a caller's sane id is echoed")
    t.ok(
      linesOf(logs.text()).filter((line) => line.reqId === 'lb-01:9f3a').length >= 2,
      'the request and its completion are logged under it',
    )
    for (const bad of ['a b', 'line\u2028break', `x${'y'.repeat(128)}`, '"quoted"']) {
      const answer = await relay.app.inject({
        method: 'GET',
        url: '/healthz',
        headers: { 'x-request-id': bad },
      })
      t.match(String(answer.headers['x-request-id']), /^[0-9a-f-]{36}$/, 'anything else is replaced')
    }
    const refused = await relay.app.inject({ method: 'POST', url: '/v1/envelopes', payload: {} })
    t.ok(refused.statusCode >= 400 && refused.statusCode < 500)
    t.match(String(refused.headers['x-request-id']), /^[0-9a-f-]{36}$/, 'a refusal carries one too')

    const acme = buildNode('Acme')
    const globex = buildNode('Globex')
    await connect(relay, acme, globex)
    const hook = await startWebhookNode(relay, globex)
    t.teardown(() => hook.close())
    t.equal((await register(relay, globex, { webhookUrl: hook.url })).statusCode, 200)

    const envelope = sealFor(acme, globex)
    const submitted = await signed(
      relay,
      acme,
      'POST',
      '/v1/envelopes',
      { envelopes: [envelope] },
      { headers: { 'x-request-id': 'acme-submit-42' } },
    )
    t.equal(submitted.json().results[0]?.ok, true)
    t.equal(submitted.headers['x-request-id'], 'acme-submit-42')
    await eventually(() => hook.received.length > 0)
    t.equal(hook.received[0]?.requestId, 'acme-submit-42', 'the node is told the submit’s id')
    await eventually(() => linesOf(logs.text()).find((line) => line.msg === 'webhook delivery'))
    const delivery = linesOf(logs.text()).find((line) => line.msg === 'webhook delivery')
    t.equal(delivery?.requestId, 'acme-submit-42', 'and the relay logs the delivery under it')
    t.notOk(logs.text().includes(envelope.ciphertext.slice(0, 40)), 'no ciphertext in the logs')
  },
)

eachDriver(
  t,
  'a submit over the socket gives its requestId to the webhook that delivers it',
  async (t, driver) => {
    const logs = capturedLogs()
    const relay = await buildRelay(t, driver, {
      listen: true,
      logStream: logs.stream,
      env: { RELAY_LOG_LEVEL: 'info' },
    })
    const acme = buildNode('Acme')
    const globex = buildNode('Globex')
    await connect(relay, acme, globex)
    const hook = await startWebhookNode(relay, globex)
    t.teardown(() => hook.close())
    t.equal((await register(relay, globex, { webhookUrl: hook.url })).statusCode, 200)

    const socket = await openSocket(relay, acme)
    t.teardown(() => socket.close())
    const requestId = randomUUID()
    socket.send({ type: 'submit', requestId, envelopes: [sealFor(acme, globex)] })
    t.equal((await socket.next('submitted')).requestId, requestId)
    await eventually(() => hook.received.length > 0)
    t.equal(hook.received[0]?.requestId, requestId, 'the node is told the frame’s requestId')
    await eventually(() => linesOf(logs.text()).find((line) => line.msg === 'webhook delivery'))
    const delivery = linesOf(logs.text()).find((line) => line.msg === 'webhook delivery')
    t.equal(delivery?.requestId, requestId, 'and the relay logs the delivery under it')
  },
)
