import t from 'tap'
import { buildUser } from './helpers.ts'
import { addGlobex, drain, emailPartnerNode, MAIL_DOMAIN, messageView, send } from './ochat-email-helpers.ts'
import { buildPeer, connectionView } from './ochat-helpers.ts'

/**
 * A partner company without a node, reached by email: an admin adds it, its channel goes by plain
 * email and says so, and each message shows how its email went (Sent, Retrying, Failed with the
 * server's words, and Retry). Real SMTP (a sink in the process), real SQLite; only the clock is fake.
 */

const MINUTE = 60_000

t.test(
  'an admin adds a partner reached by email: it gets a channel at once, and says how it travels',
  async (t) => {
    const { admin, member, contact } = await emailPartnerNode(t)
    const { connectionId, channelId, view } = await addGlobex(admin, contact.id)
    t.match(view, {
      transport: 'email',
      email: 'orders@globex.test',
      peer: { name: 'Globex' },
      state: 'accepted',
      paused: false,
      contact: { id: contact.id, name: 'Gina Globex' },
    })
    t.type(channelId, 'number', 'its channel exists at once')
    t.notOk('safetyCode' in view, 'there are no keys, so no safety code')

    const channels = await member.call('GET', '/api/v1/ochat/channels')
    t.match(channels.body.items, [
      { id: channelId, transport: 'email', email: 'orders@globex.test', state: 'accepted' },
    ])
    const listed = await member.call('GET', '/api/v1/ochat/connections')
    t.match(listed.body.items, [{ id: connectionId, transport: 'email', email: 'orders@globex.test' }])

    const again = await admin.call('POST', '/api/v1/ochat/connections/email', {
      name: 'Globex again',
      email: ' ORDERS@globex.TEST ',
      contactPartnerId: contact.id,
    })
    t.equal(again.status, 409, 'the same address, whatever its case, is one partner')
    t.equal(again.body.error.code, 'E_OCHAT_EMAIL_DUPLICATE')

    // Keys, safety codes and relay decisions do not apply; each says so instead of pretending.
    for (const path of ['accept', 'reject', 'verify'])
      for (const body of [path === 'verify' ? { safetyCode: '1'.repeat(60) } : {}]) {
        const answer = await admin.call('POST', `/api/v1/ochat/connections/${connectionId}/${path}`, body)
        t.equal(answer.status, 409, `${path} answers 409`)
        t.equal(answer.body.error.code, 'E_OCHAT_NOT_FOR_EMAIL', path)
      }
  },
)

t.test('bad input gets 4xx with a code, and only administrators add partners', async (t) => {
  const { node, admin, member, contact } = await emailPartnerNode(t)
  const cases: [string, Record<string, unknown>, number, string][] = [
    [
      'not an address',
      { name: 'X', email: 'orders at globex', contactPartnerId: contact.id },
      400,
      'E_INVALID_BODY',
    ],
    ['no name', { name: '  ', email: 'a@globex.test', contactPartnerId: contact.id }, 400, 'E_INVALID_BODY'],
    [
      'control characters',
      { name: 'Glo\u0007bex', email: 'a@globex.test', contactPartnerId: contact.id },
      400,
      'E_INVALID_BODY',
    ],
    ['no contact', { name: 'X', email: 'a@globex.test' }, 400, 'E_INVALID_BODY'],
    [
      'unknown field',
      { name: 'X', email: 'a@globex.test', contactPartnerId: contact.id, keys: 'x' },
      400,
      'E_INVALID_BODY',
    ],
    [
      'a missing contact',
      { name: 'X', email: 'a@globex.test', contactPartnerId: 999_999 },
      422,
      'E_OCHAT_CONTACT_REQUIRED',
    ],
    [
      'one of our users',
      { name: 'X', email: 'a@globex.test', contactPartnerId: member.partnerId },
      422,
      'E_OCHAT_CONTACT_REQUIRED',
    ],
  ]
  for (const [what, body, status, code] of cases) {
    const answer = await admin.call('POST', '/api/v1/ochat/connections/email', body)
    t.equal(answer.status, status, `${what}: ${status}`)
    t.equal(answer.body.error.code, code, what)
  }
  const refused = await member.call('POST', '/api/v1/ochat/connections/email', {
    name: 'Globex',
    email: 'orders@globex.test',
    contactPartnerId: contact.id,
  })
  t.equal(refused.status, 403, 'a user who is no administrator cannot add one')
  const connections = node.database.sqlite.prepare('select count(*) as n from ochat_connections').get() as {
    n: number
  }
  t.equal(connections.n, 0, 'nothing was added by any of them')
})

