import t from 'tap'
import { buildNode, buildPartner, buildRecord, buildUser } from './helpers.ts'

/** "Add followers" with a message: the one invited receives it, the other followers do not. */

t.test(
  'a colleague invited with a message finds it in their inbox; other followers get nothing',
  async (t) => {
    const node = await buildNode(t)
    const sarah = await buildUser(node, { name: 'Sarah Sales' })
    const bob = await buildUser(node, { name: 'Bob Builder' })
    const carl = await buildUser(node, { name: 'Carl Coworker' })
    const lead = await buildRecord(sarah, 'lead', { name: 'Desks' })
    t.equal(
      (await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: carl.partnerId }))
        .status,
      201,
    )

    const added = await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, {
      partnerId: bob.partnerId,
      message: 'Could you **check** the quote?',
    })
    t.equal(added.status, 201)
    t.ok(
      added.body.items.some((f: { partnerId: number }) => f.partnerId === bob.partnerId),
      'Bob follows',
    )

    const inbox = (await bob.call('GET', '/api/v1/inbox')).body.items
    t.equal(inbox.length, 1)
    t.equal(inbox[0].message.body, '<p>Could you <strong>check</strong> the quote?</p>')
    t.equal(inbox[0].message.author.name, 'Sarah Sales')
    t.same((await carl.call('GET', '/api/v1/inbox')).body.items, [], 'the other follower is not told')
    const chatter = (await sarah.call('GET', `/api/v1/records/${lead.id}/messages?kind=note`)).body.items
    t.equal(chatter.length, 1, 'the invitation stays in the chatter as an internal note')
  },
)

t.test('a contact invited with a message is emailed it; without a message nothing is sent', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const client = buildPartner(node, { name: 'Clara Client', email: 'clara@client.test' })
  const other = buildPartner(node, { name: 'Otto Other', email: 'otto@client.test' })
  const lead = await buildRecord(sarah, 'lead', { name: 'Chairs' })

  await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: other.id })
  await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, {
    partnerId: client.id,
    message: 'Welcome aboard',
  })
  const emails = (await sarah.call('GET', `/api/v1/records/${lead.id}/emails`)).body.items
  t.same(
    emails.map((e: { address: string }) => e.address),
    ['clara@client.test'],
    'only the invited contact gets an email',
  )
})

t.test('an empty or oversized invitation message is refused', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node)
  const bob = await buildUser(node)
  const lead = await buildRecord(sarah)
  const blank = await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, {
    partnerId: bob.partnerId,
    message: '   ',
  })
  t.equal(blank.status, 201, 'a blank message is no message')
  t.same((await bob.call('GET', '/api/v1/inbox')).body.items, [])
  const huge = await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, {
    partnerId: bob.partnerId,
    message: 'x'.repeat(10_001),
  })
  t.equal(huge.status, 400)
  t.equal(huge.body.error.code, 'E_INVALID_BODY')
})
