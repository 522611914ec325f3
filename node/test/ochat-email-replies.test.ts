import t from 'tap'
import { buildUser } from './helpers.ts'
import {
  addGlobex,
  drain,
  emailPartnerNode,
  MAIL_DOMAIN,
  messageView,
  send,
  takeIn,
} from './ochat-email-helpers.ts'

/**
 * What comes back from a partner reached by email: replies through the reply token (or threading
 * headers) land in its channel and are told to its members; anyone else's mail is refused; delivery
 * reports make a message Bounced. Mail is taken in the way the intake dispatches it
 * (ochat-email-helpers.ts takeIn); what goes out goes to a real SMTP sink.
 */

type Sent = Awaited<ReturnType<typeof emailPartnerNode>>

/** Globex added, one message sent and accepted: its email's reply and bounce addresses and Message-ID. */
async function conversation(setup: Sent) {
  const { node, admin, member, contact, sink } = setup
  const { connectionId, channelId } = await addGlobex(admin, contact.id)
  const sent = await send(member, channelId, 'Your order 42 ships on Monday')
  await drain(node)
  const mail = await sink.next()
  return {
    connectionId,
    channelId,
    sent,
    replyTo: mail.parsed.replyTo?.value[0]?.address as string,
    bounceTo: mail.from,
    messageId: mail.parsed.messageId as string,
  }
}

function reply(input: {
  from: string
  to: string
  messageId: string
  inReplyTo?: string
  body: string
  attachment?: { name: string; content: string }
}): string {
  const headers = [
    `From: Gina Globex <${input.from}>`,
    `To: ${input.to}`,
    'Subject: Re: Acme – Globex',
    `Message-ID: <${input.messageId}>`,
    ...(input.inReplyTo ? [`In-Reply-To: ${input.inReplyTo}`, `References: ${input.inReplyTo}`] : []),
    'Date: Wed, 25 Nov 2026 10:05:00 +0000',
    'MIME-Version: 1.0',
  ]
  if (!input.attachment)
    return [...headers, 'Content-Type: text/plain; charset=utf-8', '', input.body, ''].join('\r\n')
  return [
    ...headers,
    'Content-Type: multipart/mixed; boundary="part"',
    '',
    '--part',
    'Content-Type: text/plain; charset=utf-8',
    '',
    input.body,
    '--part',
    `Content-Type: text/plain; name="${input.attachment.name}"`,
    `Content-Disposition: attachment; filename="${input.attachment.name}"`,
    '',
    input.attachment.content,
    '--part--',
    '',
  ].join('\r\n')
}

let reports = 0

/** A delivery report (RFC 3464), each with its own Message-ID as a real server writes it. */
function report(input: { to: string; status: string; diagnostic: string }): string {
  reports++
  return [
    'From: Mail Delivery System <mailer-daemon@mx.globex.test>',
    `To: ${input.to}`,
    'Subject: Undelivered Mail Returned to Sender',
    `Message-ID: <dsn-${reports}@mx.globex.test>`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status; boundary="report"',
    '',
    '--report',
    'Content-Type: text/plain',
    '',
    'Your message could not be delivered.',
    '--report',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.globex.test',
    '',
    'Final-Recipient: rfc822; orders@globex.test',
    'Action: failed',
    `Status: ${input.status}`,
    `Diagnostic-Code: smtp; ${input.diagnostic}`,
    '--report--',
    '',
  ].join('\r\n')
}

t.test(
  'a reply by the token lands in the channel, without the quoted history, and members are told',
  async (t) => {
    const setup = await emailPartnerNode(t)
    const { node, member, sink } = setup
    const emailed = await buildUser(node, { name: 'Eve Emailed', notification: 'email' })
    const { channelId, replyTo, messageId, sent } = await conversation(setup)

    const taken = await takeIn(
      node,
      reply({
        from: 'Orders@Globex.test',
        to: replyTo,
        messageId: 'r1@globex.test',
        inReplyTo: messageId,
        body: 'Thanks, Monday works.\n\nOn Mon, Mia Member wrote:\n> Your order 42 ships on Monday',
        attachment: { name: 'po-42.txt', content: 'Purchase order 42' },
      }),
    )
    t.match(taken, { outcome: 'posted', reason: null })
    // The intake's answer names chatter messages only; the channel's newest message is the reply.
    const page = await member.call('GET', `/api/v1/ochat/channels/${channelId}/messages`)
    const shown = await messageView(
      member,
      channelId,
      Math.max(...page.body.items.map((item: { id: number }) => item.id)),
    )
    t.match(shown, {
      direction: 'in',
      transport: 'email',
      status: 'received',
      author: { name: 'Gina Globex', company: 'Globex', userId: null },
      files: [{ name: 'po-42.txt', state: 'ready' }],
    })
    t.match(shown.html, /Thanks, Monday works\./)
    t.notMatch(shown.html, /ships on Monday/, 'the quoted history is left out')
    const file = await member.call('GET', `/api/v1/attachments/${shown.files[0].attachmentId}/content`)
    t.equal(file.response.body, 'Purchase order 42', 'its file can be downloaded by a member')

    const channels = await member.call('GET', '/api/v1/ochat/channels')
    t.match(
      channels.body.items,
      [{ id: channelId, unread: 1, lastMessage: { direction: 'in' } }],
      'an unread message',
    )
    await drain(node)
    const notice = await sink.next()
    t.same(notice.to, [`${emailed.login}@acme.test`], 'a member who gets email is emailed')
    t.match(notice.parsed.subject, /Gina Globex \(Globex\)/)

    const opened = await member.call('POST', `/api/v1/ochat/channels/${channelId}/read`)
    t.match(opened.body, { read: 1, opened: 1 })
    const receipts = node.database.sqlite
      .prepare("select count(*) as n from ochat_messages where read_receipt = 'due'")
      .get() as { n: number }
    t.equal(receipts.n, 0, 'no Read receipt is due: there is no node to send one to')

    // Our next email answers theirs, so the conversation stays one in their mail program.
    await send(member, channelId, 'Great, see you Monday')
    await drain(node)
    const next = await sink.next()
    t.equal(next.parsed.inReplyTo, '<r1@globex.test>')
    t.same([next.parsed.references].flat(), [messageId, '<r1@globex.test>'])

    const again = await takeIn(
      node,
      reply({
        from: 'orders@globex.test',
        to: replyTo,
        messageId: 'r1@globex.test',
        body: 'Thanks, Monday works.',
      }),
    )
    t.match(again, { outcome: 'duplicate' }, 'the same email twice is one message')
    t.ok(sent.id)
  },
)