t.test('a message goes out as an email that says plainly it is not end-to-end encrypted; Sent', async (t) => {
  const { node, sink, member, admin, contact } = await emailPartnerNode(t)
  const { channelId } = await addGlobex(admin, contact.id)
  const first = await send(member, channelId, 'Your **order 42** ships on Monday')
  t.match(first, { status: 'pending', transport: 'email' }, 'stored like any message, Pending')
  await drain(node)
  const mail = await sink.next()
  t.same(mail.to, ['orders@globex.test'])
  t.match(
    mail.from,
    new RegExp(`^bounce\\+p[0-9a-z]+-[0-9a-f]{20}@${MAIL_DOMAIN}$`),
    'its own bounce address',
  )
  t.equal(mail.parsed.subject, 'Acme – Globex', 'the subject names our company and the channel')
  t.match(
    mail.parsed.replyTo?.value[0]?.address,
    new RegExp(`^reply\\+c[0-9a-z]+-[0-9a-z]+-[0-9a-f]{20}@${MAIL_DOMAIN}$`),
  )
  t.match(mail.parsed.html, /<strong>order 42<\/strong>/)
  t.match(mail.parsed.html, /Mia Member/)
  t.match(mail.parsed.html, /by email, not end-to-end encrypted/)
  t.match(mail.parsed.text, /by email, not end-to-end encrypted/, 'in the text part too')
  t.notOk(mail.parsed.headers.get('auto-submitted'), 'a person wrote it: not marked automatic')
  const firstId = mail.parsed.messageId
  t.match(firstId, new RegExp(`@${MAIL_DOMAIN}>$`))

  const shown = await messageView(member, channelId, first.id)
  t.match(shown, { status: 'sent', transport: 'email', reason: null, times: { sent: node.clock.now() } })

  const second = await send(member, channelId, 'And the invoice follows')
  await drain(node)
  const next = await sink.next()
  t.equal(next.parsed.subject, 'Acme – Globex', 'one subject, so mail programs keep one conversation')
  t.equal(next.parsed.inReplyTo, firstId, 'it answers the previous email')
  t.same([next.parsed.references].flat(), [firstId], 'and names the earlier ones')
  t.match(await messageView(member, channelId, second.id), { status: 'sent' })
})

