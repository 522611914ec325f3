import { readFileSync, writeFileSync } from 'node:fs'
import t from 'tap'
import { buildPartner } from '../../node/test/helpers.ts'
import {
  downloadContent,
  patterned,
  relayBlobFiles,
  relayLink,
  sha256Hex,
  uploadFile,
} from './file-helpers.ts'
import { connectNodes, liveEvents, startTestNode, startTestRelay, until } from './harness.ts'

/** Limits as the seed states them (100 MB per file, 5 per message). */
const HUNDRED_MB = 100 * 1000 * 1000

// Five nodes over the file, one 100 MB upload: more than tap's default 120 s when the machine is busy.
t.setTimeout(300_000)
t.test(
  'attachments: three files arrive byte-identical, limits refuse before upload, a tampered blob fails',
  async (t) => {
    const relay = await startTestRelay(t)
    // Acme's chatter takes files up to 150 MB; O'Chat must still refuse one over 100 MB.
    const acme = await startTestNode(t, { company: 'Acme', env: { NODE_ATTACHMENT_MAX_BYTES: '150000000' } })
    let globex = await startTestNode(t, { company: 'Globex' })
    const { channelAtA, channelAtB } = await connectNodes(acme, globex, relay)

    const messagesAt = async (node: typeof acme, channelId: number) =>
      (await node.admin.call('GET', `/api/v1/ochat/channels/${channelId}/messages`)).body.items

    await t.test('a 3-file message arrives with every file downloadable and identical', async (t) => {
      const acmeEvents = await liveEvents(t, acme)
      const globexEvents = await liveEvents(t, globex)
      const originals = [
        { name: 'empty.txt', type: 'text/plain', bytes: Buffer.alloc(0) },
        {
          name: 'notes.txt',
          type: 'text/plain',
          bytes: Buffer.from('Delivery notes: dock 4, before noon.\n'.repeat(40)),
        },
        // 300 KiB and a bit: five full 64 KiB chunks and a short last one.
        { name: 'drawing.pdf', type: 'application/pdf', bytes: patterned(5 * 65_536 + 4_321, 1) },
      ]
      const uploaded = []
      for (const file of originals) {
        const answer = await uploadFile(acme, file)
        t.equal(answer.status, 201, `${file.name} uploaded to Acme`)
        uploaded.push(answer.body.id as number)
      }
      const sent = await acme.admin.call('POST', `/api/v1/ochat/channels/${channelAtA}/messages`, {
        body: 'The **drawings** and notes for the order.',
        attachmentIds: uploaded,
      })
      t.equal(sent.status, 201)
      t.equal(sent.body.status, 'pending', 'the message waits in the outbox while its files upload')
      t.same(
        sent.body.files.map((file: { name: string; size: number }) => [file.name, file.size]),
        originals.map((file) => [file.name, file.bytes.byteLength]),
        'the message lists its three files, in order',
      )

      const arrived = await until(
        'the message and its three files at Globex',
        async () => {
          const item = (await messagesAt(globex, channelAtB)).find(
            (message: { envelopeId: string }) => message.envelopeId === sent.body.envelopeId,
          )
          return item?.files.every((file: { state: string }) => file.state === 'ready') && item
        },
        20_000,
      )
      t.match(arrived.html, /<strong>drawings<\/strong>/)
      for (const [index, original] of originals.entries()) {
        const file = arrived.files[index]
        t.equal(file.name, original.name)
        t.equal(file.mimeType, original.type)
        t.equal(file.size, original.bytes.byteLength)
        const content = await downloadContent(globex, file.attachmentId)
        t.equal(content.status, 200, `${original.name} downloads at Globex`)
        t.equal(content.bytes.byteLength, original.bytes.byteLength)
        t.equal(content.sha256, sha256Hex(original.bytes), `${original.name} is byte-identical`)
      }

      await until('Delivered at Acme', async () => {
        const item = (await messagesAt(acme, channelAtA)).find(
          (message: { id: number }) => message.id === sent.body.id,
        )
        return item?.status === 'delivered'
      })
      // Upload progress at Acme: each file starts at 0 and ends ready with all its bytes; the message
      // left the outbox (Sent) only after its last file was uploaded.
      const acmeFileEvents = acmeEvents.filter(
        (event) => event.type === 'ochat.file' && event.messageId === sent.body.id,
      )
      for (const [index, file] of sent.body.files.entries()) {
        const mine = acmeFileEvents.filter((event) => event.fileId === file.id)
        t.same(mine[0], { ...mine[0], state: 'pending', done: 0, size: originals[index]?.bytes.byteLength })
        t.same(mine.at(-1), { ...mine.at(-1), state: 'ready', done: originals[index]?.bytes.byteLength })
      }
      const order = acmeEvents
        .filter((event) => event.messageId === sent.body.id)
        .map((event) => (event.type === 'ochat.file' ? `file:${event.state}` : `message:${event.status}`))
      t.ok(
        order.lastIndexOf('file:ready') < order.indexOf('message:sent'),
        'every file was ready before the message was Sent',
      )
      // Download progress at Globex, for the message's files.
      const globexFileEvents = globexEvents.filter(
        (event) => event.type === 'ochat.file' && event.messageId === arrived.id,
      )
      for (const file of arrived.files) {
        const mine = globexFileEvents.filter((event) => event.fileId === file.id)
        t.equal(mine[0]?.state, 'pending', `${file.name}: download start seen live`)
        t.same(mine.at(-1), { ...mine.at(-1), state: 'ready', done: file.size, size: file.size })
      }
    })

    await t.test('six files, or a file over 100 MB, are refused before anything is sent', async (t) => {
      const before = (await messagesAt(acme, channelAtA)).length
      const blobsBefore = relayBlobFiles(relay.config.blobDir).length

      const six = []
      for (let index = 0; index < 6; index++)
        six.push(
          (await uploadFile(acme, { name: `part-${index}.txt`, bytes: Buffer.from(`part ${index}`) })).body
            .id,
        )
      const tooMany = await acme.admin.call('POST', `/api/v1/ochat/channels/${channelAtA}/messages`, {
        body: 'Six parts',
        attachmentIds: six,
      })
      t.equal(tooMany.status, 413)
      t.equal(tooMany.body.error.code, 'E_OCHAT_ATTACHMENT_LIMIT')
      t.match(tooMany.body.error.message, /at most 5 files per message/)
      t.match(tooMany.body.error.reason, /6 files: at most 5 per message/)

      // The node's own upload limit (100 MB by default, here at Globex) refuses from the headers alone.
      const refusedUpload = await uploadFile(globex, {
        name: 'huge.iso',
        size: HUNDRED_MB + 1,
        headersOnly: true,
      })
      t.equal(refusedUpload.status, 413)
      t.equal(refusedUpload.body.error?.code, 'E_ATTACHMENT_TOO_LARGE')
      t.match(refusedUpload.body.error?.reason, /100000001 bytes; the node accepts at most 100000000/)

      // Acme's chatter took a 100 MB + 1 byte file; O'Chat refuses to send it.
      const big = await uploadFile(acme, { name: 'scan.tiff', size: HUNDRED_MB + 1 })
      t.equal(big.status, 201, "the chatter upload itself is within Acme's 150 MB limit")
      const tooBig = await acme.admin.call('POST', `/api/v1/ochat/channels/${channelAtA}/messages`, {
        body: 'The full scan',
        attachmentIds: [big.body.id],
      })
      t.equal(tooBig.status, 413)
      t.equal(tooBig.body.error.code, 'E_OCHAT_ATTACHMENT_LIMIT')
      t.match(tooBig.body.error.reason, /"scan\.tiff" has 100000001 bytes: at most 100 MB per file/)

      t.equal((await messagesAt(acme, channelAtA)).length, before, 'no message was written')
      t.equal(relayBlobFiles(relay.config.blobDir).length, blobsBefore, 'nothing was uploaded to the relay')
    })

    await t.test('a blob tampered on the relay ends with the file failed and a reason', async (t) => {
      await globex.stop()
      const blobsBefore = new Set(relayBlobFiles(relay.config.blobDir))
      const original = patterned(3 * 65_536, 2)
      const upload = await uploadFile(acme, {
        name: 'contract.pdf',
        type: 'application/pdf',
        bytes: original,
      })
      const sent = await acme.admin.call('POST', `/api/v1/ochat/channels/${channelAtA}/messages`, {
        body: 'Signed contract',
        attachmentIds: [upload.body.id],
      })
      t.equal(sent.status, 201)
      // Sent is when the relay stored the envelope; with Globex stopped, the relay's first webhook attempt
      // may turn it to Retrying within milliseconds, so the time it was Sent is what is awaited.
      await until('Sent at Acme (file uploaded, envelope stored by the relay)', async () => {
        const item = (await messagesAt(acme, channelAtA)).find(
          (message: { id: number }) => message.id === sent.body.id,
        )
        return typeof item?.times?.sent === 'number'
      })
      const added = relayBlobFiles(relay.config.blobDir).filter((path) => !blobsBefore.has(path))
      t.equal(added.length, 1, 'the file is one blob on the relay')
      const path = added[0] as string
      const ciphertext = readFileSync(path)
      t.equal(
        ciphertext.byteLength,
        8 + original.byteLength + 3 * 16,
        'the relay holds ciphertext of the announced size',
      )
      t.notOk(ciphertext.includes(original.subarray(0, 64)), 'the relay holds no plaintext')
      // One bit flipped inside the second chunk.
      const at = 8 + 65_536 + 16 + 1_000
      ciphertext[at] = (ciphertext[at] ?? 0) ^ 0x01
      writeFileSync(path, ciphertext)

      globex = await globex.restart()
      const failed = await until(
        'the file failed at Globex',
        async () => {
          const item = (await messagesAt(globex, channelAtB)).find(
            (message: { envelopeId: string }) => message.envelopeId === sent.body.envelopeId,
          )
          return item?.files[0]?.state === 'failed' && item
        },
        20_000,
      )
      t.equal(failed.html, '<p>Signed contract</p>', 'the message itself arrived')
      t.match(failed.files[0].error, /^invalid: chunk 1 fails authentication: it was changed/)
      t.equal(failed.files[0].attachmentId, null, 'no attachment was stored for it')
      t.equal((await globex.admin.call('GET', '/healthz')).status, 200, 'the node is still up')
      await until('Delivered at Acme', async () => {
        const item = (await messagesAt(acme, channelAtA)).find(
          (message: { id: number }) => message.id === sent.body.id,
        )
        return item?.status === 'delivered'
      })
    })

    await t.test(
      'an upload that cannot reach the relay is Retrying, and resumes after a restart',
      async (t) => {
        const link = await relayLink(relay.baseUrl)
        t.teardown(link.down)
        let initech = await startTestNode(t, { company: 'Initech' })
        t.equal(
          (await initech.admin.call('POST', '/api/v1/ochat/registration', { relayUrl: link.url })).status,
          201,
          'Initech reaches the relay through a link that can be cut',
        )
        const globexId = (await globex.admin.call('GET', '/api/v1/ochat/registration')).body.instanceId
        const contact = buildPartner(initech.node as never, { name: 'Globex buyer', companyName: 'Globex' })
        const requested = await initech.admin.call('POST', '/api/v1/ochat/connections', {
          instanceId: globexId,
          message: 'Hello from Initech',
          contactPartnerId: contact.id,
        })
        await globex.admin.call('POST', '/api/v1/ochat/connections/sync')
        const initechAtGlobex = buildPartner(globex.node as never, {
          name: 'Initech sales',
          companyName: 'Initech',
        })
        const accepted = await globex.admin.call(
          'POST',
          `/api/v1/ochat/connections/${requested.body.id}/accept`,
          {
            contactPartnerId: initechAtGlobex.id,
          },
        )
        const synced = await initech.admin.call('POST', '/api/v1/ochat/connections/sync')
        const channel = synced.body.items.find((c: { id: string }) => c.id === requested.body.id).channelId

        await link.down()
        const original = patterned(200_000, 4)
        const upload = await uploadFile(initech, {
          name: 'invoice.pdf',
          type: 'application/pdf',
          bytes: original,
        })
        const sent = await initech.admin.call('POST', `/api/v1/ochat/channels/${channel}/messages`, {
          body: 'Invoice attached',
          attachmentIds: [upload.body.id],
        })
        t.equal(sent.status, 201)
        const retrying = await until('Retrying at Initech', async () => {
          const item = (await messagesAt(initech, channel)).find(
            (message: { id: number }) => message.id === sent.body.id,
          )
          return item?.status === 'retrying' && item
        })
        t.match(
          retrying.reason,
          /^error: the file "invoice\.pdf" could not be uploaded yet: cannot reach the relay/,
        )
        t.match(retrying.nextStep, /internet connection and the relay URL/)
        t.ok(retrying.nextAttemptAt > retrying.statusAt, 'the next attempt is scheduled')
        t.equal(retrying.files[0].state, 'pending')

        // The node stops while the file waits; it picks the upload up again when it starts.
        await initech.stop()
        await link.up()
        initech = await initech.restart()
        const arrived = await until(
          'the invoice at Globex',
          async () => {
            const item = (await messagesAt(globex, accepted.body.channelId)).find(
              (message: { envelopeId: string }) => message.envelopeId === sent.body.envelopeId,
            )
            return item?.files[0]?.state === 'ready' && item
          },
          20_000,
        )
        const content = await downloadContent(globex, arrived.files[0].attachmentId)
        t.equal(content.sha256, sha256Hex(original), 'the invoice arrived byte-identical after the restart')
        await until('Delivered at Initech', async () => {
          const item = (await messagesAt(initech, channel)).find(
            (message: { id: number }) => message.id === sent.body.id,
          )
          return item?.status === 'delivered'
        })
      },
    )
  },
)
