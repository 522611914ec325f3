import { and, eq } from 'drizzle-orm'
import t from 'tap'
import { notifications, partners } from '../src/db/schema.ts'
import { ensureThreadIds } from '../src/mail/thread-ids.ts'
import {
  chatter,
  DOMAIN,
  dmarcPass,
  dsn,
  leadWithEmailedMessage,
  mail,
  setPolicy,
  setup,
} from './fixtures/mail/inbound.ts'
import { buildUser } from './helpers.ts'

/**
 * Replies and bounces as people see them: a reply lands on the record it answers (as a note when it
 * answers one), and a report of undelivered mail marks the email bounced.
 */

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
      authResults: [dmarcPass('acme.test')],
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
    mail({
      from: 'sarah@acme.test',
      to: `reply+${ottoToken}@${DOMAIN}`,
      body: 'Noted, Otto',
      authResults: [dmarcPass('acme.test')],
    }),
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

  await receive(
    mail({
      from: 'carla@client.example',
      to: `sales@${DOMAIN}`,
      subject: 'I am back',
      authResults: [dmarcPass('client.example')],
    }),
  )
  t.equal(
    node.database.db.select().from(partners).where(eq(partners.id, customer.id)).get()?.emailBounces,
    0,
    'a mail shown to come from the address resets the count',
  )
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
