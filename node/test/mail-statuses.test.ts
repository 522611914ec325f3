import t from 'tap'
import WebSocket from 'ws'
import { type Actor, buildNode, buildPartner, buildRecord, buildUser, until } from './helpers.ts'
import { startSmtpSink } from './smtp-sink.ts'

/**
 * What people see of outgoing email: each message's recipients with the state of their email, Retry
 * and Cancel one by one, the record's count of failed emails, and the rule that a log note is never
 * emailed. Without an SMTP server set up, emails stay queued, so the states here move only by what the
 * tests do (and, where a test sets one up, by the real sender talking to a real SMTP server).
 */

type EmailView = {
  id: number
  messageId: number | null
  partner: { id: number; name: string }
  address: string
  status: string
  reason: string | null
  code: number | null
  attempts: number
  nextAttemptAt: number | null
  sentAt: number | null
}

async function emailsOf(actor: Actor, recordId: number, messageId?: number) {
  const query = messageId === undefined ? '' : `?messages=${messageId}`
  const answer = await actor.call('GET', `/api/v1/records/${recordId}/emails${query}`)
  if (answer.status !== 200) throw new Error(`emails answered ${answer.status}`)
  return answer.body as { failed: number; items: EmailView[] }
}

function byName(items: EmailView[], name: string): EmailView {
  const found = items.find((item) => item.partner.name === name)
  if (!found) throw new Error(`no email to ${name}`)
  return found
}

const CONTRACT = {
  name: 'x_contract',
  label: 'Contract',
  userAccess: 'own',
  fields: [{ name: 'name', label: 'Title', type: 'char', required: true }],
}

t.test(
  'a message shows who it was emailed to and how it went, to those who may see the record',
  async (t) => {
    const node = await buildNode(t)
    const admin = await buildUser(node, { name: 'Ada Admin', role: 'admin' })
    t.equal((await admin.call('POST', '/api/v1/models', CONTRACT)).status, 201)
    const sarah = await buildUser(node, { name: 'Sarah Sales' })
    const olaf = await buildUser(node, { name: 'Olaf Outsider' })
    const carla = buildPartner(node, { name: 'Carla Customer', email: 'carla@client.test' })
    const walter = buildPartner(node, { name: 'Walter Walkin', email: null })
    const contract = await buildRecord(sarah, 'x_contract')
    for (const partner of [carla, walter])
      await sarah.call('POST', `/api/v1/records/${contract.id}/followers`, { partnerId: partner.id })
    const posted = await sarah.call('POST', `/api/v1/records/${contract.id}/messages`, {
      kind: 'message',
      body: 'Your contract is ready to sign',
    })
    t.equal(posted.status, 201)

    const emails = await emailsOf(sarah, contract.id, posted.body.id)
    t.equal(emails.items.length, 2, 'one entry per recipient by email')
    t.match(byName(emails.items, 'Carla Customer'), {
      messageId: posted.body.id,
      address: 'carla@client.test',
      status: 'queued',
      reason: null,
      attempts: 0,
      nextAttemptAt: node.clock.now(),
      sentAt: null,
    })
    t.match(byName(emails.items, 'Walter Walkin'), {
      address: '',
      status: 'failed',
      reason: 'the contact has no email address',
    })
    t.equal(emails.failed, 1, 'the record counts the failed email')
    const noneShown = await sarah.call('GET', `/api/v1/records/${contract.id}/emails?messages=`)
    t.same(noneShown.body, { failed: 1, items: [] }, 'a chatter page with no messages still gets the count')
    const bad = await sarah.call('GET', `/api/v1/records/${contract.id}/emails?messages=1,x`)
    t.equal(bad.status, 400, 'message ids must be ids')

    // Someone who may not see the record learns nothing: not the addresses, not that the email exists.
    const walterEmail = byName(emails.items, 'Walter Walkin').id
    for (const [method, url] of [
      ['GET', `/api/v1/records/${contract.id}/emails`],
      ['POST', `/api/v1/notifications/${walterEmail}/retry`],
      ['POST', `/api/v1/notifications/${walterEmail}/cancel`],
    ] as const) {
      const answer = await olaf.call(method, url)
      t.equal(answer.status, 404, `${method} ${url}: not found for an outsider`)
      t.equal(answer.body.error.code, 'E_NOT_FOUND')
    }
    const after = await emailsOf(sarah, contract.id)
    t.equal(byName(after.items, 'Walter Walkin').status, 'failed', "the outsider's retry changed nothing")

    const readOnly = await buildUser(node, { name: 'Rita Reader', scopes: ['chatter:read', 'records:read'] })
    await sarah.call('POST', `/api/v1/records/${contract.id}/followers`, { partnerId: readOnly.partnerId })
    t.equal(
      (await emailsOf(readOnly, contract.id)).items.length,
      2,
      'a follower with a read-only key sees them',
    )
    const refused = await readOnly.call('POST', `/api/v1/notifications/${walterEmail}/cancel`)
    t.equal(refused.status, 403, 'but cannot cancel without the chatter:write scope')
  },
)

