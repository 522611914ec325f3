import t from 'tap'
import { buildNode, buildPartner, buildRecord, buildUser } from './helpers.ts'

t.test(
  'posting a message notifies followers by inbox and email, and a log note stays internal',
  async (t) => {
    const node = await buildNode(t)
    const sarah = await buildUser(node, { name: 'Sarah Sales' })
    const john = await buildUser(node, { name: 'John Ops', notification: 'email' })
    const customer = buildPartner(node, { name: 'Carla Customer', email: 'carla@client.test' })
    const lead = await buildRecord(sarah, 'lead', { partner_id: customer.id })
    for (const partnerId of [john.partnerId, customer.id]) {
      const followed = await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId })
      t.equal(followed.status, 201)
    }
    const followers = await sarah.call('GET', `/api/v1/records/${lead.id}/followers`)
    t.same(
      followers.body.items.map((f: { name: string; subscription: string }) => [f.name, f.subscription]),
      [
        ['Sarah Sales', 'all'],
        ['John Ops', 'all'],
        ['Carla Customer', 'comments'],
      ],
    )

    const sent = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
      kind: 'message',
      body: 'Thank you for your **order**! <script>alert(1)</script>',
    })
    t.equal(sent.status, 201)
    t.equal(
      sent.body.body,
      '<p>Thank you for your <strong>order</strong>! &lt;script&gt;alert(1)&lt;/script&gt;</p>',
    )

    const note = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
      kind: 'note',
      body: 'Customer called, needs express delivery',
    })
    t.equal(note.status, 201)
    t.equal(note.body.internal, true)

    const mail = node.database.sqlite
      .prepare('select m.email_to, m.subject, m.body from email_notifications m order by m.id')
      .all() as { email_to: string; subject: string; body: string }[]
    t.same(
      mail.map((row) => row.email_to),
      [`${john.login}@acme.test`, 'carla@client.test'],
      'John and Carla get the message by email; a note is never emailed, not even to John',
    )
    const toldOfNote = node.database.sqlite
      .prepare('select count(*) as n from notifications where message_id = ?')
      .get(note.body.id) as { n: number }
    t.equal(toldOfNote.n, 0, 'John follows all messages, not the Notes subtype: the note does not notify him')
    t.notMatch(mail[1]?.body ?? '', /View Lead/, 'the customer gets no link into the node')
    t.match(mail[0]?.body ?? '', /View Lead/)

    const refused = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
      kind: 'note',
      body: 'Ask @Carla Customer about it',
    })
    t.equal(refused.status, 422)
    t.equal(refused.body.error.code, 'E_MENTION_EXTERNAL_IN_NOTE')
    t.match(refused.body.error.reason, /Carla Customer/)
  },
)
