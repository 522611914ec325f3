// An incoming file whose connection to the relay drops mid-way is resumed from the byte reached
// (PROTOCOL.md §8.3, Range), not started over, and what is stored is still the exact file.

import { randomBytes } from 'node:crypto'
import {
  generateAttachmentKey,
  generateIdentityKeyPair,
  sha256OfBytes,
  toBase64Url,
} from '@ochat/shared-protocol'
import t from 'tap'
import { RelayHttpClient, RelayUnreachableError } from '../src/ochat/relay/http-client.ts'
import {
  acceptedChannel,
  buildOchatNode,
  buildPeer,
  deliver,
  encryptAttachment,
  envelopeFrom,
  startFakeRelay,
} from './ochat-helpers.ts'

t.test('a download cut mid-file goes on from the byte reached and stores the exact file', async (t) => {
  const relay = await startFakeRelay(t)
  const { node, admin } = await buildOchatNode(t, relay)
  const peer = buildPeer('Globex')
  const { connectionId, channelId } = await acceptedChannel(node, admin, relay, peer)
  const plain = randomBytes(3 * 1024 * 1024)
  const key = generateAttachmentKey()
  const blobId = '019a9a2c-6c00-7000-8000-0000000000bb'
  const cipher = await encryptAttachment(plain, key)
  const cut = Math.floor(cipher.byteLength * 0.6)
  const asked: (string | undefined)[] = []
  relay.handlers.set(`GET /v1/blobs/${blobId}`, (request) => {
    const range = request.headers.range
    asked.push(range)
    // The first answer loses its connection after 60 % of the bytes.
    if (asked.length === 1) return { status: 200, body: cipher, cutAfter: cut }
    const start = Number(/^bytes=(\d+)-$/.exec(range ?? '')?.[1] ?? 0)
    return {
      status: 206,
      body: cipher.subarray(start),
      headers: { 'content-range': `bytes ${start}-${cipher.byteLength - 1}/${cipher.byteLength}` },
    }
  })
  await deliver(node, relay, [
    envelopeFrom(peer, node, {
      connectionId,
      payload: {
        attachments: [
          {
            blobId,
            name: 'catalogue.bin',
            type: 'application/octet-stream',
            size: plain.byteLength,
            key: toBase64Url(key),
            sha256: sha256OfBytes(plain),
          },
        ],
      },
    }),
  ])
  let file: { state: string; attachmentId: number | null } | undefined
  for (let i = 0; i < 500 && file?.state !== 'ready'; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    file = (await admin.call('GET', `/api/v1/ochat/channels/${channelId}/messages`)).body.items[0]?.files[0]
  }
  t.equal(file?.state, 'ready', 'the file is downloaded, decrypted and checked')
  t.equal(asked.length, 2, 'two requests: the one cut, and one for the rest')
  t.equal(asked[0], undefined, 'the first asks for the whole file')
  const resumedAt = Number(/^bytes=(\d+)-$/.exec(asked[1] ?? '')?.[1])
  t.ok(resumedAt > 0 && resumedAt <= cut, `the second goes on from the byte reached (${resumedAt} of ${cut})`)
  const content = await node.app.inject({
    method: 'GET',
    url: `/api/v1/attachments/${file?.attachmentId}/content`,
    headers: { authorization: `Bearer ${admin.secret}` },
  })
  t.equal(content.statusCode, 200)
  t.ok(content.rawPayload.equals(plain), 'the stored file is the exact one sent')
})

t.test('a relay that answers a resume with other bytes than asked for is not trusted with it', async (t) => {
  const relay = await startFakeRelay(t)
  const signer = generateIdentityKeyPair()
  const client = new RelayHttpClient(relay.url, {
    relayId: relay.relayId,
    instanceId: 'oc_test',
    identitySecretKey: signer.secretKey,
    now: () => Date.now(),
  })
  const blob = randomBytes(1000)
  const blobId = '019a9a2c-6c00-7000-8000-0000000000cc'
  relay.handlers.set(`GET /v1/blobs/${blobId}`, () => ({ status: 200, body: blob }))
  await t.rejects(client.downloadBlob(blobId, 400), RelayUnreachableError, 'the whole file again: refused')
  relay.handlers.set(`GET /v1/blobs/${blobId}`, () => ({
    status: 206,
    body: blob.subarray(300),
    headers: { 'content-range': `bytes 300-999/1000` },
  }))
  await t.rejects(client.downloadBlob(blobId, 400), RelayUnreachableError, 'another range: refused')
  relay.handlers.set(`GET /v1/blobs/${blobId}`, () => ({
    status: 206,
    body: blob.subarray(400),
    headers: { 'content-range': `bytes 400-999/1000` },
  }))
  const rest = await client.downloadBlob(blobId, 400)
  const chunks: Buffer[] = []
  for await (const chunk of rest) chunks.push(chunk as Buffer)
  t.ok(Buffer.concat(chunks).equals(blob.subarray(400)), 'the range asked for is taken')
})
