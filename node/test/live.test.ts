import t from 'tap'
import WebSocket from 'ws'
import { buildNode, buildRecord, buildUser } from './helpers.ts'

type Frame = { type: string; event?: { type: string; recordId?: number; userId?: number }; code?: string }

/** A live socket as a UI client opens it, with every frame it receives kept in order. */
async function openLive(url: string, secret: string, headers: Record<string, string> = {}) {
  const socket = new WebSocket(`${url.replace('http', 'ws')}/api/v1/live`, {
    headers: { authorization: `Bearer ${secret}`, ...headers },
  })
  const frames: Frame[] = []
  const waiters: (() => void)[] = []
  socket.on('message', (data) => {
    frames.push(JSON.parse(String(data)) as Frame)
    for (const wake of waiters.splice(0)) wake()
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve())
    socket.once('error', reject)
    socket.once('unexpected-response', (_request, response) =>
      reject(new Error(`HTTP ${response.statusCode}`)),
    )
  })
  const next = async (match: (frame: Frame) => boolean, timeoutMs = 2000): Promise<Frame> => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const index = frames.findIndex(match)
      if (index >= 0) return frames.splice(index, 1)[0] as Frame
      if (Date.now() > deadline) throw new Error(`no matching frame; got ${JSON.stringify(frames)}`)
      await new Promise<void>((resolve) => {
        waiters.push(resolve)
        setTimeout(resolve, 50)
      })
    }
  }
  return { socket, frames, next, send: (frame: object) => socket.send(JSON.stringify(frame)) }
}

t.test('live events reach subscribed clients after commit, and only those allowed', async (t) => {
  const node = await buildNode(t, { listen: true })
  const url = node.url ?? ''
  const sarah = await buildUser(node, { name: 'Sarah' })
  const john = await buildUser(node, { name: 'John' })
  const lead = await buildRecord(sarah)
  await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: john.partnerId })

  const johnLive = await openLive(url, john.secret)
  await johnLive.next((frame) => frame.type === 'ready')
  johnLive.send({ type: 'subscribe', recordId: lead.id })
  await johnLive.next((frame) => frame.type === 'subscribed')

  await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, { kind: 'message', body: 'Hello John' })
  const created = await johnLive.next((frame) => frame.event?.type === 'message.created')
  t.equal(created.event?.recordId, lead.id, 'the new message is announced on the record')
  const inbox = await johnLive.next((frame) => frame.event?.type === 'inbox.changed')
  t.equal(inbox.event?.userId, john.userId, 'and John’s inbox counter is told to refresh')

  // A record John may not see: a custom model where users see only their own records.
  const admin = await buildUser(node, { role: 'admin' })
  const defined = await admin.call('POST', '/api/v1/models', {
    name: 'x_contract',
    label: 'Contract',
    userAccess: 'own',
    fields: [{ name: 'name', label: 'Name', type: 'char', required: true }],
  })
  t.equal(defined.status, 201)
  const secret = await buildRecord(sarah, 'x_contract')
  johnLive.send({ type: 'subscribe', recordId: secret.id })
  const refused = await johnLive.next((frame) => frame.type === 'error')
  t.equal(refused.code, 'E_NOT_FOUND')
  johnLive.send({ type: 'subscribe', recordId: 999_999 })
  const missing = await johnLive.next((frame) => frame.type === 'error')
  t.equal(missing.code, refused.code, 'hidden and missing records get the same answer')
  await sarah.call('POST', `/api/v1/records/${secret.id}/messages`, { kind: 'note', body: 'secret terms' })
  // Events go out before the request that caused them returns: by the answer to a ping sent now, any
  // about the note would have arrived.
  johnLive.send({ type: 'ping' })
  await johnLive.next((frame) => frame.type === 'pong')
  t.notOk(
    johnLive.frames.some((frame) => frame.event?.recordId === secret.id),
    'nothing about the hidden record reaches John',
  )
  johnLive.socket.close()
})

t.test('the live socket needs a login and refuses pages from other sites', async (t) => {
  const node = await buildNode(t, { listen: true })
  const url = node.url ?? ''
  const ann = await buildUser(node)
  await t.rejects(openLive(url, 'ock_not_a_key'), /HTTP 401/)
  await t.rejects(openLive(url, ann.secret, { origin: 'https://evil.example' }), /HTTP 403/)
  await t.rejects(
    openLive(url, ann.secret, { origin: 'null' }),
    /HTTP 403/,
    'a sandboxed frame is refused too',
  )
  const same = await openLive(url, ann.secret, { origin: url })
  await same.next((frame) => frame.type === 'ready')
  same.send({ type: 'nonsense' })
  t.equal((await same.next((frame) => frame.type === 'error')).code, 'E_INVALID_BODY')
  same.socket.close()
})
