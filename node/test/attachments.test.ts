import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { join } from 'node:path'
import t from 'tap'
import { partialUpload, trickle } from '../../test/support/raw-http.ts'
import { type Actor, buildNode, buildRecord, buildUser, type TestNode } from './helpers.ts'

/** Every file under the attachment directory (content and temp files), relative to it. */
function filesOnDisk(node: TestNode): string[] {
  const dir = node.config.attachmentDir
  if (!existsSync(dir)) return []
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((path) => statSync(join(dir, path)).isFile())
    .sort()
}

function attachmentRows(node: TestNode): number {
  return (node.database.sqlite.prepare('select count(*) as n from attachments').get() as { n: number }).n
}

async function upload(
  node: TestNode,
  actor: Actor,
  bytes: Buffer,
  options: { fileName?: string; type?: string; recordId?: number; headers?: Record<string, string> } = {},
) {
  const query = new URLSearchParams({ fileName: options.fileName ?? 'notes.txt' })
  if (options.recordId !== undefined) query.set('recordId', String(options.recordId))
  const response = await node.app.inject({
    method: 'POST',
    url: `/api/v1/attachments?${query}`,
    headers: {
      authorization: `Bearer ${actor.secret}`,
      'content-type': options.type ?? 'text/plain',
      ...options.headers,
    },
    payload: bytes,
  })
  return { status: response.statusCode, body: response.json(), response }
}

async function download(node: TestNode, actor: Actor, id: number, headers: Record<string, string> = {}) {
  return node.app.inject({
    method: 'GET',
    url: `/api/v1/attachments/${id}/content`,
    headers: { authorization: `Bearer ${actor.secret}`, ...headers },
  })
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

t.test(
  'an upload is stored once per content, attached to a message and downloaded whole or by range',
  async (t) => {
    const node = await buildNode(t)
    const sarah = await buildUser(node, { name: 'Sarah Sales' })
    const lead = await buildRecord(sarah)
    const bytes = Buffer.from('Quote 2026-117: 40 chairs, 4 tables.\n'.repeat(100))

    const first = await upload(node, sarah, bytes, {
      fileName: 'quote.txt',
      type: 'text/plain; charset=utf-8',
    })
    t.equal(first.status, 201)
    t.match(first.body, {
      fileName: 'quote.txt',
      mimeType: 'text/plain; charset=utf-8',
      size: bytes.length,
      sha256: sha256(bytes),
      url: `/api/v1/attachments/${first.body.id}/content`,
      recordId: null,
      messageId: null,
    })
    const second = await upload(node, sarah, bytes, { fileName: 'quote copy.txt', recordId: lead.id })
    t.equal(second.status, 201)
    t.not(second.body.id, first.body.id, 'two uploads, two attachments')
    t.equal(second.body.recordId, lead.id)
    const sha = sha256(bytes)
    t.same(filesOnDisk(node), [join(sha.slice(0, 2), sha)], 'one file on disk for the same content')
    t.equal(attachmentRows(node), 2)

    const posted = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
      kind: 'message',
      body: 'Here is the quote',
      attachmentIds: [first.body.id],
    })
    t.equal(posted.status, 201)
    t.same(
      posted.body.attachments.map((a: { id: number; fileName: string }) => [a.id, a.fileName]),
      [[first.body.id, 'quote.txt']],
    )
    const metadata = await sarah.call('GET', `/api/v1/attachments/${first.body.id}`)
    t.equal(metadata.body.messageId, posted.body.id)
    t.equal(metadata.body.recordId, lead.id)
    const again = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
      kind: 'message',
      body: 'Once more',
      attachmentIds: [first.body.id],
    })
    t.equal(again.status, 400, 'a file already on a message cannot be attached to another one')

    const whole = await download(node, sarah, first.body.id)
    t.equal(whole.statusCode, 200)
    t.same(whole.rawPayload, bytes)
    t.equal(whole.headers['content-type'], 'text/plain; charset=utf-8')
    t.equal(whole.headers['content-length'], String(bytes.length))
    t.equal(
      whole.headers['content-disposition'],
      `attachment; filename="quote.txt"; filename*=UTF-8''quote.txt`,
    )
    t.equal(whole.headers['x-content-type-options'], 'nosniff')

    const part = await download(node, sarah, first.body.id, { range: 'bytes=6-12' })
    t.equal(part.statusCode, 206)
    t.equal(part.body, '2026-11')
    t.equal(part.headers['content-range'], `bytes 6-12/${bytes.length}`)
    t.equal(part.headers['content-length'], '7')
    const tail = await download(node, sarah, first.body.id, { range: 'bytes=-4' })
    t.equal(tail.statusCode, 206)
    t.same(tail.rawPayload, bytes.subarray(bytes.length - 4))
    const beyond = await download(node, sarah, first.body.id, { range: `bytes=${bytes.length}-` })
    t.equal(beyond.statusCode, 416)
    t.equal(beyond.headers['content-range'], `bytes */${bytes.length}`)
    t.equal(beyond.json().error.code, 'E_RANGE_NOT_SATISFIABLE')
  },
)

