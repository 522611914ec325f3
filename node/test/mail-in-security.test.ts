import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { and, eq } from 'drizzle-orm'
import t from 'tap'
import { loadConfig } from '../src/config.ts'
import {
  attachments,
  followers,
  incomingMails,
  mailAliases,
  notifications,
  partners,
} from '../src/db/schema.ts'
import { receiveMail } from '../src/mail/inbound/receive.ts'
import { ensureThreadIds } from '../src/mail/thread-ids.ts'
import {
  chatter,
  DOMAIN,
  dmarcPass,
  dsn,
  leadWithEmailedMessage,
  mail,
  OUR_MX,
  setPolicy,
  setup,
} from './fixtures/mail/inbound.ts'
import { buildPartner, buildRecord, buildUser, type TestNode, until } from './helpers.ts'

/**
 * What a stranger can and cannot do by mail: writing as one of our users, answering a conversation
 * they were never part of, getting into every alias through an open one, leaving files behind with a
 * refused mail, or reporting other people's addresses as gone.
 */

function listed(node: TestNode, id: number) {
  return node.database.db.select().from(incomingMails).where(eq(incomingMails.id, id)).get()
}

function partnerOf(node: TestNode, id: number) {
  return node.database.db.select().from(partners).where(eq(partners.id, id)).get()
}

