import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import t from 'tap'
import { incomingMails, mailAliases, partners, records } from '../src/db/schema.ts'
import { acceptsRecipient } from '../src/mail/inbound/receive.ts'
import { chatter, DOMAIN, dmarcPass, mail, setPolicy, setup } from './fixtures/mail/inbound.ts'
import { buildPartner, buildRecord, until } from './helpers.ts'

/**
 * Incoming mail as its senders and the company see it: mail to an alias makes a record or posts on
 * it, who may write to which alias, and what must not be taken in (loops, refusals, broken mail)
 * leaves nothing behind but a line in the administrator's list. Replies and bounces:
 * mail-in-replies.test.ts; forged senders and other attacks: mail-in-security.test.ts.
 */

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
    (
      await receive(
        mail({ from: 'sarah@acme.test', to: `support@${DOMAIN}`, authResults: [dmarcPass('acme.test')] }),
      )
    ).outcome,
    'created',
    'a user may, from an authenticated address',
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
