import t from 'tap'
import WebSocket from 'ws'
import { buildNode, buildRecord, buildUser, TEST_PASSWORD, type TestNode } from './helpers.ts'

/**
 * The live socket outlives the request that opened it. Regression: a socket kept receiving events
 * after its user logged out, was deactivated, had the key revoked, or lost access to the record it had
 * subscribed to. A deactivated user's sessions and keys stop working at once.
 */

type Frame = { type: string; event?: { type: string; recordId?: number }; recordId?: number }

async function openLive(node: TestNode, headers: Record<string, string>) {
  const socket = new WebSocket(`${node.url?.replace('http', 'ws')}/api/v1/live`, { headers })
  const frames: Frame[] = []
  let closed = false
  const changed: (() => void)[] = []
  const wake = () => {
    for (const resolve of changed.splice(0)) resolve()
  }
  socket.on('message', (data) => {
    frames.push(JSON.parse(String(data)) as Frame)
    wake()
  })
  socket.on('close', () => {
    closed = true
    wake()
  })
  /** Waits for a frame or the close, as long as `done` is false (10 s at most). */
  const until = async (what: string, done: () => boolean) => {
    const deadline = Date.now() + 10_000
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`no ${what} on the live socket`)
      await new Promise<void>((resolve) => {
        changed.push(resolve)
        setTimeout(resolve, 1000)
      })
    }
  }
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('unexpected-response', (_request, response) =>
      reject(new Error(`HTTP ${response.statusCode}`)),
    )
  })
  await until('ready frame', () => closed || frames.some((frame) => frame.type === 'ready'))
  /**
   * Returns once the node answered a ping sent now, or closed the socket: a frame the node wrote before
   * (an event published by a request that already returned) has arrived by then.
   */
  const settle = async () => {
    if (closed) return
    const pongs = () => frames.filter((frame) => frame.type === 'pong').length
    const before = pongs()
    socket.send(JSON.stringify({ type: 'ping' }))
    await until('pong', () => closed || pongs() > before)
  }
  return {
    frames,
    isClosed: () => closed,
    settle,
    subscribe: async (recordId: number) => {
      socket.send(JSON.stringify({ type: 'subscribe', recordId }))
      await until('answer to the subscription', () =>
        frames.some((frame) => frame.recordId === recordId && frame.type !== 'event'),
      )
    },
    close: () => socket.terminate(),
  }
}

const events = (frames: Frame[]) => frames.filter((frame) => frame.type === 'event')

t.test('a live socket stops hearing anything once its session is logged out', async (t) => {
  const node = await buildNode(t, { listen: true })
  const sarah = await buildUser(node, { login: 'sarah' })
  const colleague = await buildUser(node)
  const lead = await buildRecord(sarah)
  const login = await node.app.inject({
    method: 'POST',
    url: '/api/v1/session',
    payload: { login: 'sarah', password: TEST_PASSWORD },
  })
  const cookie = `ochat_session=${login.cookies.find((c) => c.name === 'ochat_session')?.value}`
  const live = await openLive(node, { cookie })
  t.teardown(live.close)
  await live.subscribe(lead.id)
  await colleague.call('POST', `/api/v1/records/${lead.id}/messages`, { kind: 'message', body: 'one' })
  await live.settle()
  const heard = events(live.frames).map((frame) => frame.event?.type)
  t.same(heard.sort(), ['inbox.changed', 'message.created'], 'heard while logged in')
  const logout = await node.app.inject({
    method: 'DELETE',
    url: '/api/v1/session',
    headers: { cookie, 'x-csrf-token': login.json().csrfToken },
  })
  t.equal(logout.statusCode, 204)
  await colleague.call('POST', `/api/v1/records/${lead.id}/messages`, { kind: 'message', body: 'two' })
  await live.settle()
  t.equal(events(live.frames).length, heard.length, 'nothing after logout')
  t.ok(live.isClosed(), 'and the socket is closed')
})

t.test('a deactivated user’s socket, and a revoked key’s, are closed at the next event', async (t) => {
  const node = await buildNode(t, { listen: true })
  const admin = await buildUser(node, { role: 'admin' })
  const leaver = await buildUser(node)
  const lead = await buildRecord(admin)
  await admin.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: leaver.partnerId })
  const live = await openLive(node, { authorization: `Bearer ${leaver.secret}` })
  t.teardown(live.close)
  await live.subscribe(lead.id)
  t.equal((await admin.call('PATCH', `/api/v1/users/${leaver.userId}`, { active: false })).status, 200)
  await admin.call('POST', `/api/v1/records/${lead.id}/messages`, { kind: 'note', body: 'after they left' })
  await live.settle()
  t.same(events(live.frames), [], 'no record event and no inbox event reach a deactivated user')
  t.ok(live.isClosed())

  const keyHolder = await buildUser(node)
  await admin.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: keyHolder.partnerId })
  const byKey = await openLive(node, { authorization: `Bearer ${keyHolder.secret}` })
  t.teardown(byKey.close)
  await byKey.subscribe(lead.id)
  const [key] = (await keyHolder.call('GET', '/api/v1/api-keys')).body.items
  t.equal((await keyHolder.call('DELETE', `/api/v1/api-keys/${key.id}`)).status, 204, 'the key is revoked')
  await admin.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'note',
    body: 'after the key went',
  })
  await byKey.settle()
  t.same(events(byKey.frames), [], 'nothing reaches a socket opened with a revoked key')
  t.ok(byKey.isClosed())
})

t.test('a socket that lost access to an "own" record hears nothing more about it', async (t) => {
  const node = await buildNode(t, { listen: true })
  const admin = await buildUser(node, { role: 'admin' })
  const defined = await admin.call('POST', '/api/v1/models', {
    name: 'x_contract',
    label: 'Contract',
    userAccess: 'own',
    fields: [{ name: 'name', label: 'Title', type: 'char', required: true }],
  })
  t.equal(defined.status, 201)
  const owner = await buildUser(node)
  const fay = await buildUser(node)
  const contract = await buildRecord(owner, 'x_contract')
  await owner.call('POST', `/api/v1/records/${contract.id}/followers`, { partnerId: fay.partnerId })
  const live = await openLive(node, { authorization: `Bearer ${fay.secret}` })
  t.teardown(live.close)
  await live.subscribe(contract.id)
  t.ok(live.frames.some((frame) => frame.type === 'subscribed'))
  t.equal(
    (await owner.call('DELETE', `/api/v1/records/${contract.id}/followers/${fay.partnerId}`)).status,
    204,
  )
  live.frames.length = 0
  await owner.call('POST', `/api/v1/records/${contract.id}/messages`, { kind: 'message', body: 'new terms' })
  await owner.call('PATCH', `/api/v1/records/${contract.id}`, { version: 1, values: { name: 'Renamed' } })
  await live.settle()
  t.same(events(live.frames), [], 'no message.created, no record.updated')
  t.notOk(live.isClosed(), 'the socket itself stays open for what Fay may still see')
})
