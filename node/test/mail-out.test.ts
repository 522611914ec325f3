import t from 'tap'
import { ochatNotifications } from '../src/db/ochat-schema.ts'
import { outgoingMail } from '../src/db/schema.ts'
import { MailTokens } from '../src/mail/tokens.ts'
import { DAY, emailRows, header, mailEnv, post, scene } from './fixtures/mail/outgoing.ts'
import { buildNode, buildUser } from './helpers.ts'
import { type ReceivedMail, startSmtpSink } from './smtp-sink.ts'

t.test(
  'each recipient gets their own email, threaded, with a reply address and a bounce address that verify',
  async (t) => {
    const sink = await startSmtpSink(t)
    const { node, sarah, ivan, carla, lead } = await scene(t, mailEnv(sink))
    const message = await post(sarah, lead.id, 'Your **quote** is ready & <attached>')
    await node.mail.idle()
    const mails = [await sink.next(), await sink.next()].sort((a, b) =>
      (a.to[0] ?? '').localeCompare(b.to[0] ?? ''),
    )
    const [toCarla, toIvan] = mails as [ReceivedMail, ReceivedMail]
    t.same(toCarla.to, ['carla@client.test'], 'one email per recipient')
    t.same(toIvan.to, ['ivan@acme.test'])
    const tokens = MailTokens.load(node.database.db, node.clock.now())

    const stored = node.database.sqlite
      .prepare('select email_message_id as id from messages where id = ?')
      .get(message.id) as { id: string }
    t.match(
      stored.id,
      /^ochat\.m\d+\.[0-9a-f]+@mail\.acme\.test$/,
      'the message got a Message-ID on the mail domain',
    )
    const first = node.database.sqlite
      .prepare('select email_message_id as id from messages where record_id = ? order by id limit 1')
      .get(lead.id) as { id: string }
    t.ok(first.id && first.id !== stored.id, "the record's first message got one too, to thread under")
    for (const mail of mails) {
      t.equal(mail.parsed.messageId, `<${stored.id}>`, 'both copies share the Message-ID')
      t.equal(header(mail, 'X-OChat-Message-Id'), `<${stored.id}>`)
      t.equal(mail.parsed.inReplyTo, `<${first.id}>`, "it answers the record's thread")
      t.same(mail.parsed.references, [`<${first.id}>`, `<${stored.id}>`])
      t.equal(header(mail, 'Auto-Submitted'), 'auto-generated')
      t.equal(header(mail, 'X-OChat-Loop'), 'mail.acme.test')
      t.equal(mail.parsed.subject, 'Re: Big deal · Acme', 'the subject names the record and the company')
      t.equal(mail.parsed.from?.value[0]?.address, 'notifications@acme.test')
      t.match(
        mail.parsed.html,
        /Your <strong>quote<\/strong> is ready &amp; &lt;attached&gt;/,
        'an HTML part',
      )
      t.match(mail.parsed.text, /Your quote is ready & <attached>/, 'a text part, in plain words')
    }

    const replyTo = (mail: ReceivedMail) => mail.parsed.replyTo?.value[0]
    t.equal(replyTo(toCarla)?.name, 'Acme Big deal')
    const carlaReply = /^reply\+(.+)@mail\.acme\.test$/.exec(replyTo(toCarla)?.address ?? '')?.[1] ?? ''
    t.same(tokens.readReplyToken(carlaReply), {
      recordId: lead.id,
      messageId: message.id,
      partnerId: carla.id,
    })
    const ivanReply = /^reply\+(.+)@mail\.acme\.test$/.exec(replyTo(toIvan)?.address ?? '')?.[1] ?? ''
    t.same(tokens.readReplyToken(ivanReply), {
      recordId: lead.id,
      messageId: message.id,
      partnerId: ivan.partnerId,
    })

    const rows = emailRows(node, message.id)
    for (const [mail, row] of [
      [toCarla, rows[0]],
      [toIvan, rows[1]],
    ] as const) {
      const bounce = /^bounce\+(.+)@mail\.acme\.test$/.exec(mail.from)?.[1] ?? ''
      t.same(
        tokens.readBounceToken(bounce),
        { source: 'record', notificationId: row?.id },
        'VERP names the row',
      )
    }
    t.same(
      rows.map((row) => [row.email_to, row.status, row.code, row.attempts, row.sent_at]),
      [
        ['carla@client.test', 'sent', 250, 1, node.clock.now()],
        ['ivan@acme.test', 'sent', 250, 1, node.clock.now()],
      ],
      'each row says sent, with the server code',
    )

    t.match(
      toIvan.parsed.html,
      /href="https:\/\/crm\.acme\.test\/#\/records\//,
      'the user gets the View button',
    )
    t.notMatch(toCarla.parsed.html, /#\/records\//, 'the customer does not')
    const unsubscribe = header(toIvan, 'List-Unsubscribe') ?? ''
    const unfollowUrl = /^<(https:\/\/crm\.acme\.test\/mail\/unfollow\/(.+))>$/.exec(unsubscribe)
    t.ok(unfollowUrl, 'the internal follower can unsubscribe in one click')
    t.same(tokens.readUnfollowToken(unfollowUrl?.[2] ?? ''), { recordId: lead.id, partnerId: ivan.partnerId })
    t.equal(header(toIvan, 'List-Unsubscribe-Post'), 'List-Unsubscribe=One-Click')
    t.match(toIvan.parsed.html, unfollowUrl?.[1] ?? 'missing', 'and finds the unfollow link in the footer')
    t.equal(header(toCarla, 'List-Unsubscribe'), undefined, 'a customer gets no unfollow link')
    t.notMatch(toCarla.parsed.html, /mail\/unfollow/)
  },
)

t.test(
  'attachments go with the email up to the limit; the others become links that work for 14 days',
  async (t) => {
    const sink = await startSmtpSink(t)
    const { node, sarah, carla, lead } = await scene(
      t,
      mailEnv(sink, { NODE_MAIL_ATTACHMENTS_MAX_BYTES: '1500' }),
    )
    const small = Buffer.alloc(1000, 'a')
    const large = Buffer.alloc(1000, 'b')
    const ids: number[] = []
    for (const [name, bytes] of [
      ['quote.txt', small],
      ['plan.txt', large],
    ] as const) {
      const uploaded = await node.app.inject({
        method: 'POST',
        url: `/api/v1/attachments?fileName=${name}&recordId=${lead.id}`,
        headers: { authorization: `Bearer ${sarah.secret}`, 'content-type': 'text/plain' },
        payload: bytes,
      })
      t.equal(uploaded.statusCode, 201)
      ids.push(uploaded.json().id)
    }
    await post(sarah, lead.id, 'Files attached', { attachmentIds: ids })
    await node.mail.idle()
    const mail = sink.mails.find((entry) => entry.to[0] === 'carla@client.test')
    if (!mail) throw new Error('no email to the customer')
    t.same(
      mail.parsed.attachments.map((file) => [file.filename, file.content.toString()]),
      [['quote.txt', small.toString()]],
      'the first file fits and is attached',
    )
    const link = /https:\/\/crm\.acme\.test\/mail\/files\/([^"\s)]+)/.exec(mail.parsed.html || '')
    t.ok(link, 'the second is a download link')
    t.match(mail.parsed.text, /plan\.txt \(https:\/\/crm\.acme\.test\/mail\/files\//, 'in the text part too')
    const tokens = MailTokens.load(node.database.db, node.clock.now())
    t.same(tokens.readFileLinkToken(link?.[1] ?? '', node.clock.now()), {
      attachmentId: ids[1],
      expiresAt: node.clock.now() + 14 * DAY,
    })
    t.equal(tokens.readFileLinkToken(link?.[1] ?? '', node.clock.now() + 14 * DAY), null, 'and not after')
    t.ok(carla)
  },
)

t.test("an assignment, with no message behind it, threads under the record's first message", async (t) => {
  const sink = await startSmtpSink(t)
  const { node, sarah, ivan, lead } = await scene(t, mailEnv(sink))
  const scheduled = await sarah.call('POST', `/api/v1/records/${lead.id}/activities`, {
    type: 'call',
    summary: 'Call the buyer',
    assigneeId: ivan.userId,
  })
  t.equal(scheduled.status, 201)
  await node.mail.idle()
  const mail = await sink.next()
  t.same(mail.to, ['ivan@acme.test'])
  const stored = node.database.sqlite
    .prepare("select email_message_id as id from outgoing_mail where kind = 'activity'")
    .get() as { id: string }
  t.equal(mail.parsed.messageId, `<${stored.id}>`, 'its Message-ID is kept on the mail')
  const first = node.database.sqlite
    .prepare('select email_message_id as id from messages where record_id = ? order by id limit 1')
    .get(lead.id) as { id: string }
  t.equal(mail.parsed.inReplyTo, `<${first.id}>`)
  t.match(mail.parsed.text, /Call the buyer/)
})

t.test("O'Chat notifications by email are sent too", async (t) => {
  const sink = await startSmtpSink(t)
  const node = await buildNode(t, { env: mailEnv(sink) })
  const ivan = await buildUser(node, { name: 'Ivan Internal', login: 'ivan', notification: 'email' })
  // As notify-members writes them for an incoming O'Chat message.
  const mailId = node.database.db
    .insert(outgoingMail)
    .values({
      kind: 'ochat',
      subject: "O'Chat: Paula (Partner Co): Shipment left",
      body: '<p><strong>Paula</strong> (Partner Co) wrote:</p><p>Shipment left</p>',
      createdAt: node.clock.now(),
    })
    .returning({ id: outgoingMail.id })
    .get().id
  node.database.db
    .insert(ochatNotifications)
    .values({
      messageId: 77,
      userId: ivan.userId,
      channelId: 5,
      channel: 'email',
      mailId,
      emailTo: 'ivan@acme.test',
      emailStatus: 'queued',
      emailNextAt: node.clock.now(),
    })
    .run()
  node.mail.kick()
  const mail = await sink.next()
  await node.mail.idle()
  t.same(mail.to, ['ivan@acme.test'])
  t.equal(mail.parsed.subject, "O'Chat: Paula (Partner Co): Shipment left · Acme")
  t.match(mail.parsed.text, /Paula \(Partner Co\) wrote:\s+Shipment left/)
  const tokens = MailTokens.load(node.database.db, node.clock.now())
  const bounce = /^bounce\+(.+)@mail\.acme\.test$/.exec(mail.from)?.[1] ?? ''
  t.same(tokens.readBounceToken(bounce), { source: 'ochat', messageId: 77, userId: ivan.userId })
  t.match(mail.parsed.messageId, /^<ochat\.o\d+\.[0-9a-f]+@mail\.acme\.test>$/)
  const row = node.database.sqlite
    .prepare(
      'select email_status as status, email_code as code from ochat_notifications where message_id = 77',
    )
    .get()
  t.same(row, { status: 'sent', code: 250 })
})

t.test('NODE_SMTP_URL: the scheme decides the security; anything else is refused at boot', async (t) => {
  const { loadConfig } = await import('../src/config.ts')
  const load = (url: string) => loadConfig({ NODE_DATA_DIR: '/tmp/unused', NODE_SMTP_URL: url }).smtp
  t.same(load('smtp://me%40acme.test:p%3Ass@smtp.acme.test'), {
    host: 'smtp.acme.test',
    port: 587,
    security: 'starttls',
    user: 'me@acme.test',
    password: 'p:ss',
  })
  t.same(load('smtps://smtp.acme.test'), {
    host: 'smtp.acme.test',
    port: 465,
    security: 'tls',
    user: null,
    password: null,
  })
  t.match(load('smtp://127.0.0.1:2525?security=none'), { port: 2525, security: 'none' })
  for (const bad of [
    'http://smtp.acme.test',
    'smtp://h?security=tls',
    'smtps://h?security=none',
    'smtp://h?x=1',
    'nonsense',
  ])
    t.throws(() => load(bad), { name: 'ConfigError', message: /NODE_SMTP_URL/ }, bad)
})