t.test('a From address of one of our users counts only when our mail server authenticated it', async (t) => {
  const { node, receive, sarah } = await setup(t)
  setPolicy(node, 'support', 'internal')
  const forged = await receive(mail({ from: 'Sarah Sales <sarah@acme.test>', to: `support@${DOMAIN}` }))
  t.equal(forged.outcome, 'refused', 'a From header alone does not make a user')
  t.match(forged.smtp.message, /^5\.7\.1 support@ takes mail from the company's users only/)
  t.match(listed(node, forged.incomingId)?.reason, 'sender not authenticated', 'the list says why')

  const proven = await receive(
    mail({ from: 'sarah@acme.test', to: `support@${DOMAIN}`, authResults: [dmarcPass('acme.test')] }),
  )
  t.equal(proven.outcome, 'created', 'DMARC passed at our MX: it is Sarah')
  const byDkim = await receive(
    mail({
      from: 'sarah@acme.test',
      to: `support@${DOMAIN}`,
      authResults: [`${OUR_MX}; dkim=pass (good signature) header.d=acme.test header.s=s1`],
    }),
  )
  t.equal(byDkim.outcome, 'created', 'a DKIM signature of the From domain proves it too')
  t.match(
    listed(node, byDkim.incomingId)?.reason,
    `sender authenticated: dkim=pass by ${OUR_MX}`,
    'the list says how',
  )
  const twoSignatures = await receive(
    mail({
      from: 'sarah@acme.test',
      to: `support@${DOMAIN}`,
      authResults: [`${OUR_MX}; dkim=pass header.d=mailer.example; dkim=pass header.d=acme.test`],
    }),
  )
  t.equal(twoSignatures.outcome, 'created', "one aligned signature among a mailing service's will do")
  const posted = chatter(node, byDkim.recordId as number).find((row) => row.id === byDkim.messageId)
  t.equal(posted?.authorPartnerId, sarah.partnerId, 'posted as Sarah')

  const attempts: [string, string[]][] = [
    ['a signature of another domain', [`${OUR_MX}; dkim=pass header.d=evil.example`]],
    ['a server we do not trust', ['mx.evil.example; dmarc=pass header.from=acme.test']],
    ['a pass hidden in a comment', [`${OUR_MX}; spf=fail (dmarc=pass) smtp.mailfrom=evil.example`]],
    [
      'a DMARC fail, whatever else passed',
      [`${OUR_MX}; dmarc=fail header.from=acme.test; spf=pass smtp.mailfrom=acme.test`],
    ],
    ['none', [`${OUR_MX}; none`]],
  ]
  for (const [what, authResults] of attempts) {
    const result = await receive(mail({ from: 'sarah@acme.test', to: `support@${DOMAIN}`, authResults }))
    t.equal(result.outcome, 'refused', `not authenticated by ${what}`)
  }

  // The sender writes their own header with our server's id; ours, on top, is the one that counts.
  const smuggled = [
    `Authentication-Results: ${OUR_MX}; spf=none smtp.mailfrom=evil.example`,
    'Received: from mail.evil.example (mail.evil.example [192.0.2.66]) by mx.acme.example',
    `Authentication-Results: ${OUR_MX}; dmarc=pass header.from=acme.test`,
    'From: sarah@acme.test',
    `To: support@${DOMAIN}`,
    'Subject: Wire the money',
    'Message-ID: <smuggled@evil.example>',
    '',
    'Please.',
    '',
  ].join('\r\n')
  t.equal((await receive(smuggled)).outcome, 'refused', "a header below our server's hop is not ours")
})

t.test('over SMTP, results are believed only from the relay clients (NODE_SMTP_RELAY_CLIENTS)', async (t) => {
  const overSmtp = (deps: TestNode['inbound']['deps'], client: string) =>
    receiveMail(deps, {
      raw: Buffer.from(
        mail({ from: 'sarah@acme.test', to: `support@${DOMAIN}`, authResults: [dmarcPass('acme.test')] }),
      ),
      via: 'smtp',
      client,
    })
  const { node, deps } = await setup(t)
  setPolicy(node, 'support', 'internal')
  const direct = await overSmtp(deps, '203.0.113.9')
  t.equal(direct.outcome, 'refused', 'a server on the internet writing our header itself is not believed')
  t.match(
    listed(node, direct.incomingId)?.reason,
    '203.0.113.9 is not one of the mail servers in NODE_SMTP_RELAY_CLIENTS',
  )
  t.equal(
    (await overSmtp(deps, '::ffff:10.1.2.3')).outcome,
    'refused',
    'nor, by default, one on the private network: being near proves nothing',
  )
  t.equal((await overSmtp(deps, '127.0.0.1')).outcome, 'created', 'by default, one on this machine is')
  t.equal((await overSmtp(deps, '::1')).outcome, 'created', 'over IPv6 too')

  const behindRelay = await setup(t, { NODE_SMTP_RELAY_CLIENTS: '10.1.0.0/16, 2001:db8::25' })
  setPolicy(behindRelay.node, 'support', 'internal')
  t.equal((await overSmtp(behindRelay.deps, '::ffff:10.1.2.3')).outcome, 'created', 'a listed range is')
  t.equal((await overSmtp(behindRelay.deps, '2001:db8::25')).outcome, 'created', 'a listed address is')
  t.equal(
    (await overSmtp(behindRelay.deps, '127.0.0.1')).outcome,
    'refused',
    'once the list is set, this machine is no longer taken on trust',
  )
})

t.test('unauthenticated, a user address is an outsider: never posted as the user', async (t) => {
  const { node, receive, sarah } = await setup(t)
  setPolicy(node, 'sales', 'everyone')
  const result = await receive(mail({ from: 'Sarah Sales <sarah@acme.test>', to: `sales@${DOMAIN}` }))
  t.equal(result.outcome, 'created', 'an open alias takes it, as from anyone')
  const posted = chatter(node, result.recordId as number).find((row) => row.id === result.messageId)
  t.not(posted?.authorPartnerId, sarah.partnerId, 'not written by Sarah')
  const author = partnerOf(node, posted?.authorPartnerId ?? 0)
  t.equal(author?.internal, false, 'but by an outside contact')
  t.equal(author?.fromMail, true, 'made from the mail')

  const lead = await buildRecord(sarah, 'lead')
  node.database.db
    .insert(mailAliases)
    .values({
      name: 'desks',
      modelId: node.registry.byName('lead')?.id as number,
      recordId: lead.id,
      contactPolicy: 'followers',
      createdAt: node.clock.now(),
    })
    .run()
  const toFollowers = await receive(mail({ from: 'sarah@acme.test', to: `desks@${DOMAIN}` }))
  t.equal(toFollowers.outcome, 'refused', 'nor does it pass a followers alias as a user would')
})

t.test('an external contact is believed by its From address, as mail clients believe it', async (t) => {
  const { node, receive } = await setup(t)
  const customer = buildPartner(node, { email: 'known@example.com' })
  const result = await receive(mail({ from: 'known@example.com', to: `sales@${DOMAIN}` }))
  t.equal(result.outcome, 'created')
  const posted = chatter(node, result.recordId as number).find((row) => row.id === result.messageId)
  t.equal(posted?.authorPartnerId, customer.id)
  t.match(listed(node, result.incomingId)?.reason, 'sender not authenticated', 'listed as unauthenticated')
})

t.test('a reply by token comes from the address the token was sent to, or is refused', async (t) => {
  const { node, deps, sink, receive, sarah } = await setup(t)
  const { customer, lead, messageId } = await leadWithEmailedMessage(node, sarah)
  const token = deps.tokens.replyToken({ recordId: lead.id, messageId, partnerId: customer.id })
  const before = chatter(node, lead.id).length
  const stranger = await receive(
    mail({ from: 'Mallory <mallory@evil.example>', to: `reply+${token}@${DOMAIN}`, body: 'Pay to me' }),
  )
  t.equal(stranger.outcome, 'refused', 'a forwarded token does not let a stranger in')
  t.match(
    stranger.smtp.message,
    /^5\.7\.1 replies are taken from the people the conversation was sent to only/,
  )
  t.equal(chatter(node, lead.id).length, before, 'nothing posted')
  // The sink also gets the emails of Sarah's message: the notice is the one to Mallory.
  const notice = await until('the notice', () =>
    sink.mails.find((sent) => sent.to.includes('mallory@evil.example')),
  )
  t.match(notice.parsed.text, 'the people the conversation was sent to', 'the sender is told why')
  t.notMatch(notice.parsed.text, 'Standing desks', 'without naming the record')

  const colleague = buildPartner(node, { name: 'Colin', email: 'colin@client.example' })
  await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: colleague.id })
  const fromFollower = await receive(mail({ from: 'colin@client.example', to: `reply+${token}@${DOMAIN}` }))
  t.equal(fromFollower.outcome, 'posted', 'a follower of the record may answer with it')
  const byColin = chatter(node, lead.id).find((row) => row.id === fromFollower.messageId)
  t.equal(byColin?.authorPartnerId, colleague.id, 'as themselves, not as the token holder')

  const own = await receive(mail({ from: 'carla@client.example', to: `reply+${token}@${DOMAIN}` }))
  t.equal(own.outcome, 'posted', 'the token holder may')
  t.equal(chatter(node, lead.id).find((row) => row.id === own.messageId)?.authorPartnerId, customer.id)

  setPolicy(node, 'sales', 'everyone')
  const open = await receive(mail({ from: 'mallory@evil.example', to: `reply+${token}@${DOMAIN}` }))
  t.equal(open.outcome, 'posted', "an alias of the record's model open to everyone lets anyone answer")
})