t.test('retry and cancel move an email only from the states that allow it', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const carla = buildPartner(node, { name: 'Carla Customer', email: 'carla@client.test' })
  const walter = buildPartner(node, { name: 'Walter Walkin', email: null })
  const lead = await buildRecord(sarah, 'lead')
  for (const partner of [carla, walter])
    await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: partner.id })
  const posted = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'message',
    body: 'Quote attached',
  })
  t.equal(posted.status, 201)
  const first = await emailsOf(sarah, lead.id)
  const toCarla = byName(first.items, 'Carla Customer').id
  const toWalter = byName(first.items, 'Walter Walkin').id

  const canceled = await sarah.call('POST', `/api/v1/notifications/${toCarla}/cancel`)
  t.equal(canceled.status, 200)
  t.match(canceled.body, { id: toCarla, status: 'canceled', nextAttemptAt: null })
  const again = await sarah.call('POST', `/api/v1/notifications/${toCarla}/cancel`)
  t.equal(again.status, 409, 'a canceled email cannot be canceled again')
  t.equal(again.body.error.code, 'E_EMAIL_NOT_CANCELABLE')

  node.clock.advance(60_000)
  const retried = await sarah.call('POST', `/api/v1/notifications/${toCarla}/retry`)
  t.equal(retried.status, 200)
  t.match(retried.body, {
    status: 'queued',
    address: 'carla@client.test',
    reason: null,
    nextAttemptAt: node.clock.now(),
  })

  const noAddress = await sarah.call('POST', `/api/v1/notifications/${toWalter}/retry`)
  t.equal(noAddress.status, 409, 'no address: retrying would only fail again')
  t.equal(noAddress.body.error.code, 'E_EMAIL_NO_ADDRESS')
  t.equal((await emailsOf(sarah, lead.id)).failed, 1, 'still counted as failed')

  // Fixing the contact is how a missing address is solved: the retry takes the address as it is now.
  const fixed = await sarah.call('PATCH', `/api/v1/partners/${walter.id}`, { email: 'walter@client.test' })
  t.equal(fixed.status, 200)
  const resent = await sarah.call('POST', `/api/v1/notifications/${toWalter}/retry`)
  t.equal(resent.status, 200)
  t.match(resent.body, { status: 'queued', address: 'walter@client.test', reason: null })
  t.equal((await emailsOf(sarah, lead.id)).failed, 0, 'nothing failed any more')

  // A failed email can also be given up on: it stops counting as failed.
  const nobody = buildPartner(node, { name: 'Nina Noaddress', email: null })
  await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: nobody.id })
  await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, { kind: 'message', body: 'Second' })
  const failed = (await emailsOf(sarah, lead.id)).items.find(
    (item) => item.partner.name === 'Nina Noaddress' && item.status === 'failed',
  )
  t.ok(failed, 'the new contact without an address failed at once')
  t.equal((await emailsOf(sarah, lead.id)).failed, 1)
  const given = await sarah.call('POST', `/api/v1/notifications/${failed?.id}/cancel`)
  t.equal(given.body.status, 'canceled')
  t.equal((await emailsOf(sarah, lead.id)).failed, 0)

  // Only email notifications can be retried: an inbox notification is not one.
  const john = await buildUser(node, { name: 'John Ops' })
  await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: john.partnerId })
  const third = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'message',
    body: 'Third',
  })
  const johnInbox = node.database.sqlite
    .prepare("select id from notifications where message_id = ? and channel = 'inbox'")
    .get(third.body.id) as { id: number }
  for (const [id, what] of [
    [johnInbox.id, 'an inbox notification'],
    [999_999, 'an unknown id'],
  ] as const) {
    const answer = await sarah.call('POST', `/api/v1/notifications/${id}/retry`)
    t.equal(answer.status, 404, `${what}: not found`)
  }
})

t.test('retry and cancel are pushed live to those who watch the record', async (t) => {
  const node = await buildNode(t, { listen: true })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const john = await buildUser(node, { name: 'John Ops' })
  const carla = buildPartner(node, { name: 'Carla Customer', email: 'carla@client.test' })
  const lead = await buildRecord(sarah, 'lead')
  await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: carla.id })
  const posted = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'message',
    body: 'Hi',
  })
  const toCarla = byName((await emailsOf(sarah, lead.id)).items, 'Carla Customer').id

  const socket = new WebSocket(`${node.url?.replace('http', 'ws')}/api/v1/live`, {
    headers: { authorization: `Bearer ${john.secret}` },
  })
  t.teardown(() => socket.close())
  const frames: { type: string; event?: { type: string; recordId: number; messageId: number | null } }[] = []
  socket.on('message', (data) => frames.push(JSON.parse(String(data))))
  await new Promise((resolve) => socket.once('open', resolve))
  await until('ready', () => frames.some((frame) => frame.type === 'ready'))
  socket.send(JSON.stringify({ type: 'subscribe', recordId: lead.id }))
  await until('subscribed', () => frames.some((frame) => frame.type === 'subscribed'))

  await sarah.call('POST', `/api/v1/notifications/${toCarla}/cancel`)
  const event = await until('an email status event', () =>
    frames.find((frame) => frame.type === 'event' && frame.event?.type === 'email.status'),
  )
  t.same(event.event, { scope: 'record', recordId: lead.id, type: 'email.status', messageId: posted.body.id })
})

