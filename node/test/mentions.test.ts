import t, { type Test } from 'tap'
import { buildNode, buildPartner, buildRecord, buildUser, type TestNode } from './helpers.ts'

type Message = { id: number; body: string; mentions: { partnerId: number; name: string }[] }

async function setup(t: Test) {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const lead = await buildRecord(sarah, 'lead')
  const post = async (body: string, kind: 'message' | 'note' = 'message', format?: 'html') => {
    const response = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
      kind,
      body,
      ...(format ? { format } : {}),
    })
    return response
  }
  const followerIds = async () =>
    (await sarah.call('GET', `/api/v1/records/${lead.id}/followers`)).body.items.map(
      (row: { partnerId: number }) => row.partnerId,
    ) as number[]
  return { node, sarah, lead, post, followerIds }
}

const mentionLink = (partnerId: number, name: string) =>
  `<a class="o-mention" data-partner-id="${partnerId}" href="#/partners/${partnerId}">@${name}</a>`

t.test(
  '@Full Name resolves to the longest matching partner, is a link, notifies them and makes them follow',
  async (t) => {
    const { node, post, followerIds } = await setup(t)
    const ann = await buildUser(node, { name: 'Ann' })
    const annLee = await buildUser(node, { name: 'Ann Lee' })
    const sent = await post('Can you call them, @Ann Lee?')
    t.equal(sent.status, 201)
    const message = sent.body as Message
    t.equal(message.body, `<p>Can you call them, ${mentionLink(annLee.partnerId, 'Ann Lee')}?</p>`)
    t.same(
      message.mentions.map((m) => m.name),
      ['Ann Lee'],
      'Ann Lee, not Ann',
    )
    const inbox = await annLee.call('GET', '/api/v1/inbox')
    t.equal(inbox.body.items.length, 1)
    t.equal(inbox.body.items[0].reason, 'mention')
    t.equal((await ann.call('GET', '/api/v1/inbox')).body.items.length, 0, 'Ann is not told')
    t.ok((await followerIds()).includes(annLee.partnerId), 'the mentioned user now follows the record')
    t.notOk((await followerIds()).includes(ann.partnerId))
  },
)

t.test(
  'mentioning a customer in a sent message notifies them by email but does not make them a follower',
  async (t) => {
    const { node, post, followerIds } = await setup(t)
    const carla = buildPartner(node, { name: 'Carla Customer', email: 'carla@client.test' })
    const sent = await post('Hello @Carla Customer, your order shipped')
    t.equal(sent.status, 201)
    t.same(
      (sent.body as Message).mentions.map((m) => m.partnerId),
      [carla.id],
    )
    t.notOk((await followerIds()).includes(carla.id), 'customers are never auto-followers')
    const mail = node.database.sqlite.prepare('select email_to from email_notifications').all()
    t.same(mail, [{ email_to: 'carla@client.test' }])
  },
)

t.test('mentions are case-insensitive and keep the partner’s own spelling', async (t) => {
  const { node, post } = await setup(t)
  const john = await buildUser(node, { name: 'John Smith' })
  const sent = await post('thanks @john smith for the help')
  t.equal(
    (sent.body as Message).body,
    `<p>thanks ${mentionLink(john.partnerId, 'John Smith')} for the help</p>`,
  )
  t.equal((await john.call('GET', '/api/v1/inbox')).body.items.length, 1)
})

t.test('an unknown @word stays plain text and notifies nobody', async (t) => {
  const { node, post } = await setup(t)
  await buildUser(node, { name: 'John Smith' })
  const sent = await post('ask @nobody or @Johnny about it')
  t.equal((sent.body as Message).body, '<p>ask @nobody or @Johnny about it</p>')
  t.same((sent.body as Message).mentions, [])
  t.equal(count(node, 'select count(*) as n from notifications where message_id = ?', sent.body.id), 0)
})

t.test('mentions inside code, code blocks and links are ignored', async (t) => {
  const { node, post } = await setup(t)
  const john = await buildUser(node, { name: 'John Smith' })
  const inCode = await post('run `deploy @John Smith` now')
  t.equal(inCode.body.body, '<p>run <code>deploy @John Smith</code> now</p>')
  const inBlock = await post('```\n@John Smith\n```')
  t.same(inBlock.body.mentions, [])
  const inLink = await post('<a href="https://example.com">@John Smith</a>', 'message', 'html')
  t.same(inLink.body.mentions, [])
  t.match(
    inLink.body.body,
    /<a href="https:\/\/example.com" rel="noopener noreferrer nofollow" target="_blank">@John Smith<\/a>/,
  )
  t.equal((await john.call('GET', '/api/v1/inbox')).body.items.length, 0, 'John was not told')
  const email = await post('write to john@example.com')
  t.same(email.body.mentions, [], 'an email address is not a mention')
})

