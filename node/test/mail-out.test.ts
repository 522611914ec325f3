import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ManualClock } from '@ochat/shared-protocol/server'
import type { Test } from 'tap'
import t from 'tap'
import { ochatNotifications } from '../src/db/ochat-schema.ts'
import { mailSettings, outgoingMail } from '../src/db/schema.ts'
import { MailTokens } from '../src/mail/tokens.ts'
import { type Actor, buildNode, buildPartner, buildRecord, buildUser, type TestNode } from './helpers.ts'
import { type ReceivedMail, type SmtpSink, startSmtpSink } from './smtp-sink.ts'

const MINUTE = 60_000
const DAY = 24 * 60 * MINUTE

type EmailRow = {
  id: number
  email_to: string
  status: string
  last_error: string | null
  code: number | null
  attempts: number
  sent_at: number | null
}

function mailEnv(sink: SmtpSink, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_SMTP_URL: sink.url,
    NODE_MAIL_FROM: 'notifications@acme.test',
    NODE_MAIL_DOMAIN: 'mail.acme.test',
    NODE_PUBLIC_URL: 'https://crm.acme.test',
    ...extra,
  }
}

/** The email recipients of a message, as the record's email list shows them. */
function emailRows(node: TestNode, messageId: number): EmailRow[] {
  return node.database.sqlite
    .prepare(
      'select id, email_to, status, last_error, code, attempts, sent_at from email_notifications where message_id = ? order by email_to',
    )
    .all(messageId) as EmailRow[]
}

async function post(actor: Actor, recordId: number, body: string, extra: Record<string, unknown> = {}) {
  const posted = await actor.call('POST', `/api/v1/records/${recordId}/messages`, {
    kind: 'message',
    body,
    ...extra,
  })
  if (posted.status !== 201) throw new Error(`not posted: ${posted.status} ${JSON.stringify(posted.body)}`)
  return posted.body as { id: number }
}

async function follow(actor: Actor, recordId: number, partnerId: number) {
  const followed = await actor.call('POST', `/api/v1/records/${recordId}/followers`, {
    partnerId,
    subscription: 'all',
  })
  if (followed.status !== 201) throw new Error(`not followed: ${followed.status}`)
}

/** Moves the node's clock and lets the sender look at what came due. */
async function later(node: TestNode, ms: number) {
  node.clock.advance(ms)
  node.mail.kick()
  await node.mail.idle()
}

function header(mail: ReceivedMail, name: string): string | undefined {
  // The raw line, as a mail program reads it: mailparser turns address and List-* headers into objects.
  const line = mail.parsed.headerLines.find((entry) => entry.key === name.toLowerCase())?.line
  return line?.slice(line.indexOf(':') + 1).trim()
}

/** A record with an internal follower (email notifications) and an external contact following it. */
async function scene(
  t: Test,
  env: Record<string, string>,
  options: { clock?: ManualClock; dataDir?: string } = {},
) {
  const node = await buildNode(t, { env, ...options })
  const sarah = await buildUser(node, { name: 'Sarah Sales', login: 'sarah' })
  const ivan = await buildUser(node, { name: 'Ivan Internal', login: 'ivan', notification: 'email' })
  const carla = buildPartner(node, { name: 'Carla Customer', email: 'carla@client.test' })
  const lead = await buildRecord(sarah, 'lead', { name: 'Big deal' })
  await follow(sarah, lead.id, ivan.partnerId)
  await follow(sarah, lead.id, carla.id)
  return { node, sarah, ivan, carla, lead }
}

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

t.test('a temporary refusal (451) is retried one minute later, not before; then it is sent', async (t) => {
  const sink = await startSmtpSink(t)
  sink.answerWith(() => ({ code: 451, message: 'Greylisted, try again later' }))
  const { node, sarah, lead } = await scene(t, mailEnv(sink))
  const message = await post(sarah, lead.id, 'Hello')
  await node.mail.idle()
  const queued = emailRows(node, message.id)
  t.same(
    queued.map((row) => [row.status, row.code, row.attempts]),
    [
      ['queued', 451, 1],
      ['queued', 451, 1],
    ],
  )
  t.match(queued[0]?.last_error, /Greylisted/, 'the reason shows while it waits')
  sink.answerWith(() => null)
  await later(node, MINUTE - 1000)
  t.equal(sink.mails.length, 0, 'not before the minute is up')
  t.same(
    emailRows(node, message.id).map((row) => row.status),
    ['queued', 'queued'],
  )
  await later(node, 1000)
  t.equal(sink.mails.length, 2, 'sent on the retry')
  t.same(
    emailRows(node, message.id).map((row) => [row.status, row.code, row.attempts, row.last_error]),
    [
      ['sent', 250, 2, null],
      ['sent', 250, 2, null],
    ],
  )
})

t.test('temporary refusals for two days end in failed', async (t) => {
  const sink = await startSmtpSink(t)
  sink.answerWith(() => ({ code: 421, message: 'Service not available' }))
  const { node, sarah, lead } = await scene(t, mailEnv(sink))
  const message = await post(sarah, lead.id, 'Hello')
  await node.mail.idle()
  const waits = [MINUTE, 5 * MINUTE, 15 * MINUTE, 60 * MINUTE, 180 * MINUTE, 360 * MINUTE]
  for (const wait of waits) await later(node, wait)
  t.equal(emailRows(node, message.id)[0]?.attempts, 7, 'retried on the schedule')
  for (let i = 0; i < 12; i++) await later(node, 360 * MINUTE)
  const [row] = emailRows(node, message.id)
  t.equal(row?.status, 'failed')
  t.match(row?.last_error, /Service not available.*two days/)
})