t.test(
  'a log note is never emailed: mentioned colleagues and Notes followers get it in their inbox',
  async (t) => {
    const node = await buildNode(t)
    const sarah = await buildUser(node, { name: 'Sarah Sales' })
    const emil = await buildUser(node, { name: 'Emil Email', notification: 'email' })
    const nina = await buildUser(node, { name: 'Nina Notes', notification: 'email' })
    const ally = await buildUser(node, { name: 'Ally All', notification: 'email' })
    const ines = await buildUser(node, { name: 'Ines Inbox', notification: 'inbox' })
    const carla = buildPartner(node, { name: 'Carla Customer', email: 'carla@client.test' })
    const lead = await buildRecord(sarah, 'lead')
    const follow = (partnerId: number, choice: object) =>
      sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId, ...choice })
    t.equal((await follow(nina.partnerId, { subscription: 'custom', subtypes: ['note'] })).status, 201)
    t.equal((await follow(ally.partnerId, { subscription: 'all' })).status, 201)
    t.equal((await follow(ines.partnerId, { subscription: 'all' })).status, 201)
    t.equal((await follow(carla.id, { subscription: 'all' })).status, 201)

    const note = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
      kind: 'note',
      body: 'Margin is thin, @Emil Email please check',
    })
    t.equal(note.status, 201)

    const told = node.database.sqlite
      .prepare(
        'select partner_id, channel, reason from notifications where message_id = ? order by partner_id',
      )
      .all(note.body.id) as { partner_id: number; channel: string; reason: string }[]
    t.same(
      told.map((row) => `${row.partner_id}:${row.channel}:${row.reason}`).sort(),
      [`${emil.partnerId}:inbox:mention`, `${nina.partnerId}:inbox:message`].sort(),
      'the mentioned colleague and the Notes follower, by inbox, though both chose email; nobody else',
    )
    const mails = node.database.sqlite
      .prepare('select count(*) as n from outgoing_mail where message_id = ?')
      .get(note.body.id) as { n: number }
    t.equal(mails.n, 0, 'no email was written for the note')
    t.same((await emailsOf(sarah, lead.id, note.body.id)).items, [], 'the note shows no email recipients')

    for (const [actor, name, expected] of [
      [emil, 'Emil (mentioned)', 1],
      [nina, 'Nina (follows Notes)', 1],
      [ally, 'Ally (follows all, by email)', 0],
      [ines, 'Ines (follows all, by inbox)', 0],
    ] as const) {
      const inbox = await actor.call('GET', '/api/v1/inbox')
      const items = inbox.body.items.filter(
        (item: { message: { id: number } | null }) => item.message?.id === note.body.id,
      )
      t.equal(items.length, expected, `${name}: ${expected ? 'the note is in the inbox' : 'not told'}`)
    }

    // The same people on a sent message: the email preference is honoured again.
    const message = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
      kind: 'message',
      body: 'Quote sent, @Emil Email',
    })
    const emailed = (await emailsOf(sarah, lead.id, message.body.id)).items
      .map((item) => item.partner.name)
      .sort()
    t.same(
      emailed,
      ['Ally All', 'Carla Customer', 'Emil Email'],
      'a message is emailed to those who chose email',
    )
  },
)

t.test('a sent email can be neither retried nor canceled', async (t) => {
  const sink = await startSmtpSink(t)
  const node = await buildNode(t, {
    env: {
      NODE_SMTP_URL: sink.url,
      NODE_MAIL_FROM: 'notifications@acme.test',
      NODE_MAIL_DOMAIN: 'acme.test',
    },
  })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const carla = buildPartner(node, { name: 'Carla Customer', email: 'carla@client.test' })
  const lead = await buildRecord(sarah, 'lead')
  await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: carla.id })
  await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, { kind: 'message', body: 'Your quote' })
  const received = await sink.next()
  t.same(received.to, ['carla@client.test'], 'the SMTP server got the email')
  const sent = await until('the email shows as sent', async () => {
    const email = byName((await emailsOf(sarah, lead.id)).items, 'Carla Customer')
    return email.status === 'sent' ? email : undefined
  })
  t.equal(sent.code, 250)
  t.ok(sent.sentAt, 'with the time it was sent')

  const retry = await sarah.call('POST', `/api/v1/notifications/${sent.id}/retry`)
  t.equal(retry.status, 409)
  t.equal(retry.body.error.code, 'E_EMAIL_ALREADY_SENT')
  const cancel = await sarah.call('POST', `/api/v1/notifications/${sent.id}/cancel`)
  t.equal(cancel.status, 409)
  t.equal(cancel.body.error.code, 'E_EMAIL_NOT_CANCELABLE')
  t.equal(sink.mails.length, 1, 'nothing was sent twice')
})