t.test('a file name is sent back RFC 5987-encoded, and any media type is accepted as is', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node)
  const json = Buffer.from('{"not": "parsed by the node"')
  const uploaded = await upload(node, sarah, json, {
    fileName: 'C:\\exports\\Résumé (final).json',
    type: 'application/json',
  })
  t.equal(uploaded.status, 201, 'a JSON file is a file, not a request body')
  t.equal(uploaded.body.fileName, 'Résumé (final).json', 'the client path is cut off')
  const downloaded = await download(node, sarah, uploaded.body.id)
  t.same(downloaded.rawPayload, json)
  t.equal(
    downloaded.headers['content-disposition'],
    `attachment; filename="R_sum_ (final).json"; filename*=UTF-8''R%C3%A9sum%C3%A9%20%28final%29.json`,
  )
  const bad = await upload(node, sarah, json, { type: 'not a type' })
  t.equal(bad.status, 400)
  t.equal(bad.body.error.code, 'E_INVALID_HEADER')
  const nameless = await upload(node, sarah, json, { fileName: '  ' })
  t.equal(nameless.status, 400)
  t.equal(nameless.body.error.code, 'E_INVALID_PARAMS')
})

t.test('only the uploader and readers of its record can see a file; others get 404', async (t) => {
  const node = await buildNode(t)
  const admin = await buildUser(node, { role: 'admin' })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const mallory = await buildUser(node, { name: 'Mallory' })
  const defined = await admin.call('POST', '/api/v1/models', {
    name: 'x_contract',
    label: 'Contract',
    userAccess: 'own',
    fields: [{ name: 'name', label: 'Name', type: 'char', required: true }],
  })
  t.equal(defined.status, 201)
  const contract = await buildRecord(sarah, 'x_contract')
  const onRecord = await upload(node, sarah, Buffer.from('signed contract'), { recordId: contract.id })
  t.equal(onRecord.status, 201)
  const loose = await upload(node, sarah, Buffer.from('draft'))

  for (const id of [onRecord.body.id, loose.body.id, 999_999]) {
    const content = await download(node, mallory, id)
    t.equal(content.statusCode, 404, `no content of #${id} for a non-reader`)
    t.equal(content.json().error.code, 'E_NOT_FOUND')
    const metadata = await mallory.call('GET', `/api/v1/attachments/${id}`)
    t.equal(metadata.status, 404)
  }
  const refused = await upload(node, mallory, Buffer.from('x'), { recordId: contract.id })
  t.equal(refused.status, 404, 'no upload onto a record one cannot read')
  t.equal((await download(node, admin, onRecord.body.id)).statusCode, 200, 'an admin reads every record')

  // Sarah's upload cannot be slipped onto someone else's message, even on a record both can read.
  const lead = await buildRecord(mallory)
  const stolen = await mallory.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'message',
    body: 'look',
    attachmentIds: [loose.body.id],
  })
  t.equal(stolen.status, 400)
  t.equal(stolen.body.error.code, 'E_INVALID_BODY')
  const chatter = await mallory.call('GET', `/api/v1/records/${lead.id}/messages?kind=message`)
  t.equal(chatter.body.items.length, 0, 'nothing was posted')
})

