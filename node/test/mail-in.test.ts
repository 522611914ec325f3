import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { and, eq } from 'drizzle-orm'
import t, { type Test } from 'tap'
import { incomingMails, mailAliases, messages, notifications, partners, records } from '../src/db/schema.ts'
import { acceptsRecipient, receiveMail } from '../src/mail/inbound/receive.ts'
import { ensureThreadIds } from '../src/mail/thread-ids.ts'
import {
  type Actor,
  buildNode,
  buildPartner,
  buildRecord,
  buildUser,
  type TestNode,
  until,
} from './helpers.ts'
import { startSmtpSink } from './smtp-sink.ts'

/**
 * Incoming mail as its senders and the company see it: mail to an alias makes a record, replies land
 * on the record they answer, reports of undelivered mail mark the email bounced, and what must not be
 * taken in (loops, refusals, broken mail) leaves nothing behind but a line in the administrator's list.
 */

const DOMAIN = 'acme.example'

async function setup(t: Test) {
  const sink = await startSmtpSink(t)
  const node = await buildNode(t, {
    env: { NODE_SMTP_URL: sink.url, NODE_MAIL_DOMAIN: DOMAIN, NODE_MAIL_FROM: `notifications@${DOMAIN}` },
  })
  const deps = node.inbound.deps
  const receive = (raw: string, via: 'smtp' | 'http' | 'cli' = 'http') =>
    receiveMail(deps, { raw: Buffer.from(raw), via })
  const sarah = await buildUser(node, { name: 'Sarah Sales', email: 'sarah@acme.test' })
  return { node, sink, deps, receive, sarah }
}

