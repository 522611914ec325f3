// PROTOCOL.md §8, attachments: upload once, download only as a recipient, resume with Range.
import { createHash } from 'node:crypto'
import { existsSync, rmSync } from 'node:fs'
import type { Socket } from 'node:net'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { pipeline } from 'node:stream/promises'
import {
  AttachmentDecryptor,
  AttachmentEncryptor,
  generateAttachmentKey,
  signRequest,
} from '@ochat/shared-protocol'
import type { ManualClock } from '@ochat/shared-protocol/server'
import t from 'tap'
import { request } from 'undici'
import { partialUpload, trickle } from '../../test/support/raw-http.ts'
import {
  buildNode,
  buildRelay,
  connect,
  eachDriver,
  register,
  sealFor,
  signed,
  type TestNode,
  type TestRelay,
} from './helpers.ts'
import { eventually } from './webhook-node.ts'

async function encrypt(plaintext: Buffer, key: Uint8Array) {
  const encryptor = new AttachmentEncryptor({ key })
  const [ciphertext] = await Promise.all([buffer(encryptor), pipeline(Readable.from([plaintext]), encryptor)])
  return { ciphertext, digest: encryptor.digest() }
}

async function upload(
  relay: TestRelay,
  node: TestNode,
  ciphertext: Buffer,
  declare: { size?: number; sha256?: string; contentLength?: number } = {},
) {
  const sha256 = declare.sha256 ?? createHash('sha256').update(ciphertext).digest('base64url')
  const created = await signed(relay, node, 'POST', '/v1/blobs', {
    size: declare.size ?? ciphertext.byteLength,
    sha256,
  })
  if (created.statusCode !== 201) return { created, put: undefined }
  const { uploadUrl, uploadToken } = created.json()
  const put = await request(`${relay.baseUrl}${uploadUrl}`, {
    method: 'PUT',
    headers: {
      authorization: `Bearer ${uploadToken}`,
      'content-type': 'application/octet-stream',
      'content-length': String(declare.contentLength ?? ciphertext.byteLength),
    },
    body: ciphertext.subarray(0, declare.contentLength ?? ciphertext.byteLength),
  })
  return {
    created,
    put: { statusCode: put.statusCode, json: (await put.body.json()) as Record<string, unknown> },
  }
}

/** Encrypts and uploads `plaintext` as `uploader`: the attachment entry a message lists for it. */
async function uploadedAttachment(relay: TestRelay, uploader: TestNode, plaintext: Buffer, name: string) {
  const key = generateAttachmentKey()
  const { ciphertext, digest } = await encrypt(plaintext, key)
  const { put } = await upload(relay, uploader, ciphertext)
  return {
    blobId: String(put?.json.blobId),
    name,
    type: 'application/pdf',
    size: digest.size,
    key: Buffer.from(key).toString('base64url'),
    sha256: digest.sha256,
  }
}

async function download(relay: TestRelay, node: TestNode, blobId: string, range?: string) {
  const path = `/v1/blobs/${blobId}`
  const headers = signRequest({
    method: 'GET',
    path,
    audience: relay.relayKeys.relayId,
    instanceId: node.instanceId,
    identitySecretKey: node.identity.secretKey,
    timestamp: Math.floor(relay.clock.now() / 1000),
  })
  const response = await request(`${relay.baseUrl}${path}`, {
    headers: { ...headers, ...(range ? { range } : {}) },
  })
  return {
    statusCode: response.statusCode,
    headers: response.headers,
    body: Buffer.from(await response.body.arrayBuffer()),
  }
}