t.test('deleting an upload removes the file only when no other upload has the same content', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node)
  const john = await buildUser(node)
  const lead = await buildRecord(sarah)
  const bytes = Buffer.from('minutes of the meeting')
  const a = await upload(node, sarah, bytes, { recordId: lead.id })
  const b = await upload(node, sarah, bytes)
  const posted = await upload(node, sarah, Buffer.from('attached'), { recordId: lead.id })
  await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'note',
    body: '',
    attachmentIds: [posted.body.id],
  })

  const notMine = await john.call('DELETE', `/api/v1/attachments/${a.body.id}`)
  t.equal(notMine.status, 403, 'a reader of the record is not its uploader')
  const onMessage = await sarah.call('DELETE', `/api/v1/attachments/${posted.body.id}`)
  t.equal(onMessage.status, 409)
  t.equal(onMessage.body.error.code, 'E_ATTACHMENT_ATTACHED')

  t.equal((await sarah.call('DELETE', `/api/v1/attachments/${a.body.id}`)).status, 204)
  t.equal((await download(node, sarah, a.body.id)).statusCode, 404)
  t.ok(
    existsSync(join(node.config.attachmentDir, sha256(bytes).slice(0, 2), sha256(bytes))),
    'b still needs it',
  )
  t.equal((await download(node, sarah, b.body.id)).body, 'minutes of the meeting')
  t.equal((await sarah.call('DELETE', `/api/v1/attachments/${b.body.id}`)).status, 204)
  t.same(
    filesOnDisk(node),
    [join(sha256(Buffer.from('attached')).slice(0, 2), sha256(Buffer.from('attached')))],
    'the last copy went with the last upload',
  )
})

t.test('an upload over the limit or with a wrong length is refused and leaves nothing behind', async (t) => {
  const node = await buildNode(t, { env: { NODE_ATTACHMENT_MAX_BYTES: '1000' } })
  const sarah = await buildUser(node)
  const tooLarge = await upload(node, sarah, Buffer.alloc(1001, 1))
  t.equal(tooLarge.status, 413)
  t.equal(tooLarge.body.error.code, 'E_ATTACHMENT_TOO_LARGE')
  t.match(tooLarge.body.error.reason, /1001 bytes/)
  const longer = await upload(node, sarah, Buffer.alloc(900, 2), { headers: { 'content-length': '500' } })
  t.equal(longer.status, 400, 'more bytes than declared')
  t.equal(longer.body.error.code, 'E_ATTACHMENT_LENGTH')
  const exactly = await upload(node, sarah, Buffer.alloc(1000, 3))
  t.equal(exactly.status, 201, 'the limit itself is allowed')
  t.same(filesOnDisk(node), [join(exactly.body.sha256.slice(0, 2), exactly.body.sha256)], 'no temp files')
  t.equal(attachmentRows(node), 1)
})