let serial = 0
function mail(input: {
  from: string
  to: string
  subject?: string
  body?: string
  headers?: Record<string, string>
}): string {
  const headers = {
    From: input.from,
    To: input.to,
    Subject: input.subject ?? 'Hello',
    'Message-ID': `<m${++serial}.${Date.now()}@example.com>`,
    Date: 'Mon, 7 Dec 2026 10:00:00 +0000',
    'MIME-Version': '1.0',
    'Content-Type': 'text/plain; charset=utf-8',
    ...input.headers,
  }
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}`)
  return `${lines.join('\r\n')}\r\n\r\n${input.body ?? 'Hello there.'}\r\n`
}

function chatter(node: TestNode, recordId: number) {
  return node.database.db
    .select()
    .from(messages)
    .where(eq(messages.recordId, recordId))
    .orderBy(messages.id)
    .all()
}

function setPolicy(node: TestNode, name: string, policy: 'everyone' | 'partners' | 'followers' | 'internal') {
  node.database.db.update(mailAliases).set({ contactPolicy: policy }).where(eq(mailAliases.name, name)).run()
}

/** A lead followed by a customer, with a message by Sarah emailed to the customer. */
async function leadWithEmailedMessage(node: TestNode, sarah: Actor, kind: 'message' | 'note' = 'message') {
  const customer = buildPartner(node, { name: 'Carla Customer', email: 'carla@client.example' })
  const lead = await buildRecord(sarah, 'lead', { name: 'Standing desks' })
  await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: customer.id })
  const posted = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind,
    body: kind === 'note' ? 'Internal: margin is thin' : 'Here is our offer',
    format: 'markdown',
  })
  if (posted.status !== 201) throw new Error(`not posted: ${posted.status}`)
  const messageId = posted.body.id as number
  return { customer, lead, messageId }
}

t.test('a mail to sales@ from a known contact becomes a lead, with the mail in its chatter', async (t) => {
  const { node, receive, sarah } = await setup(t)
  const customer = buildPartner(node, { name: 'Maria Lopez', email: 'maria@example.com' })
  const result = await receive(
    mail({
      from: 'Maria Lopez <Maria@Example.com>',
      to: `sales@${DOMAIN}`,
      subject: '40 standing desks',
      body: 'Could you quote 40 desks?\n\nThanks,\nMaria',
    }),
  )
  t.equal(result.outcome, 'created')
  t.equal(result.smtp.code, 250)
  const lead = await sarah.call('GET', `/api/v1/records/${result.recordId}`)
  t.equal(lead.body.name, '40 standing desks', 'named after the subject')
  t.equal(lead.body.values.partner_id, customer.id, 'the sender is the customer')
  t.equal(lead.body.values.email, 'maria@example.com')
  const posted = chatter(node, result.recordId as number).find((row) => row.id === result.messageId)
  t.equal(posted?.authorPartnerId, customer.id, 'written by the sender')
  t.equal(posted?.emailFrom, 'maria@example.com', 'marked as an email from its address')
  t.equal(
    posted?.body,
    '<p>Could you quote 40 desks?</p><p>Thanks,<br />Maria</p>',
    'text as escaped paragraphs',
  )
  t.equal(posted?.kind, 'message')
})

t.test('sales@ refuses unknown senders by default and tells them why; everyone lets them in', async (t) => {
  const { node, sink, receive } = await setup(t)
  const refused = await receive(
    mail({ from: 'Stranger <stranger@example.net>', to: `sales@${DOMAIN}`, subject: 'Hi' }),
  )
  t.equal(refused.outcome, 'refused')
  t.equal(refused.smtp.code, 550)
  t.match(refused.smtp.message, /^5\.7\.1 sales@ takes mail from known contacts only/)
  const notice = await sink.next()
  t.same(notice.to, ['stranger@example.net'], 'a bounce goes back to the sender')
  t.match(notice.parsed.text, 'known contacts only', 'with the reason')
  t.equal(notice.parsed.headers.get('auto-submitted'), 'auto-replied', 'marked automatic')
  t.equal(
    node.database.db.select().from(partners).where(eq(partners.email, 'stranger@example.net')).all().length,
    0,
    'no contact was made for them',
  )
  const kept = node.database.db
    .select()
    .from(incomingMails)
    .where(eq(incomingMails.id, refused.incomingId))
    .get()
  t.ok(kept?.rawFile && existsSync(join(node.dataDir, kept.rawFile)), 'the raw mail is kept for the admin')

  const overSmtp = await receive(mail({ from: 'stranger@example.net', to: `sales@${DOMAIN}` }), 'smtp')
  t.equal(overSmtp.smtp.code, 550, 'over SMTP the refusal is the answer')

  setPolicy(node, 'sales', 'everyone')
  const taken = await receive(
    mail({ from: 'Sam Stranger <stranger@example.net>', to: `sales@${DOMAIN}`, subject: 'Hi again' }),
  )
  t.equal(taken.outcome, 'created')
  const made = node.database.db
    .select()
    .from(partners)
    .where(eq(partners.email, 'stranger@example.net'))
    .get()
  t.equal(made?.name, 'Sam Stranger', 'a new contact named from the From display name')
  t.equal(sink.mails.length, 1, 'only the HTTP refusal was answered with a notice')
})

t.test('internal and followers policies', async (t) => {
  const { node, receive, sarah } = await setup(t)
  const customer = buildPartner(node, { email: 'known@example.com' })
  setPolicy(node, 'support', 'internal')
  t.equal((await receive(mail({ from: 'known@example.com', to: `support@${DOMAIN}` }))).outcome, 'refused')
  t.equal(
    (await receive(mail({ from: 'sarah@acme.test', to: `support@${DOMAIN}` }))).outcome,
    'created',
    'a user may',
  )
  const lead = await buildRecord(sarah, 'lead')
  const sales = node.registry.byName('lead')?.id as number
  node.database.db
    .insert(mailAliases)
    .values({
      name: 'desks',
      modelId: sales,
      recordId: lead.id,
      contactPolicy: 'followers',
      createdAt: node.clock.now(),
    })
    .run()
  t.equal(
    (await receive(mail({ from: 'known@example.com', to: `desks@${DOMAIN}` }))).outcome,
    'refused',
    'not a follower',
  )
  await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: customer.id })
  const posted = await receive(
    mail({ from: 'known@example.com', to: `desks@${DOMAIN}`, body: 'As a follower' }),
  )
  t.equal(posted.outcome, 'posted', 'a follower may')
  t.equal(posted.recordId, lead.id, 'a record alias posts on its record')
})

t.test('a reply threads by its reply token, by References, and by the token alone', async (t) => {
  const { node, deps, receive, sarah } = await setup(t)
  const { customer, lead, messageId } = await leadWithEmailedMessage(node, sarah)
  const token = deps.tokens.replyToken({ recordId: lead.id, messageId, partnerId: customer.id })
  const byToken = await receive(
    mail({
      from: 'Carla <carla@client.example>',
      to: `"Acme Standing desks" <reply+${token}@${DOMAIN}>`,
      subject: 'Re: offer',
      body: 'Token only',
    }),
  )
  t.equal(byToken.outcome, 'posted')
  t.equal(byToken.recordId, lead.id)
  const reply = chatter(node, lead.id).find((row) => row.id === byToken.messageId)
  t.equal(reply?.parentId, messageId, 'answers the message the token names')
  t.equal(reply?.authorPartnerId, customer.id, 'by the partner the token was made for')

  const own = await deps.writes.run((tx) =>
    ensureThreadIds(tx, { mail: { id: 0, messageId, recordId: lead.id }, mailDomain: DOMAIN }),
  )
  const byReferences = await receive(
    mail({
      from: 'carla@client.example',
      to: `someone@${DOMAIN}`,
      subject: 'Re: offer',
      body: 'By references',
      headers: { References: `<unrelated@example.com> <${own.own}>`, 'In-Reply-To': `<${own.own}>` },
    }),
  )
  t.equal(byReferences.outcome, 'posted')
  t.equal(byReferences.recordId, lead.id)
  t.equal(chatter(node, lead.id).find((row) => row.id === byReferences.messageId)?.parentId, messageId)

  const forged = await receive(
    mail({
      from: 'carla@client.example',
      to: `reply+${token.slice(0, -1)}${token.endsWith('0') ? '1' : '0'}@${DOMAIN}`,
    }),
  )
  t.equal(forged.outcome, 'refused', 'a forged token is an unknown address')
})

t.test('a reply to a log note stays a note, and its author is told', async (t) => {
  const { node, deps, receive, sarah } = await setup(t)
  const { customer, lead, messageId } = await leadWithEmailedMessage(node, sarah, 'note')
  const token = deps.tokens.replyToken({ recordId: lead.id, messageId, partnerId: sarah.partnerId })
  const result = await receive(
    mail({
      from: 'Sarah <sarah@acme.test>',
      to: `reply+${token}@${DOMAIN}`,
      headers: { Cc: 'carla@client.example' },
      body: 'Agreed, keep it quiet',
    }),
  )
  t.equal(result.outcome, 'posted')
  const listed = await sarah.call('GET', `/api/v1/records/${lead.id}/messages`)
  const shown = listed.body.items.find((item: { id: number }) => item.id === result.messageId)
  t.equal(shown.kind, 'note', 'posted as a note')
  t.equal(shown.internal, true, 'internal')
  const toCustomer = node.database.db
    .select()
    .from(notifications)
    .where(
      and(eq(notifications.messageId, result.messageId as number), eq(notifications.partnerId, customer.id)),
    )
    .all()
  t.same(toCustomer, [], 'the customer following the record is told nothing')

  const reader = await buildUser(node, { name: 'Otto Other' })
  const ottoNote = await reader.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'note',
    body: 'Otto note',
    format: 'markdown',
  })
  const ottoToken = deps.tokens.replyToken({
    recordId: lead.id,
    messageId: ottoNote.body.id,
    partnerId: sarah.partnerId,
  })
  const answer = await receive(
    mail({ from: 'sarah@acme.test', to: `reply+${ottoToken}@${DOMAIN}`, body: 'Noted, Otto' }),
  )
  const told = node.database.db
    .select()
    .from(notifications)
    .where(
      and(
        eq(notifications.messageId, answer.messageId as number),
        eq(notifications.partnerId, reader.partnerId),
      ),
    )
    .get()
  t.equal(told?.reason, 'mention', "the note's author is told as if mentioned")
})

function dsn(input: { token: string; recipient: string; status: string; action: string }): string {
  return [
    'From: MAILER-DAEMON@mx.example.net (Mail Delivery System)',
    `To: bounce+${input.token}@${DOMAIN}`,
    'Subject: Undelivered Mail Returned to Sender',
    `Message-ID: <dsn${++serial}@mx.example.net>`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/plain',
    '',
    'Your message could not be delivered.',
    '',
    '--b1',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.example.net',
    '',
    `Final-Recipient: rfc822; ${input.recipient}`,
    `Action: ${input.action}`,
    `Status: ${input.status}`,
    `Diagnostic-Code: smtp; ${input.status.startsWith('5') ? '550' : '450'} ${input.status} mailbox says no`,
    '',
    '--b1--',
    '',
  ].join('\r\n')
}

t.test('a delivery report marks the email bounced and counts it; a delay changes nothing', async (t) => {
  const { node, deps, receive, sarah } = await setup(t)
  const { customer, lead, messageId } = await leadWithEmailedMessage(node, sarah)
  const row = node.database.db
    .select()
    .from(notifications)
    .where(and(eq(notifications.messageId, messageId), eq(notifications.partnerId, customer.id)))
    .get()
  if (!row) throw new Error('no email notification')
  const token = deps.tokens.bounceToken({ source: 'record', notificationId: row.id })
  const delayed = await receive(
    dsn({ token, recipient: 'carla@client.example', status: '4.4.1', action: 'delayed' }),
  )
  t.equal(delayed.outcome, 'bounce')
  t.match(delayed.reason, /^delayed/)
  const emailsAfterDelay = await sarah.call('GET', `/api/v1/records/${lead.id}/emails`)
  t.not(emailsAfterDelay.body.items[0].status, 'bounced', 'a delay is not a bounce')
  t.equal(node.database.db.select().from(partners).where(eq(partners.id, customer.id)).get()?.emailBounces, 0)
  const relayed = await receive(
    dsn({ token, recipient: 'carla@client.example', status: '2.0.0', action: 'relayed' }),
  )
  t.match(relayed.reason, /^delivered/, 'a report of delivery says so')
  const emailsAfterRelay = await sarah.call('GET', `/api/v1/records/${lead.id}/emails`)
  t.not(emailsAfterRelay.body.items[0].status, 'bounced', 'and is no bounce')

  const bounced = await receive(
    dsn({ token, recipient: 'carla@client.example', status: '5.1.1', action: 'failed' }),
  )
  t.equal(bounced.outcome, 'bounce')
  t.equal(bounced.smtp.code, 250)
  const emails = await sarah.call('GET', `/api/v1/records/${lead.id}/emails`)
  t.equal(emails.body.items[0].status, 'bounced', 'the email shows bounced')
  t.match(emails.body.items[0].reason, '5.1.1', 'with the status of the report')
  t.equal(
    node.database.db.select().from(partners).where(eq(partners.id, customer.id)).get()?.emailBounces,
    1,
    'counted',
  )

  await receive(mail({ from: 'carla@client.example', to: `sales@${DOMAIN}`, subject: 'I am back' }))
  t.equal(
    node.database.db.select().from(partners).where(eq(partners.id, customer.id)).get()?.emailBounces,
    0,
    'a mail from the address resets the count',
  )
})

t.test('the loop guard drops the 21st new record from one sender within 120 minutes', async (t) => {
  const { node, receive } = await setup(t)
  buildPartner(node, { email: 'robot@example.com' })
  for (let i = 1; i <= 20; i++) {
    const result = await receive(
      mail({ from: 'robot@example.com', to: `sales@${DOMAIN}`, subject: `Order ${i}` }),
    )
    if (result.outcome !== 'created') t.fail(`mail ${i}: ${result.outcome}`)
    node.clock.advance(60_000)
  }
  const looped = await receive(
    mail({ from: 'robot@example.com', to: `sales@${DOMAIN}`, subject: 'Order 21' }),
  )
  t.equal(looped.outcome, 'loop')
  t.equal(looped.smtp.code, 250, 'taken and dropped, so the sender does not retry')
  t.equal(looped.recordId, null)
  const leads = node.database.db
    .select()
    .from(records)
    .where(eq(records.modelId, node.registry.byName('lead')?.id as number))
    .all()
  t.equal(leads.filter((lead) => lead.name.startsWith('Order')).length, 20, 'no 21st lead')
  const listed = node.database.db.select().from(incomingMails).where(eq(incomingMails.outcome, 'loop')).all()
  t.equal(listed.length, 1, 'listed for the admin')
  node.clock.advance(121 * 60_000)
  const later = await receive(mail({ from: 'robot@example.com', to: `sales@${DOMAIN}`, subject: 'Order 22' }))
  t.equal(later.outcome, 'created', 'after the window it is taken again')
})

t.test('a second copy of a mail is dropped; a mail of ours that came back is a loop', async (t) => {
  const { node, receive } = await setup(t)
  buildPartner(node, { email: 'twice@example.com' })
  const raw = mail({ from: 'twice@example.com', to: `sales@${DOMAIN}`, subject: 'Once only' })
  t.equal((await receive(raw)).outcome, 'created')
  const again = await receive(raw)
  t.equal(again.outcome, 'duplicate')
  t.equal(again.smtp.code, 250)
  t.equal(
    node.database.db
      .select()
      .from(records)
      .all()
      .filter((row) => row.name === 'Once only').length,
    1,
    'one lead',
  )
  const loop = await receive(
    mail({ from: 'twice@example.com', to: `sales@${DOMAIN}`, headers: { 'X-OChat-Loop': DOMAIN } }),
  )
  t.equal(loop.outcome, 'loop')
  const auto = await receive(
    mail({ from: 'twice@example.com', to: `sales@${DOMAIN}`, headers: { 'Auto-Submitted': 'auto-replied' } }),
  )
  t.equal(auto.outcome, 'auto')
})

t.test('a failure midway leaves nothing but the error in the list', async (t) => {
  const { node, receive } = await setup(t)
  node.database.db
    .update(mailAliases)
    .set({ contactPolicy: 'everyone', defaults: { no_such_field: 1 } })
    .where(eq(mailAliases.name, 'sales'))
    .run()
  const result = await receive(
    mail({ from: 'New Person <new@example.org>', to: `sales@${DOMAIN}`, subject: 'Broken defaults' }),
  )
  t.equal(result.outcome, 'error')
  t.equal(result.smtp.code, 554)
  t.equal(
    node.database.db.select().from(partners).where(eq(partners.email, 'new@example.org')).all().length,
    0,
    'no contact',
  )
  t.equal(
    node.database.db
      .select()
      .from(records)
      .all()
      .filter((row) => row.name === 'Broken defaults').length,
    0,
    'no lead',
  )
  const listed = node.database.db
    .select()
    .from(incomingMails)
    .where(eq(incomingMails.id, result.incomingId))
    .get()
  t.match(listed?.reason, 'no_such_field', 'the reason is listed')
  t.ok(listed?.rawFile && existsSync(join(node.dataDir, listed.rawFile)), 'with the raw mail')
})

t.test('raw mail is kept 14 days, then swept', async (t) => {
  const { node, receive } = await setup(t)
  const broken = await receive('Subject: no sender\r\n\r\nbody\r\n')
  t.equal(broken.outcome, 'error')
  t.equal(broken.reason, 'no sender address')
  const row = () =>
    node.database.db.select().from(incomingMails).where(eq(incomingMails.id, broken.incomingId)).get()
  const file = join(node.dataDir, row()?.rawFile ?? 'missing')
  t.ok(existsSync(file), 'kept')
  node.clock.advance(15 * 24 * 3600_000)
  await receive('Subject: another\r\n\r\nbody\r\n')
  await until('the sweep', () => !existsSync(file))
  await until('the row forgets the file', () => row()?.rawFile === null)
  t.pass('removed after 14 days')
})

t.test('which addresses the node takes mail for', async (t) => {
  const { deps } = await setup(t)
  t.ok(acceptsRecipient(deps, `sales@${DOMAIN}`))
  t.ok(acceptsRecipient(deps, `SUPPORT@ACME.EXAMPLE`))
  t.ok(acceptsRecipient(deps, `reply+anything@${DOMAIN}`))
  t.ok(acceptsRecipient(deps, `bounce+anything@${DOMAIN}`))
  t.notOk(
    acceptsRecipient(deps, `catchall@${DOMAIN}`),
    'the catchall itself: refused at RCPT, not after reading the mail',
  )
  t.notOk(acceptsRecipient(deps, `nobody@${DOMAIN}`))
  t.notOk(acceptsRecipient(deps, 'sales@example.com'))
})

t.test('a reply to a deleted record makes a new one through the alias it was also sent to', async (t) => {
  const { node, deps, receive, sarah } = await setup(t)
  const { customer, lead, messageId } = await leadWithEmailedMessage(node, sarah)
  const token = deps.tokens.replyToken({ recordId: lead.id, messageId, partnerId: customer.id })
  t.equal((await sarah.call('DELETE', `/api/v1/records/${lead.id}`)).status, 204)
  const result = await receive(
    mail({
      from: 'carla@client.example',
      to: `reply+${token}@${DOMAIN}`,
      subject: 'Re: Standing desks',
      headers: { Cc: `sales@${DOMAIN}` },
    }),
  )
  t.equal(result.outcome, 'created')
  t.not(result.recordId, lead.id)
  const made = await sarah.call('GET', `/api/v1/records/${result.recordId}`)
  t.equal(made.body.name, 'Re: Standing desks', 'a new lead from the reply')
})

t.test('a mail carrying a Message-ID of our own domain cannot take over the replies to ours', async (t) => {
  const { node, deps, receive, sarah } = await setup(t)
  setPolicy(node, 'sales', 'everyone')
  // The Message-ID the node gave one of its emails.
  const { lead, messageId } = await leadWithEmailedMessage(node, sarah)
  const ours = await deps.writes.run((tx) =>
    ensureThreadIds(tx, { mail: { id: 0, messageId, recordId: lead.id }, mailDomain: DOMAIN }),
  )
  const squatter = await receive(
    mail({
      from: 'mallory@evil.example',
      to: `sales@${DOMAIN}`,
      subject: 'Totally normal lead',
      headers: { 'Message-ID': `<${ours.own}>` },
    }),
  )
  t.equal(squatter.outcome, 'created', 'the mail itself is taken in')
  const stored = chatter(node, squatter.recordId as number).find((row) => row.id === squatter.messageId)
  t.not(stored?.emailMessageId, ours.own, 'but not under our Message-ID')
  const reply = await receive(
    mail({
      from: 'carla@client.example',
      to: `someone@${DOMAIN}`,
      subject: 'Re: offer',
      headers: { 'In-Reply-To': `<${ours.own}>`, References: `<${ours.own}>` },
    }),
  )
  t.equal(reply.recordId, lead.id, 'a reply to our email still reaches our record')
})