t.test('a mention at the end of a sentence ("@Sarah.") still resolves', async (t) => {
  const { node, post } = await setup(t)
  const mia = await buildUser(node, { name: 'Mia' })
  const sent = await post('Over to you, @Mia.')
  t.equal(sent.body.body, `<p>Over to you, ${mentionLink(mia.partnerId, 'Mia')}.</p>`)
  t.equal((await mia.call('GET', '/api/v1/inbox')).body.items.length, 1)
})

t.test('a mention resolves even when many partners share its first name', async (t) => {
  const { node, post } = await setup(t)
  for (let i = 0; i < 60; i++) buildPartner(node, { name: `John Doe${i}` })
  const john = await buildUser(node, { name: 'John Zimmer' })
  const sent = await post('@John Zimmer please check')
  t.same(
    sent.body.mentions.map((m: { partnerId: number }) => m.partnerId),
    [john.partnerId],
  )
  t.equal((await john.call('GET', '/api/v1/inbox')).body.items.length, 1)
})

t.test('a log note may mention colleagues but not a customer; the refusal writes nothing', async (t) => {
  const { node, post, lead, followerIds } = await setup(t)
  const ops = await buildUser(node, { name: 'Otto Ops' })
  const carla = buildPartner(node, { name: 'Carla Customer' })
  const ok = await post('@Otto Ops can you expedite?', 'note')
  t.equal(ok.status, 201)
  t.equal((await ops.call('GET', '/api/v1/inbox')).body.items[0]?.reason, 'mention')
  const messageCount = () => count(node, 'select count(*) as n from messages where record_id = ?', lead.id)
  const before = messageCount()
  const followersBefore = await followerIds()
  const refused = await post('@Otto Ops and @Carla Customer: see above', 'note')
  t.equal(refused.status, 422)
  t.equal(refused.body.error.code, 'E_MENTION_EXTERNAL_IN_NOTE')
  t.match(refused.body.error.reason, /Carla Customer/)
  t.equal(messageCount(), before, 'no message row')
  t.same(await followerIds(), followersBefore, 'nobody followed')
  t.notOk(followersBefore.includes(carla.id))
  t.equal(
    (await ops.call('GET', '/api/v1/inbox')).body.items.length,
    1,
    'Otto was not told about the refused note',
  )
})

t.test('a name with an underscore can be mentioned', async (t) => {
  const { node, post } = await setup(t)
  const bot = await buildUser(node, { name: 'it_support desk' })
  await buildUser(node, { name: 'itXsupport other' })
  const sent = await post('cc @it_support desk')
  t.same(
    sent.body.mentions.map((m: { partnerId: number }) => m.partnerId),
    [bot.partnerId],
  )
})

/** One number from SQL, for checks on what was (not) written. */
function count(node: TestNode, query: string, ...params: unknown[]): number {
  return (node.database.sqlite.prepare(query).get(...params) as { n: number }).n
}

t.test('editing a note cannot add a customer mention; the note stays as it was', async (t) => {
  const { node, sarah, post } = await setup(t)
  buildPartner(node, { name: 'Carla Customer' })
  const note = await post('internal: margin is thin', 'note')
  const edited = await sarah.call('PATCH', `/api/v1/messages/${note.body.id}`, {
    body: 'ask @Carla Customer',
  })
  t.equal(edited.status, 422)
  t.equal(edited.body.error.code, 'E_MENTION_EXTERNAL_IN_NOTE')
  const now = await sarah.call('GET', `/api/v1/messages/${note.body.id}`)
  t.equal(now.body.body, '<p>internal: margin is thin</p>')
  t.equal(now.body.editedAt, null)
  t.same((await sarah.call('GET', `/api/v1/messages/${note.body.id}/versions`)).body.items, [])
})

t.test('mentions ignore case for accented names too', async (t) => {
  const { node, post } = await setup(t)
  const elodie = await buildUser(node, { name: 'Élodie Durand' })
  const omer = await buildUser(node, { name: 'ÖMER ÇELIK' })
  const sent = await post('merci @élodie durand et @Ömer Çelik')
  t.same(
    sent.body.mentions.map((m: { partnerId: number }) => m.partnerId).sort(),
    [elodie.partnerId, omer.partnerId].sort(),
  )
  t.match(sent.body.body, /data-partner-id="\d+" href="#\/partners\/\d+">@Élodie Durand<\/a>/)
})