t.test('a permanent refusal (550) fails at once with the code and the reason', async (t) => {
  const sink = await startSmtpSink(t)
  sink.answerWith((envelope) =>
    envelope.to.includes('carla@client.test') ? { code: 550, message: 'No such user here' } : null,
  )
  const { node, sarah, lead } = await scene(t, mailEnv(sink))
  const nobody = buildPartner(node, { name: 'Typo Tom', email: 'tom at client.test' })
  await follow(sarah, lead.id, nobody.id)
  const message = await post(sarah, lead.id, 'Hello')
  await node.mail.idle()
  await later(node, 3 * 60 * MINUTE)
  const rows = emailRows(node, message.id)
  t.same(
    rows.map((row) => [row.email_to, row.status, row.code, row.attempts]),
    [
      ['carla@client.test', 'failed', 550, 1],
      ['ivan@acme.test', 'sent', 250, 1],
      ['tom at client.test', 'failed', null, 0],
    ],
    'failed once, never retried; a bad address is never tried',
  )
  t.match(rows[0]?.last_error, /550.*No such user here/)
  t.equal(rows[2]?.last_error, 'not a valid email address: tom at client.test')
  t.same(
    sink.mails.map((mail) => mail.to),
    [['ivan@acme.test']],
  )
})

t.test('an email that cannot be written fails with the reason; the next ones still go', async (t) => {
  const sink = await startSmtpSink(t)
  // No server yet: the emails wait in the queue while the file of the first goes missing.
  const { node, sarah, lead } = await scene(t, { NODE_PUBLIC_URL: 'https://crm.acme.test' })
  const bytes = Buffer.from('the quote')
  const uploaded = await node.app.inject({
    method: 'POST',
    url: `/api/v1/attachments?fileName=quote.txt&recordId=${lead.id}`,
    headers: { authorization: `Bearer ${sarah.secret}`, 'content-type': 'text/plain' },
    payload: bytes,
  })
  const broken = await post(sarah, lead.id, 'With a file', { attachmentIds: [uploaded.json().id] })
  const fine = await post(sarah, lead.id, 'Without')
  await node.mail.idle()
  t.same(
    emailRows(node, broken.id).map((row) => row.status),
    ['queued', 'queued'],
    'waiting for a server',
  )
  const sha = createHash('sha256').update(bytes).digest('hex')
  unlinkSync(join(node.config.attachmentDir, sha.slice(0, 2), sha))
  node.database.db
    .insert(mailSettings)
    .values({
      id: 1,
      smtpHost: '127.0.0.1',
      smtpPort: sink.port,
      smtpSecurity: 'none',
      fromAddress: 'notifications@acme.test',
      mailDomain: 'mail.acme.test',
      updatedAt: node.clock.now(),
    })
    .run()
  node.mail.reconfigure()
  await node.mail.idle()
  const rows = emailRows(node, broken.id)
  t.same(
    rows.map((row) => row.status),
    ['failed', 'failed'],
  )
  t.equal(rows[0]?.last_error, 'the email could not be written: the attached file quote.txt is missing')
  t.same(
    emailRows(node, fine.id).map((row) => row.status),
    ['sent', 'sent'],
    'the next message was sent',
  )
  t.equal(sink.mails.length, 2)
})

t.test('a restarted node sends nothing twice, and sends what was still waiting', async (t) => {
  const sink = await startSmtpSink(t)
  sink.answerWith((envelope) =>
    envelope.to.includes('carla@client.test') ? { code: 451, message: 'Try later' } : null,
  )
  const dataDir = mkdtempSync(join(tmpdir(), 'ochat-node-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const clock = new ManualClock(Date.parse('2026-11-25T10:00:00Z'))
  let messageId = 0
  await t.test('first run', async (t) => {
    const { node, sarah, lead } = await scene(t, mailEnv(sink), { clock, dataDir })
    messageId = (await post(sarah, lead.id, 'Hello')).id
    await node.mail.idle()
    t.same(
      emailRows(node, messageId).map((row) => row.status),
      ['queued', 'sent'],
    )
  })
  sink.answerWith(() => null)
  await t.test('after the restart', async (t) => {
    const node = await buildNode(t, { env: mailEnv(sink), clock, dataDir })
    await node.mail.idle()
    await later(node, 3 * 60 * MINUTE)
    t.same(
      emailRows(node, messageId).map((row) => row.status),
      ['sent', 'sent'],
    )
    t.same(
      sink.mails.map((mail) => mail.to),
      [['ivan@acme.test'], ['carla@client.test']],
      'one email each: the one accepted before the restart was not sent again',
    )
  })
})

t.test('with no mail server set up, emails wait, then fail after two days with the reason', async (t) => {
  const { node, sarah, lead } = await scene(t, {})
  const message = await post(sarah, lead.id, 'Hello')
  await node.mail.idle()
  await later(node, 2 * DAY - MINUTE)
  t.same(
    emailRows(node, message.id).map((row) => row.status),
    ['queued', 'queued'],
    'waiting',
  )
  await later(node, MINUTE)
  const rows = emailRows(node, message.id)
  t.same(
    rows.map((row) => [row.status, row.last_error, row.attempts]),
    [
      ['failed', 'no outgoing mail server is set up', 0],
      ['failed', 'no outgoing mail server is set up', 0],
    ],
  )
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
