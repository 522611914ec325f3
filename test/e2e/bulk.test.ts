import t from 'tap'
import { buildPartner, buildUser } from '../../node/test/helpers.ts'
import { blobs } from '../../relay/src/db/schema.ts'
import { downloadContent, patterned, relayBlobFiles, sha256Hex, uploadFile } from './file-helpers.ts'
import { type E2eNode, register, startTestNode, startTestRelay, until } from './harness.ts'

const RECIPIENTS = 20
/** The two recipients that are down when the bulk is sent. */
const OFFLINE = [18, 19]

type Summary = {
  id: string
  recipients: number
  counts: Record<'pending' | 'sent' | 'delivered' | 'read' | 'retrying' | 'failed', number>
  items: {
    channelId: number
    messageId: number
    peer: { instanceId: string; name: string }
    contact: { id: number; name: string } | null
    status: string
    statusAt: number
    reason: string | null
    nextStep: string | null
  }[]
}

// 21 nodes and a relay in one process: registering each one seals its keys with scrypt, slow by design,
// so the file needs more than tap's default 120 s when the machine is busy.
t.setTimeout(400_000)
t.test('a bulk send to 20 connections, 2 of them offline, each with its own status', async (t) => {
  const relay = await startTestRelay(t)
  const acme = await startTestNode(t, { company: 'Acme' })
  // Recipients stay light: they read the relay's view of their connections only when asked.
  const partners: E2eNode[] = await Promise.all(
    Array.from({ length: RECIPIENTS }, (_, index) =>
      startTestNode(t, {
        company: `Partner ${String(index + 1).padStart(2, '0')}`,
        env: { NODE_OCHAT_SYNC_MS: '60000' },
      }),
    ),
  )
  const acmeId = (await register(acme, relay)).instanceId
  const partnerIds = await Promise.all(partners.map(async (node) => (await register(node, relay)).instanceId))

  // Acme asks each partner; each accepts, filing Acme under a contact; Acme reads the answers.
  const connectionIds = await Promise.all(
    partners.map(async (partner, index) => {
      const company = partner.node.config.company
      const contact = buildPartner(acme.node as never, { name: `${company} buyer`, companyName: company })
      const requested = await acme.admin.call('POST', '/api/v1/ochat/connections', {
        instanceId: partnerIds[index],
        message: `Hello ${company}, Acme here`,
        contactPartnerId: contact.id,
      })
      t.equal(requested.status, 201, `Acme asked ${company}`)
      await partner.admin.call('POST', '/api/v1/ochat/connections/sync')
      const acmeAtPartner = buildPartner(partner.node as never, { name: 'Acme sales', companyName: 'Acme' })
      const accepted = await partner.admin.call(
        'POST',
        `/api/v1/ochat/connections/${requested.body.id}/accept`,
        {
          contactPartnerId: acmeAtPartner.id,
        },
      )
      t.equal(accepted.status, 200, `${company} accepted`)
      return { id: requested.body.id as string, channelAtPartner: accepted.body.channelId as number }
    }),
  )
  const synced = await acme.admin.call('POST', '/api/v1/ochat/connections/sync')
  const channelIds = connectionIds.map(
    ({ id }) =>
      (synced.body.items as { id: string; channelId: number }[]).find((c) => c.id === id)
        ?.channelId as number,
  )
  t.ok(
    channelIds.every((id) => Number.isInteger(id)),
    'Acme has a channel with each of the 20',
  )
  t.ok(acmeId)

  const summaryOf = async (id: string): Promise<Summary> =>
    (await acme.admin.call('GET', `/api/v1/ochat/bulk/${id}`)).body

  await t.test('a channel the sender cannot write to fails the whole bulk, naming it', async (t) => {
    const refused = await acme.admin.call('POST', '/api/v1/ochat/bulk', {
      channelIds: [channelIds[0], 987_654],
      body: 'Price list',
    })
    t.equal(refused.status, 422)
    t.equal(refused.body.error.code, 'E_OCHAT_BULK_RECIPIENT')
    t.match(refused.body.error.reason, /channel 987654: not found, or you cannot write to it/)
    t.same(refused.body.error.details, [
      { path: 'channelIds.1', message: 'channel 987654: not found, or you cannot write to it' },
    ])
    const duplicate = await acme.admin.call('POST', '/api/v1/ochat/bulk', {
      channelIds: [channelIds[0], channelIds[0]],
      body: 'Price list',
    })
    t.equal(duplicate.status, 400)
    t.match(duplicate.body.error.reason, /each channel at most once/)
    const list = await acme.admin.call('GET', '/api/v1/ochat/bulk')
    t.same(list.body.items, [], 'nothing was sent')
    const firstChannel = await acme.admin.call('GET', `/api/v1/ochat/channels/${channelIds[0]}/messages`)
    t.same(firstChannel.body.items, [], 'not even to the channel that could take it')
  })

  const offline = OFFLINE.map((index) => partners[index] as E2eNode)
  await Promise.all(offline.map((node) => node.stop()))
  const blobsBefore = relayBlobFiles(relay.config.blobDir).length
  const priceList = patterned(150_000, 3)
  const file = await uploadFile(acme, { name: 'price-list.pdf', type: 'application/pdf', bytes: priceList })
  t.equal(file.status, 201)

  const sent = await acme.admin.call('POST', '/api/v1/ochat/bulk', {
    channelIds,
    body: 'Our **2027 price list** is attached.',
    attachmentIds: [file.body.id],
  })
  t.equal(sent.status, 201)
  const bulk = sent.body as Summary
  t.equal(bulk.recipients, RECIPIENTS)
  t.equal(bulk.items.length, RECIPIENTS, 'one message per recipient')
  t.same(bulk.counts, { pending: RECIPIENTS, sent: 0, delivered: 0, read: 0, retrying: 0, failed: 0 })
  t.same(
    bulk.items.map((item) => [item.peer.instanceId, item.contact?.name]),
    partners.map((partner, index) => [partnerIds[index], `${partner.node.config.company} buyer`]),
    'each recipient is shown with its instance and the contact it is filed under',
  )

  let last: Summary | undefined
  const spread = await until(
    '18 Delivered and 2 waiting',
    async () => {
      const summary = await summaryOf(bulk.id)
      last = summary
      const waiting = summary.counts.sent + summary.counts.retrying
      return summary.counts.delivered === RECIPIENTS - OFFLINE.length && waiting === OFFLINE.length && summary
    },
    60_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}; last counts: ${JSON.stringify(last?.counts)}`)
  })
  for (const [index, item] of spread.items.entries())
    t.equal(
      ['sent', 'retrying'].includes(item.status),
      OFFLINE.includes(index),
      `${item.peer.name}: ${item.status}`,
    )
  t.equal(spread.counts.pending + spread.counts.failed, 0)

  await t.test('the attachment was uploaded once for all 20', async (t) => {
    const rows = await relay.database.db.select().from(blobs)
    t.equal(rows.length, 1, 'one blob in the relay database')
    t.equal(relayBlobFiles(relay.config.blobDir).length, blobsBefore + 1, 'one blob file on the relay')
    const atFirst = partners[0] as E2eNode
    const message = await until('the file at Partner 01', async () => {
      const page = await atFirst.admin.call(
        'GET',
        `/api/v1/ochat/channels/${connectionIds[0]?.channelAtPartner}/messages`,
      )
      return page.body.items[0]?.files[0]?.state === 'ready' && page.body.items[0]
    })
    t.equal(message.bulkId, bulk.id, 'the recipient sees it came in a bulk send')
    const content = await downloadContent(atFirst, message.files[0].attachmentId)
    t.equal(content.sha256, sha256Hex(priceList), 'Partner 01 has the file, byte-identical')
  })

  await t.test('opened threads turn Read in the summary', async (t) => {
    for (const index of [0, 1, 2]) {
      const partner = partners[index] as E2eNode
      const opened = await partner.admin.call(
        'POST',
        `/api/v1/ochat/channels/${connectionIds[index]?.channelAtPartner}/read`,
      )
      t.equal(opened.status, 200)
    }
    const read = await until('3 Read', async () => {
      const summary = await summaryOf(bulk.id)
      return summary.counts.read === 3 && summary
    })
    t.same(
      { ...read.counts, waiting: read.counts.sent + read.counts.retrying, sent: 0, retrying: 0 },
      { pending: 0, sent: 0, delivered: 15, read: 3, retrying: 0, failed: 0, waiting: 2 },
      '15 Delivered, 3 Read, the 2 offline still Sent or Retrying',
    )
    t.same(
      read.items.filter((item) => item.status === 'read').map((item) => item.channelId),
      channelIds.slice(0, 3),
    )
  })

  await t.test('the two offline recipients come back and every one is Delivered or Read', async (t) => {
    const back = await Promise.all(offline.map((node) => node.restart()))
    const done = await until(
      'all 20 Delivered or Read',
      async () => {
        const summary = await summaryOf(bulk.id)
        return summary.counts.delivered + summary.counts.read === RECIPIENTS && summary
      },
      60_000,
    )
    t.same(done.counts, { pending: 0, sent: 0, delivered: 17, read: 3, retrying: 0, failed: 0 })
    for (const [position, node] of back.entries()) {
      const channelAtPartner = connectionIds[OFFLINE[position] as number]?.channelAtPartner
      const message = await until(`the file at ${node.node.config.company}`, async () => {
        const page = await node.admin.call('GET', `/api/v1/ochat/channels/${channelAtPartner}/messages`)
        return page.body.items[0]?.files[0]?.state === 'ready' && page.body.items[0]
      })
      const content = await downloadContent(node, message.files[0].attachmentId)
      t.equal(content.sha256, sha256Hex(priceList), `${node.node.config.company} has the file too`)
    }
  })

  await t.test('bulk sends are listed newest first, and only to their author or an admin', async (t) => {
    const list = await acme.admin.call('GET', '/api/v1/ochat/bulk')
    t.equal(list.status, 200)
    t.same(
      list.body.items.map((item: Summary) => item.id),
      [bulk.id],
    )
    const clerk = await buildUser(Object.assign(acme.node, { clock: acme.node.clock }) as never, {
      role: 'user',
      name: 'Acme Clerk',
    })
    t.equal((await clerk.call('GET', `/api/v1/ochat/bulk/${bulk.id}`)).status, 404, 'not yours: not found')
    t.same((await clerk.call('GET', '/api/v1/ochat/bulk')).body.items, [], 'nothing in their list')
    const otherAdmin = await buildUser(Object.assign(acme.node, { clock: acme.node.clock }) as never, {
      role: 'admin',
      name: 'Acme Director',
    })
    t.equal(
      (await otherAdmin.call('GET', `/api/v1/ochat/bulk/${bulk.id}`)).status,
      200,
      'admins see every bulk send',
    )
    t.equal((await acme.admin.call('GET', '/api/v1/ochat/bulk/not-a-bulk')).status, 404)
  })
})