t.test('a reply by References comes from a follower or a recipient, or is refused', async (t) => {
  const { node, deps, receive, sarah } = await setup(t)
  const { customer, lead, messageId } = await leadWithEmailedMessage(node, sarah)
  const own = await deps.writes.run((tx) =>
    ensureThreadIds(tx, { mail: { id: 0, messageId, recordId: lead.id }, mailDomain: DOMAIN }),
  )
  const threading = { 'In-Reply-To': `<${own.own}>`, References: `<${own.own}>` }
  const stranger = await receive(
    mail({ from: 'mallory@evil.example', to: `someone@${DOMAIN}`, headers: threading }),
  )
  t.equal(stranger.outcome, 'refused', 'knowing a Message-ID is not enough')
  t.equal(stranger.recordId, null)

  // Carla stops following; the email was still sent to her, so her answer is taken.
  node.database.db
    .delete(followers)
    .where(and(eq(followers.recordId, lead.id), eq(followers.partnerId, customer.id)))
    .run()
  const recipient = await receive(
    mail({ from: 'carla@client.example', to: `someone@${DOMAIN}`, headers: threading }),
  )
  t.equal(recipient.outcome, 'posted')
  t.equal(recipient.recordId, lead.id)
})

t.test('a contact made from one mail is no known contact for the other aliases', async (t) => {
  const { node, receive } = await setup(t)
  setPolicy(node, 'support', 'everyone')
  const first = await receive(mail({ from: 'New Person <new@example.org>', to: `support@${DOMAIN}` }))
  t.equal(first.outcome, 'created')
  const made = node.database.db.select().from(partners).where(eq(partners.email, 'new@example.org')).get()
  t.equal(made?.fromMail, true, 'the contact is marked as made from mail')
  const second = await receive(mail({ from: 'new@example.org', to: `sales@${DOMAIN}` }))
  t.equal(second.outcome, 'refused', 'sales@ (known contacts) does not take it')
  t.match(second.smtp.message, 'known contacts only')

  // Following a record makes it known there.
  node.database.db
    .insert(mailAliases)
    .values({
      name: 'ticket-chat',
      modelId: node.registry.byName('ticket')?.id as number,
      recordId: first.recordId,
      contactPolicy: 'partners',
      createdAt: node.clock.now(),
    })
    .run()
  const onItsTicket = await receive(mail({ from: 'new@example.org', to: `ticket-chat@${DOMAIN}` }))
  t.equal(onItsTicket.outcome, 'posted', 'on the ticket it follows, it may write')

  // Someone here vouches for the contact: it is known everywhere from then on.
  const colleague = await buildUser(node)
  t.equal((await colleague.call('GET', `/api/v1/partners/${made?.id}`)).body.fromMail, true)
  t.equal((await colleague.call('PATCH', `/api/v1/partners/${made?.id}`, { fromMail: true })).status, 400)
  const vouched = await colleague.call('PATCH', `/api/v1/partners/${made?.id}`, { fromMail: false })
  t.equal(vouched.body.fromMail, false)
  const third = await receive(mail({ from: 'new@example.org', to: `sales@${DOMAIN}` }))
  t.equal(third.outcome, 'created', 'sales@ takes it once it is vouched for')
})