t.test('files go as attachments, up to the configured limit', async (t) => {
  const { node, sink, member, admin, contact } = await emailPartnerNode(t, {
    NODE_MAIL_ATTACHMENTS_MAX_BYTES: '100',
  })
  const { channelId } = await addGlobex(admin, contact.id)
  const upload = async (fileName: string, content: string) => {
    const response = await node.app.inject({
      method: 'POST',
      url: `/api/v1/attachments?fileName=${fileName}`,
      headers: { authorization: `Bearer ${member.secret}`, 'content-type': 'text/plain' },
      payload: content,
    })
    return response.json().id as number
  }
  const small = await upload('terms.txt', 'Delivery within five days.')
  const large = await upload('catalog.txt', 'x'.repeat(500))
  const sent = await send(member, channelId, 'Our terms and catalog', [small, large])
  await drain(node)
  const mail = await sink.next()
  t.same(
    mail.parsed.attachments.map((file) => [file.filename, file.content.toString()]),
    [['terms.txt', 'Delivery within five days.']],
    'the file within the limit is attached',
  )
  t.match(mail.parsed.html, /catalog\.txt/, 'the one past it becomes a link')
  t.match(mail.parsed.html, /https:\/\/crm\.acme\.test\/mail\/files\//)
  const shown = await messageView(member, channelId, sent.id)
  t.match(shown.files, [
    { name: 'terms.txt', state: 'ready' },
    { name: 'catalog.txt', state: 'ready' },
  ])
})

t.test('a 451 is retried on the schedule, then the message is Sent', async (t) => {
  const { node, sink, member, admin, contact } = await emailPartnerNode(t)
  const { channelId } = await addGlobex(admin, contact.id)
  sink.answerWith(() => ({ code: 451, message: '4.7.1 Greylisted, try again later' }))
  const sent = await send(member, channelId, 'Hello Globex')
  await drain(node)
  const retrying = await messageView(member, channelId, sent.id)
  t.match(retrying, {
    status: 'retrying',
    nextAttemptAt: node.clock.now() + MINUTE,
    reason: /451.*Greylisted/,
    nextStep: /retries automatically/,
  })
  node.clock.advance(MINUTE - 1)
  await drain(node)
  t.equal((await messageView(member, channelId, sent.id)).status, 'retrying', 'not before its minute')

  sink.answerWith(() => null)
  node.clock.advance(1)
  await drain(node)
  t.match(await messageView(member, channelId, sent.id), {
    status: 'sent',
    reason: null,
    nextAttemptAt: null,
  })
  t.equal(sink.mails.length, 1, 'accepted once')
})

t.test('a 550 fails the message at once with the reason; Retry sends it again', async (t) => {
  const { node, sink, member, admin, contact } = await emailPartnerNode(t)
  const { channelId } = await addGlobex(admin, contact.id)
  sink.answerWith(() => ({ code: 550, message: '5.1.1 <orders@globex.test>: mailbox unknown' }))
  const sent = await send(member, channelId, 'Hello Globex')
  await drain(node)
  const failed = await messageView(member, channelId, sent.id)
  t.match(failed, {
    status: 'failed',
    reason: /550.*mailbox unknown/,
    nextStep: /refused the email.*retry the message/,
    times: { failed: node.clock.now() },
  })

  const early = await member.call('POST', `/api/v1/ochat/messages/${sent.id}/retry`)
  t.equal(early.status, 200)
  t.match(early.body, { status: 'pending', reason: null })
  sink.answerWith(() => null)
  await drain(node)
  t.match(await messageView(member, channelId, sent.id), { status: 'sent' })
  t.equal(sink.mails.length, 1)
  const twice = await member.call('POST', `/api/v1/ochat/messages/${sent.id}/retry`)
  t.equal(twice.status, 409, 'a Sent message is not retried')
  t.equal(twice.body.error.code, 'E_OCHAT_NOT_RETRYABLE')
})

t.test('statuses reach the members live', async (t) => {
  const { node, member, admin, contact, sink } = await emailPartnerNode(t)
  const { channelId } = await addGlobex(admin, contact.id)
  const events: { type: string; status?: string; messageId?: number }[] = []
  const original = node.inbound.deps.live.publish.bind(node.inbound.deps.live)
  node.inbound.deps.live.publish = (effects) => {
    for (const event of effects.events)
      if (event.scope === 'user' && event.userId === member.userId && event.type === 'ochat.message')
        events.push(event)
    original(effects)
  }
  sink.answerWith(() => ({ code: 550, message: '5.1.1 mailbox unknown' }))
  const sent = await send(member, channelId, 'Hello')
  await drain(node)
  t.same(
    events.filter((event) => event.messageId === sent.id).map((event) => event.status),
    ['pending', 'failed'],
  )
})

t.test('a relay sync leaves an email partner alone, even a view under its id', async (t) => {
  const { node, admin, relay, contact } = await emailPartnerNode(t)
  const { connectionId } = await addGlobex(admin, contact.id)
  const before = node.database.sqlite
    .prepare('select * from ochat_connections where id = ?')
    .get(connectionId)
  // A relay that knows the id reports it as another company's, revoked, with keys of its own.
  const forged = {
    ...connectionView(node, buildPeer('Evil'), { id: connectionId, state: 'revoked' }),
    updatedAt: node.clock.now() + 10_000,
  }
  relay.connections = [forged]
  const synced = await admin.call('POST', '/api/v1/ochat/connections/sync')
  t.equal(synced.status, 200)
  t.same(
    node.database.sqlite.prepare('select * from ochat_connections where id = ?').get(connectionId),
    before,
    'not one column changed',
  )
  t.match(synced.body.items, [
    { id: connectionId, transport: 'email', state: 'accepted', peer: { name: 'Globex' } },
  ])
})

t.test('revoking an email partner closes its channel; what waited fails with the reason', async (t) => {
  const { node, admin, member, contact, sink } = await emailPartnerNode(t)
  const { connectionId, channelId } = await addGlobex(admin, contact.id)
  sink.answerWith(() => ({ code: 451, message: '4.4.1 try later' }))
  const sent = await send(member, channelId, 'Hello')
  await drain(node)
  const revoked = await admin.call('POST', `/api/v1/ochat/connections/${connectionId}/revoke`, {
    note: 'contract ended',
  })
  t.equal(revoked.status, 200)
  t.match(revoked.body, { state: 'revoked', transport: 'email' })
  t.match(await messageView(member, channelId, sent.id), { status: 'failed', reason: /revoked/ })
  const refused = await member.call('POST', `/api/v1/ochat/channels/${channelId}/messages`, { body: 'More' })
  t.equal(refused.status, 409)
  t.equal(refused.body.error.code, 'E_OCHAT_CONNECTION_STATE')
  const other = await buildUser(node, { name: 'Olga Other' })
  t.equal(
    (await other.call('GET', `/api/v1/ochat/connections/${connectionId}`)).status,
    404,
    'hidden once revoked',
  )
})