eachDriver(
  t,
  'a 3-file message: uploaded once, fetched and decrypted by the recipient with integrity checked',
  async (t, driver) => {
    // The relay's own purge schedule, shortened: nothing here runs the jobs by hand.
    const relay = await buildRelay(t, driver, { listen: true, env: { RELAY_PURGE_INTERVAL_MS: '50' } })
    const acme = buildNode('Acme')
    const globex = buildNode('Globex')
    const initech = buildNode('Initech')
    await connect(relay, acme, globex)
    await register(relay, initech)

    const files = await Promise.all(
      [150_000, 1, 70_000].map(async (size, index) => {
        const plaintext = Buffer.alloc(size, index + 1)
        const key = generateAttachmentKey()
        const { ciphertext, digest } = await encrypt(plaintext, key)
        const { put } = await upload(relay, acme, ciphertext)
        t.equal(put?.statusCode, 200, `file ${index} uploaded`)
        return { plaintext, key, digest, blobId: String(put?.json.blobId) }
      }),
    )
    const envelope = sealFor(acme, globex, {
      attachments: files.map((file, index) => ({
        blobId: file.blobId,
        name: `file-${index}.bin`,
        type: 'application/octet-stream',
        size: file.digest.size,
        key: Buffer.from(file.key).toString('base64url'),
        sha256: file.digest.sha256,
      })),
    })
    t.match(
      (await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes: [envelope] })).json().results[0],
      { ok: true },
    )

    for (const file of files) {
      const whole = await download(relay, globex, file.blobId)
      t.equal(whole.statusCode, 200)
      const decryptor = new AttachmentDecryptor({
        key: file.key,
        expectedSize: file.digest.size,
        expectedSha256: file.digest.sha256,
      })
      const [plaintext] = await Promise.all([
        buffer(decryptor),
        pipeline(Readable.from([whole.body]), decryptor),
      ])
      t.ok(plaintext.equals(file.plaintext), 'decrypts to the original, hash checked')
      t.equal(
        (await download(relay, initech, file.blobId)).statusCode,
        404,
        'a non-recipient cannot fetch it',
      )
    }

    const [big] = files
    const part = await download(relay, globex, String(big?.blobId), 'bytes=100000-')
    t.equal(part.statusCode, 206, 'resumable with Range')
    t.match(part.headers['content-range'], /^bytes 100000-\d+\/\d+$/)
    const first = await download(relay, globex, String(big?.blobId), 'bytes=0-99999')
    t.equal(
      Buffer.concat([first.body, part.body]).byteLength,
      Number(String(part.headers['content-range']).split('/')[1]),
    )
    t.equal((await download(relay, globex, String(big?.blobId), 'bytes=99999999-')).statusCode, 416)

    // Every recipient fetched everything: an hour later the ciphertext is gone, from the disk too.
    const stored = join(relay.config.blobDir, String(big?.blobId).slice(0, 2), String(big?.blobId))
    t.ok(existsSync(stored), 'the ciphertext is on the relay’s disk while it may still be fetched')
    ;(relay.clock as ManualClock).advance(3_600_001)
    await eventually(() => !existsSync(stored))
    t.equal(
      (await download(relay, globex, String(big?.blobId))).statusCode,
      404,
      'deleted once all recipients fetched it',
    )
  },
)