function withAttachment(from: string, to: string, subject: string, content: string): string {
  return [
    `From: ${from}`,
    `To: ${to}`,
    `Subject: ${subject}`,
    `Message-ID: <${subject.replace(/\W/g, '')}@example.org>`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b"',
    '',
    '--b',
    'Content-Type: text/plain',
    '',
    'See attached.',
    '--b',
    'Content-Type: application/octet-stream; name="offer.bin"',
    'Content-Disposition: attachment; filename="offer.bin"',
    'Content-Transfer-Encoding: base64',
    '',
    Buffer.from(content).toString('base64'),
    '--b--',
    '',
  ].join('\r\n')
}

function storedFiles(node: TestNode): string[] {
  const dir = node.config.attachmentDir
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .filter((name) => name !== '.tmp')
    .flatMap((prefix) => readdirSync(join(dir, prefix)))
}

function tempFiles(node: TestNode): string[] {
  const dir = join(node.config.attachmentDir, '.tmp')
  return existsSync(dir) ? readdirSync(dir) : []
}

t.test('a refused mail leaves no attachment behind, nor does one that failed midway', async (t) => {
  const { node, receive } = await setup(t)
  const refused = await receive(
    withAttachment('stranger@example.net', `sales@${DOMAIN}`, 'Refused with a file', 'secret payload 1'),
  )
  t.equal(refused.outcome, 'refused')
  t.same(storedFiles(node), [], 'no file on disk')
  t.same(tempFiles(node), [], 'nor a temp file')
  t.same(node.database.db.select().from(attachments).all(), [], 'no attachment row')

  node.database.db
    .update(mailAliases)
    .set({ contactPolicy: 'everyone', defaults: { no_such_field: 1 } })
    .where(eq(mailAliases.name, 'sales'))
    .run()
  const failed = await receive(
    withAttachment('stranger@example.net', `sales@${DOMAIN}`, 'Fails with a file', 'secret payload 2'),
  )
  t.equal(failed.outcome, 'error')
  t.same(storedFiles(node), [], 'the file written before the failure is removed')
  t.same(tempFiles(node), [], 'and its temp file')

  setPolicy(node, 'support', 'everyone')
  const taken = await receive(
    withAttachment('stranger@example.net', `support@${DOMAIN}`, 'Taken with a file', 'secret payload 3'),
  )
  t.equal(taken.outcome, 'created')
  t.equal(storedFiles(node).length, 1, 'a mail that is posted keeps its file')
  t.same(tempFiles(node), [], 'moved out of the temp directory')
  t.equal(
    node.database.db
      .select()
      .from(attachments)
      .where(eq(attachments.messageId, taken.messageId ?? 0))
      .all().length,
    1,
  )
})