t.test('over real HTTP: a body shorter than declared, or chunked, stores nothing', async (t) => {
  const node = await buildNode(t, { listen: true })
  const sarah = await buildUser(node)
  const url = new URL('/api/v1/attachments?fileName=big.bin', node.url)

  // Declares 1 MB, sends 64 KiB, then the connection drops while the node is writing the temp file.
  let sawTempFile = false
  const cutShort = await new Promise<string>((resolve) => {
    const request = httpRequest(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${sarah.secret}`,
        'content-type': 'application/octet-stream',
        'content-length': String(1024 * 1024),
      },
    })
    request.on('error', (error) => resolve((error as NodeJS.ErrnoException).code ?? error.message))
    request.on('response', (response) => resolve(String(response.statusCode)))
    request.write(Buffer.alloc(64 * 1024, 7), async () => {
      for (let i = 0; i < 100 && !sawTempFile; i++) {
        sawTempFile = filesOnDisk(node).some((path) => path.endsWith('.part'))
        await new Promise((r) => setTimeout(r, 20))
      }
      request.destroy()
    })
  })
  t.ok(sawTempFile, 'the upload was being written when the connection dropped')
  t.ok(['ECONNRESET', 'socket hang up'].includes(cutShort), 'the client saw its upload fail')
  // The server notices the drop asynchronously; wait until it cleaned up (at most 5 s).
  for (let i = 0; i < 100 && filesOnDisk(node).length > 0; i++) await new Promise((r) => setTimeout(r, 50))
  t.same(filesOnDisk(node), [], 'no temp file left')
  t.equal(attachmentRows(node), 0)

  const chunked = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${sarah.secret}`, 'content-type': 'application/octet-stream' },
    body: new ReadableStream({
      start(controller) {
        controller.enqueue(new Uint8Array([1, 2, 3]))
        controller.close()
      },
    }),
    duplex: 'half',
  } as RequestInit)
  t.equal(chunked.status, 411)
  t.equal(((await chunked.json()) as { error: { code: string } }).error.code, 'E_LENGTH_REQUIRED')

  // A few MB stream through and come back identical.
  const big = Buffer.alloc(3 * 1024 * 1024)
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE(i, i)
  const uploaded = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${sarah.secret}`, 'content-type': 'application/octet-stream' },
    body: big,
  })
  t.equal(uploaded.status, 201)
  const view = (await uploaded.json()) as { id: number; sha256: string; size: number }
  t.equal(view.size, big.length)
  t.equal(view.sha256, sha256(big))
  t.same(readFileSync(join(node.config.attachmentDir, view.sha256.slice(0, 2), view.sha256)), big)
})

t.test('a message carries at most 5 files', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node)
  const lead = await buildRecord(sarah)
  const ids: number[] = []
  for (let i = 0; i < 6; i++) ids.push((await upload(node, sarah, Buffer.from(`page ${i}`))).body.id)
  const six = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'message',
    body: 'all pages',
    attachmentIds: ids,
  })
  t.equal(six.status, 400)
  t.equal(six.body.error.code, 'E_INVALID_BODY')
  const five = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'message',
    body: 'five pages',
    attachmentIds: ids.slice(0, 5),
  })
  t.equal(five.status, 201)
  t.equal(five.body.attachments.length, 5)
})

t.test('deleting a message takes its files with it, for everyone but admins', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node)
  const john = await buildUser(node)
  const admin = await buildUser(node, { role: 'admin' })
  const lead = await buildRecord(sarah)
  const file = await upload(node, sarah, Buffer.from('price list'), { recordId: lead.id })
  const posted = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'message',
    body: 'see attached',
    attachmentIds: [file.body.id],
  })
  t.equal(posted.status, 201)
  t.equal((await john.call('GET', `/api/v1/attachments/${file.body.id}/content`)).status, 200)
  t.equal((await sarah.call('DELETE', `/api/v1/messages/${posted.body.id}`)).status, 204)
  for (const actor of [john, sarah]) {
    const gone = await actor.call('GET', `/api/v1/attachments/${file.body.id}/content`)
    t.equal(gone.status, 404, 'the download is gone with the message')
    t.equal(gone.body.error.code, 'E_NOT_FOUND')
  }
  t.equal((await admin.call('GET', `/api/v1/attachments/${file.body.id}/content`)).status, 200)
})

t.test('deleting a record removes its files from disk, but not content another upload shares', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node)
  const lead = await buildRecord(sarah)
  const other = await buildRecord(sarah)
  const own = await upload(node, sarah, Buffer.from('only on this lead'), { recordId: lead.id })
  const shared = await upload(node, sarah, Buffer.from('on both'), { recordId: lead.id })
  await upload(node, sarah, Buffer.from('on both'), { recordId: other.id })
  t.equal(filesOnDisk(node).length, 2)
  t.equal((await sarah.call('DELETE', `/api/v1/records/${lead.id}`)).status, 204)
  t.same(
    filesOnDisk(node).map((path) => path.split('/').at(-1)),
    [shared.body.sha256],
    'the file only this record had is gone; the shared content stays',
  )
  t.equal((await sarah.call('GET', `/api/v1/attachments/${own.body.id}/content`)).status, 404)
})

t.test('a file uploaded for one record cannot be moved onto another record’s message', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node)
  const first = await buildRecord(sarah)
  const second = await buildRecord(sarah)
  const file = await upload(node, sarah, Buffer.from('for the first lead'), { recordId: first.id })
  const moved = await sarah.call('POST', `/api/v1/records/${second.id}/messages`, {
    kind: 'message',
    body: 'wrong place',
    attachmentIds: [file.body.id],
  })
  t.equal(moved.status, 400)
  t.equal(moved.body.error.code, 'E_INVALID_BODY')
  const right = await sarah.call('POST', `/api/v1/records/${first.id}/messages`, {
    kind: 'message',
    body: 'right place',
    attachmentIds: [file.body.id],
  })
  t.equal(right.status, 201)
  t.equal(right.body.attachments[0]?.id, file.body.id)
})

t.test(
  'an upload that stalls or trickles is cut off with 408, and its temp file is gone at once',
  async (t) => {
    const node = await buildNode(t, {
      listen: true,
      env: { NODE_UPLOAD_IDLE_MS: '300', NODE_UPLOAD_MIN_BYTES_PER_S: String(64 * 1024) },
    })
    const sarah = await buildUser(node)
    const url = new URL('/api/v1/attachments?fileName=big.bin', node.url)
    const headers = { authorization: `Bearer ${sarah.secret}`, 'content-type': 'application/octet-stream' }

    // Declares 40 MB, sends 64 KiB, then nothing.
    const stalled = await partialUpload({
      method: 'POST',
      url,
      headers,
      declaredBytes: 40 * 1024 * 1024,
      first: Buffer.alloc(64 * 1024, 1),
    })
    t.match(stalled.head, /^HTTP\/1\.1 408 /, 'the stalled upload is answered 408')
    t.match(stalled.head, /connection: close/i, 'and the node closes the connection')
    t.equal(JSON.parse(stalled.body).error.code, 'E_UPLOAD_STALLED')
    t.match(JSON.parse(stalled.body).error.reason, /no bytes arrived for 0\.3 s/)
    t.same(filesOnDisk(node), [], 'the temp file was removed before the answer went out')

    // 1 KiB every 50 ms is 20 KiB/s, under the 64 KiB/s floor configured here.
    const slow = await partialUpload({
      method: 'POST',
      url,
      headers,
      declaredBytes: 40 * 1024 * 1024,
      first: Buffer.alloc(1024, 2),
      trickle: (socket) => trickle(socket, 1024, 50),
    })
    t.match(slow.head, /^HTTP\/1\.1 408 /)
    t.equal(JSON.parse(slow.body).error.code, 'E_UPLOAD_TOO_SLOW')
    t.same(filesOnDisk(node), [])
    t.equal(attachmentRows(node), 0)

    // An upload at full speed is not affected by the same settings.
    const uploaded = await fetch(url, { method: 'POST', headers, body: Buffer.alloc(3 * 1024 * 1024, 3) })
    t.equal(uploaded.status, 201)
    t.equal(attachmentRows(node), 1)
  },
)
