import { generateAttachmentKey, sha256OfBytes, toBase64Url } from '@ochat/shared-protocol'
import t from 'tap'
import { buildRecord } from './helpers.ts'
import {
  acceptedChannel,
  buildOchatNode,
  buildPeer,
  countRows,
  deliver,
  encryptAttachment,
  envelopeFrom,
  startFakeRelay,
} from './ochat-helpers.ts'

/**
 * What another company's node can send through a connection it legitimately has: names and files
 * chosen to break or fool ours. Regression tests, named after
 * what broke.
 */

t.test(
  'names a peer chose lose their DEL, C1 controls and direction overrides (sender, company, file)',
  async (t) => {
    const relay = await startFakeRelay(t)
    const { node, admin } = await buildOchatNode(t, relay)
    const peer = buildPeer('Globex')
    const { connectionId, channelId } = await acceptedChannel(node, admin, relay, peer)
    const plain = Buffer.from('%PDF-1.7 the quote')
    const key = generateAttachmentKey()
    const blobId = '019a9a2c-6c00-7000-8000-0000000000aa'
    const cipher = await encryptAttachment(plain, key)
    relay.handlers.set(`GET /v1/blobs/${blobId}`, () => ({ status: 200, body: cipher }))
    const answer = await deliver(node, relay, [
      envelopeFrom(peer, node, {
        connectionId,
        payload: {
          // The protocol's schema refuses C0 controls and slashes only.
          sender: { name: 'Gina \u202Egnp.exe', company: 'Globex\u0085' },
          attachments: [
            {
              blobId,
              name: 'quote\u007f\u202Efdp.exe',
              type: 'application/pdf',
              size: plain.byteLength,
              key: toBase64Url(key),
              sha256: sha256OfBytes(plain),
            },
          ],
        },
      }),
    ])
    t.same(answer.body.results[0].ok, true, 'the message is taken')
    let file: { state: string; name: string; attachmentId: number | null } | undefined
    for (let i = 0; i < 250 && file?.state !== 'ready'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      file = (await admin.call('GET', `/api/v1/ochat/channels/${channelId}/messages`)).body.items[0]?.files[0]
    }
    t.equal(file?.state, 'ready', 'the file is downloaded and checked')
    t.equal(file?.name, 'quotefdp.exe', 'no DEL, no direction override')
    const message = (await admin.call('GET', `/api/v1/ochat/channels/${channelId}/messages`)).body.items[0]
    t.equal(message.author.name, 'Gina gnp.exe', 'the sender name cannot reverse what follows it')
    t.equal(message.author.company, 'Globex', 'nor hold a C1 control')
    const content = await node.app.inject({
      method: 'GET',
      url: `/api/v1/attachments/${file?.attachmentId}/content`,
      headers: { authorization: `Bearer ${admin.secret}` },
    })
    t.equal(content.statusCode, 200, 'it downloads')
    t.equal(content.body, plain.toString())
    t.match(
      content.headers['content-disposition'],
      /^attachment; filename="quotefdp\.exe"/,
      'under that name',
    )
  },
)

t.test('a peer cannot file a message on one of our records it was never told about', async (t) => {
  const relay = await startFakeRelay(t)
  const { node, admin } = await buildOchatNode(t, relay)
  const peer = buildPeer('Globex')
  const { connectionId } = await acceptedChannel(node, admin, relay, peer)
  const secret = await buildRecord(admin, 'lead', { name: 'Takeover plan' })
  const answer = await deliver(node, relay, [
    envelopeFrom(peer, node, {
      connectionId,
      payload: { peerRecord: { model: 'lead', id: String(secret.id), name: 'anything' } },
    }),
  ])
  t.same(answer.body.results[0].ok, true, 'the message itself is taken')
  const onRecord = await admin.call('GET', `/api/v1/records/${secret.id}/ochat`)
  t.same(onRecord.body.items, [], 'but not filed on the record')
  t.equal(countRows(node, 'ochat_messages'), 1)
})

t.test(
  'filing a thread on a record takes the messages about that record of theirs, and no others',
  async (t) => {
    const relay = await startFakeRelay(t)
    const { node, admin } = await buildOchatNode(t, relay)
    const peer = buildPeer('Globex')
    const { connectionId, channelId } = await acceptedChannel(node, admin, relay, peer)
    const order7 = { model: 'sale_order', id: '7', name: 'SO7' }
    const answer = await deliver(node, relay, [
      envelopeFrom(peer, node, { connectionId, payload: { html: '<p>one</p>', record: order7 } }),
      envelopeFrom(peer, node, {
        connectionId,
        payload: { html: '<p>other</p>', record: { ...order7, id: '8', name: 'SO8' } },
      }),
      envelopeFrom(peer, node, { connectionId, payload: { html: '<p>two</p>', record: order7 } }),
    ])
    t.same(
      answer.body.results.map((result: { ok: boolean }) => result.ok),
      [true, true, true],
    )
    const lead = await buildRecord(admin, 'lead', { name: 'Globex renewal' })
    const items = (await admin.call('GET', `/api/v1/ochat/channels/${channelId}/messages`)).body.items
    const one = items.find((item: { html: string }) => item.html === '<p>one</p>')
    const linked = await admin.call('POST', `/api/v1/ochat/messages/${one.id}/link`, { recordId: lead.id })
    t.equal(linked.status, 200)
    t.same(
      linked.body.items.map((item: { html: string }) => item.html).sort(),
      ['<p>one</p>', '<p>two</p>'],
      'both messages about their order 7, not the one about order 8',
    )
    await deliver(node, relay, [
      envelopeFrom(peer, node, { connectionId, payload: { html: '<p>three</p>', record: order7 } }),
    ])
    const onLead = await admin.call('GET', `/api/v1/records/${lead.id}/ochat`)
    t.same(
      onLead.body.items.map((item: { html: string }) => item.html),
      ['<p>three</p>', '<p>two</p>', '<p>one</p>'],
      'and the next one about it lands there too',
    )
  },
)