t.test('a report without our bounce token marks an email only on one unambiguous match', async (t) => {
  const { node, deps, receive, sarah } = await setup(t)
  const { customer, lead, messageId } = await leadWithEmailedMessage(node, sarah)
  const own = await deps.writes.run((tx) =>
    ensureThreadIds(tx, { mail: { id: 0, messageId, recordId: lead.id }, mailDomain: DOMAIN }),
  )
  const statusOf = (partnerId: number) =>
    node.database.db
      .select()
      .from(notifications)
      .where(
        and(
          eq(notifications.messageId, messageId),
          eq(notifications.partnerId, partnerId),
          eq(notifications.channel, 'email'),
        ),
      )
      .get()?.emailStatus

  const noId = await receive(dsn({ recipient: 'carla@client.example', status: '5.1.1', action: 'failed' }))
  t.equal(noId.outcome, 'bounce')
  t.equal(noId.reason, 'no matching email', 'an address alone names no email')
  const otherAddress = await receive(
    dsn({ recipient: 'nobody@client.example', status: '5.1.1', action: 'failed', returnedId: own.own }),
  )
  t.equal(otherAddress.reason, 'no matching email', 'our email was not sent to the reported address')
  t.not(statusOf(customer.id), 'bounced', 'nothing changed')
  t.equal(partnerOf(node, customer.id)?.emailBounces, 0)

  // A second contact with the same address was sent the same email: which one bounced is unknown.
  const twin = buildPartner(node, { name: 'Carla at home', email: 'carla@client.example' })
  const other = await buildRecord(sarah, 'lead', { name: 'Chairs' })
  await sarah.call('POST', `/api/v1/records/${other.id}/followers`, { partnerId: twin.id })
  await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: twin.id })
  const second = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'message',
    body: 'A second offer',
    format: 'markdown',
  })
  const secondId = await deps.writes.run((tx) =>
    ensureThreadIds(tx, {
      mail: { id: 0, messageId: second.body.id, recordId: lead.id },
      mailDomain: DOMAIN,
    }),
  )
  const ambiguous = await receive(
    dsn({ recipient: 'carla@client.example', status: '5.1.1', action: 'failed', returnedId: secondId.own }),
  )
  t.equal(ambiguous.reason, 'no matching email', 'two emails match: none is marked')
  t.equal(partnerOf(node, customer.id)?.emailBounces, 0)
  t.equal(partnerOf(node, twin.id)?.emailBounces, 0)

  const single = await receive(
    dsn({ recipient: 'carla@client.example', status: '5.1.1', action: 'failed', returnedId: own.own }),
  )
  t.match(single.reason, /^bounced: 5\.1\.1/, 'one email to the reported address: marked')
  t.equal(statusOf(customer.id), 'bounced')
  t.equal(partnerOf(node, customer.id)?.emailBounces, 1)
})

t.test('NODE_MAIL_TRUSTED_AUTHSERV: a list of server names, none by default', async (t) => {
  const base = { NODE_DATA_DIR: '/tmp/ochat-unused' }
  t.same(loadConfig(base).mailTrustedAuthserv, [], 'by default no mail is authenticated')
  t.same(
    loadConfig({ ...base, NODE_MAIL_TRUSTED_AUTHSERV: 'MX.Acme.example, mx2.acme.example' })
      .mailTrustedAuthserv,
    ['mx.acme.example', 'mx2.acme.example'],
  )
  t.throws(
    () => loadConfig({ ...base, NODE_MAIL_TRUSTED_AUTHSERV: 'mx.acme.example; dmarc=pass' }),
    /NODE_MAIL_TRUSTED_AUTHSERV/,
  )
  const smtp = loadConfig({ ...base, NODE_SMTP_PORT: '2525' }).inboundSmtp
  t.equal(smtp?.maxConnections, 100)
  t.equal(smtp?.maxConnectionsPerIp, 10)
  t.same(smtp?.relayClients, ['127.0.0.1/8', '::1'], 'by default the relay clients are this machine')
  t.same(loadConfig({ ...base, NODE_SMTP_RELAY_CLIENTS: 'none' }).smtpRelayClients, [])
  t.throws(
    () => loadConfig({ ...base, NODE_SMTP_RELAY_CLIENTS: '10.0.0.0/33' }),
    /NODE_SMTP_RELAY_CLIENTS.*prefix length/s,
  )
  t.throws(() => loadConfig({ ...base, NODE_SMTP_RELAY_CLIENTS: 'mx.acme.example' }), /not an IP address/)
})