t.test(
  'only the partner may reply: another address, a forged token and a closed channel are refused',
  async (t) => {
    const setup = await emailPartnerNode(t)
    const { node, admin } = setup
    const { channelId, connectionId, replyTo, messageId } = await conversation(setup)
    const count = () =>
      (
        node.database.sqlite
          .prepare("select count(*) as n from ochat_messages where direction = 'in'")
          .get() as { n: number }
      ).n

    const stranger = await takeIn(
      node,
      reply({
        from: 'mallory@evil.test',
        to: replyTo,
        messageId: 'm1@evil.test',
        body: 'Send the goods to me',
      }),
    )
    t.match(stranger, {
      outcome: 'refused',
      reason: /mallory@evil\.test may not write into this conversation/,
    })
    t.notMatch(stranger.reason, /orders@globex/, 'the refusal does not name the partner')

    const forged = replyTo.replace(/-[0-9a-f]{20}@/, `-${'0'.repeat(20)}@`)
    const forgedAnswer = await takeIn(
      node,
      reply({ from: 'orders@globex.test', to: forged, messageId: 'f1@globex.test', body: 'Hello' }),
    )
    t.match(forgedAnswer, { outcome: 'refused' }, 'a forged token names nothing')

    const byHeaders = await takeIn(
      node,
      reply({
        from: 'orders@globex.test',
        to: `sales@${MAIL_DOMAIN}`,
        messageId: 'h1@globex.test',
        inReplyTo: messageId,
        body: 'Found you by the thread',
      }),
    )
    t.match(byHeaders, { outcome: 'posted' }, 'the partner may answer by the threading headers alone')
    t.equal(count(), 1, 'only that one was taken in')

    await admin.call('POST', `/api/v1/ochat/connections/${connectionId}/revoke`)
    const closed = await takeIn(
      node,
      reply({ from: 'orders@globex.test', to: replyTo, messageId: 'c1@globex.test', body: 'Still there?' }),
    )
    t.match(closed, { outcome: 'refused', reason: /closed/ })
    t.equal(count(), 1)
    t.ok(channelId)
  },
)

t.test(
  'a delivery report makes the message Bounced; a delay changes nothing; Retry sends it again',
  async (t) => {
    const setup = await emailPartnerNode(t)
    const { node, member, sink } = setup
    const { channelId, sent, bounceTo } = await conversation(setup)

    const delayed = await takeIn(
      node,
      report({ to: bounceTo, status: '4.4.7', diagnostic: '451 4.4.7 delivery delayed' }),
      [bounceTo],
    )
    t.match(delayed, { reason: /delayed/ })
    t.equal((await messageView(member, channelId, sent.id)).status, 'sent', 'a delay is not a bounce')

    await takeIn(node, report({ to: bounceTo, status: '5.1.1', diagnostic: '550 5.1.1 mailbox unknown' }), [
      bounceTo,
    ])
    t.match(await messageView(member, channelId, sent.id), {
      status: 'bounced',
      reason: /5\.1\.1.*mailbox unknown/,
      nextStep: /check the partner's address/,
    })

    const retried = await member.call('POST', `/api/v1/ochat/messages/${sent.id}/retry`)
    t.equal(retried.status, 200)
    await drain(node)
    const again = await sink.next()
    t.same(again.to, ['orders@globex.test'])
    t.match(await messageView(member, channelId, sent.id), { status: 'sent' })
  },
)

t.test('a report without our token finds the email by its quoted Message-ID and address', async (t) => {
  const setup = await emailPartnerNode(t)
  const { node, member } = setup
  const { channelId, sent, messageId } = await conversation(setup)
  const raw = report({
    to: 'ochat@acme.test',
    status: '5.2.2',
    diagnostic: '552 5.2.2 mailbox full',
  }).replace(
    '--report--',
    ['--report', 'Content-Type: text/rfc822-headers', '', `Message-ID: ${messageId}`, '--report--'].join(
      '\r\n',
    ),
  )
  await takeIn(node, raw)
  t.match(await messageView(member, channelId, sent.id), { status: 'bounced', reason: /mailbox full/ })
})