eachDriver(
  t,
  'uploads that break their declaration are refused and leave nothing behind',
  async (t, driver) => {
    const relay = await buildRelay(t, driver, { listen: true })
    const acme = buildNode('Acme')
    await register(relay, acme)
    const { ciphertext } = await encrypt(Buffer.alloc(10_000, 7), generateAttachmentKey())

    const tooBig = await signed(relay, acme, 'POST', '/v1/blobs', { size: 100_100_000 })
    t.equal(tooBig.statusCode, 400)
    t.match(tooBig.json(), { error: { code: 'E_INVALID_BODY', reason: /100,000,000 bytes \(100 MB\)/ } })

    const short = await upload(relay, acme, ciphertext, { contentLength: ciphertext.byteLength - 10 })
    t.match(short.put, {
      statusCode: 400,
      json: { error: { code: 'E_BLOB_LENGTH', reason: /Content-Length must be the declared/ } },
    })

    const wrongHash = await upload(relay, acme, ciphertext, { sha256: 'A'.repeat(43) })
    t.match(wrongHash.put, { statusCode: 400, json: { error: { code: 'E_BLOB_LENGTH', reason: /SHA-256/ } } })
    t.equal(
      (await download(relay, acme, String(wrongHash.created.json().blobId))).statusCode,
      404,
      'nothing stored',
    )

    const { put } = await upload(relay, acme, ciphertext)
    const token = 'not-the-token'
    const replay = await request(`${relay.baseUrl}/v1/blobs/${String(put?.json.blobId)}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
      body: ciphertext,
    })
    t.equal(replay.statusCode, 404, 'a completed blob cannot be overwritten')
    await replay.body.dump()
  },
)

eachDriver(
  t,
  'a bulk send lists one upload for every recipient; an envelope cannot list someone else’s blob',
  async (t, driver) => {
    const relay = await buildRelay(t, driver, { listen: true })
    const acme = buildNode('Acme')
    const peers = [buildNode('Globex'), buildNode('Initech'), buildNode('Umbrella')]
    for (const peer of peers) await connect(relay, acme, peer)
    const attachment = await uploadedAttachment(relay, acme, Buffer.alloc(5000, 3), 'catalog.pdf')
    const { blobId } = attachment
    const results = (
      await signed(relay, acme, 'POST', '/v1/envelopes', {
        envelopes: peers.map((peer) => sealFor(acme, peer, { attachments: [attachment] })),
      })
    ).json().results
    t.ok(results.every((result: { ok: boolean }) => result.ok))
    for (const peer of peers)
      t.equal((await download(relay, peer, blobId)).statusCode, 200, `${peer.name} may fetch`)
    const [globex] = peers
    if (!globex) return
    const stolen = await signed(relay, globex, 'POST', '/v1/envelopes', {
      envelopes: [sealFor(globex, acme, { attachments: [attachment] })],
    })
    t.match(stolen.json().results[0], { ok: false, code: 'E_BLOB_UNKNOWN' })
  },
)

eachDriver(
  t,
  'a download in the moment the purge has taken the file is a clear 404, not a 500',
  async (t, driver) => {
    // The purge deletes a blob's file, then its rows: a download between the two finds the rows.
    const relay = await buildRelay(t, driver, { listen: true })
    const acme = buildNode('Acme')
    const globex = buildNode('Globex')
    await connect(relay, acme, globex)
    const attachment = await uploadedAttachment(relay, acme, Buffer.alloc(5000, 9), 'offer.pdf')
    const { blobId } = attachment
    await signed(relay, acme, 'POST', '/v1/envelopes', {
      envelopes: [sealFor(acme, globex, { attachments: [attachment] })],
    })
    rmSync(join(relay.config.blobDir, blobId.slice(0, 2), blobId))
    const response = await download(relay, globex, blobId)
    t.equal(response.statusCode, 404)
    t.match(JSON.parse(String(response.body)), { error: { code: 'E_NOT_FOUND' } }, 'with the stable code')
  },
)

eachDriver(
  t,
  'an upload that stalls or trickles is cut off with 408 and leaves nothing behind',
  async (t, driver) => {
    const relay = await buildRelay(t, driver, {
      listen: true,
      env: { RELAY_UPLOAD_IDLE_MS: '300', RELAY_UPLOAD_MIN_BYTES_PER_S: String(64 * 1024) },
    })
    const acme = buildNode('Acme')
    await register(relay, acme)
    const size = 40 * 1024 * 1024
    for (const [kind, code] of [
      ['stalled', 'E_UPLOAD_STALLED'],
      ['trickling', 'E_UPLOAD_TOO_SLOW'],
    ] as const) {
      const created = await signed(relay, acme, 'POST', '/v1/blobs', { size })
      const { blobId, uploadUrl, uploadToken } = created.json()
      const answer = await partialUpload({
        method: 'PUT',
        url: new URL(uploadUrl, relay.baseUrl),
        headers: { authorization: `Bearer ${uploadToken}`, 'content-type': 'application/octet-stream' },
        declaredBytes: size,
        first: Buffer.alloc(64 * 1024, 1),
        // 1 KiB every 50 ms is 20 KiB/s, under the 64 KiB/s floor configured here.
        ...(kind === 'trickling' ? { trickle: (socket: Socket) => trickle(socket, 1024, 50) } : {}),
      })
      t.match(answer.head, /^HTTP\/1\.1 408 /, `a ${kind} upload is answered 408`)
      t.match(answer.head, /connection: close/i, 'and the relay closes the connection')
      t.equal(JSON.parse(answer.body).error.code, code)
      const path = join(relay.config.blobDir, blobId.slice(0, 2), blobId)
      t.notOk(existsSync(`${path}.part`) || existsSync(path), 'no partial file is left')
    }
  },
)
