import t from 'tap'
import { connectNodes, liveEvents, startTestNode, startTestRelay, until } from './harness.ts'

t.test(
  'a message goes from Acme to Globex and back, each reaching Read, with every status seen live',
  async (t) => {
    const relay = await startTestRelay(t)
    const acme = await startTestNode(t, { company: 'Acme' })
    const globex = await startTestNode(t, { company: 'Globex' })
    const { channelAtA, channelAtB } = await connectNodes(acme, globex, relay)
    t.ok(channelAtA && channelAtB, 'accepting made a channel on both sides')
    const acmeEvents = await liveEvents(t, acme)

    const sent = await acme.admin.call('POST', `/api/v1/ochat/channels/${channelAtA}/messages`, {
      body: 'Hello **Globex**, the PO is attached.',
    })
    t.equal(sent.status, 201)
    t.equal(sent.body.status, 'pending', 'the message starts Pending, in the outbox')
    t.match(sent.body.html, /<strong>Globex<\/strong>/)

    const arrived = await until('the message at Globex', async () => {
      const page = await globex.admin.call('GET', `/api/v1/ochat/channels/${channelAtB}/messages`)
      return page.body.items?.[0]
    })
    t.equal(arrived.direction, 'in')
    t.match(arrived.html, /Hello <strong>Globex<\/strong>/)
    t.equal(arrived.author.company, 'Acme')
    const delivered = await until('Delivered at Acme', async () => {
      const page = await acme.admin.call('GET', `/api/v1/ochat/channels/${channelAtA}/messages`)
      return page.body.items[0].status === 'delivered' && page.body.items[0]
    })
    t.ok(delivered.times.sent && delivered.times.delivered, 'Sent and Delivered each have their time')

    const channels = await globex.admin.call('GET', '/api/v1/ochat/channels')
    t.equal(channels.body.items[0].unread, 1, 'Globex sees one unread message')
    const opened = await globex.admin.call('POST', `/api/v1/ochat/channels/${channelAtB}/read`)
    t.equal(opened.status, 200)
    const read = await until('Read at Acme', async () => {
      const page = await acme.admin.call('GET', `/api/v1/ochat/channels/${channelAtA}/messages`)
      return page.body.items[0].status === 'read' && page.body.items[0]
    })
    t.ok(read.times.read >= read.times.delivered, 'Read comes after Delivered')
    const statuses = () =>
      acmeEvents
        .filter((event) => event.type === 'ochat.message' && event.messageId === sent.body.id)
        .map((event) => event.status)
    await until('the Read event on the live socket', () => statuses().includes('read'))
    t.same(
      statuses(),
      ['pending', 'sent', 'delivered', 'read'],
      'the UI heard each status as it happened, in order',
    )
    const after = await globex.admin.call('GET', '/api/v1/ochat/channels')
    t.equal(after.body.items[0].unread, 0, 'opening the thread read it')

    const reply = await globex.admin.call('POST', `/api/v1/ochat/channels/${channelAtB}/messages`, {
      body: 'Thanks, received.',
    })
    t.equal(reply.status, 201)
    await until('the reply at Acme', async () => {
      const page = await acme.admin.call('GET', `/api/v1/ochat/channels/${channelAtA}/messages`)
      return page.body.items[0].direction === 'in' && page.body.items[0]
    })
    await acme.admin.call('POST', `/api/v1/ochat/channels/${channelAtA}/read`)
    await until('the reply Read at Globex', async () => {
      const page = await globex.admin.call('GET', `/api/v1/ochat/channels/${channelAtB}/messages`)
      return page.body.items[0].status === 'read'
    })
  },
)
