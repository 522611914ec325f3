import t, { type Test } from 'tap'
import { acmeAnswersAbout, queued, threadOf, twoCompanies } from './fixtures/ochat-pair.ts'
import { type Actor, buildRecord, buildUser, until } from './helpers.ts'
import { addGlobex, drain, emailPartnerNode, messageView, takeIn } from './ochat-email-helpers.ts'

/**
 * Rules that run after the fact, on what O'Chat brings: the partner wrote about one of our records,
 * or a message we sent about one never reached them. Two real nodes and a real relay: the messages
 * travel as deployed, and the rules run from each node's queue, after the event's commit. A partner
 * without a node is reached by email (real SMTP), its answers and bounces taken in by the intake.
 */

async function rule(admin: Actor, body: Record<string, unknown>): Promise<{ id: number }> {
  const created = await admin.call('POST', '/api/v1/automation-rules', { model: 'lead', ...body })
  if (created.status !== 201) throw new Error(`rule refused: ${JSON.stringify(created.body)}`)
  return created.body
}

async function runs(admin: Actor, ruleId: number) {
  const answer = await admin.call('GET', `/api/v1/automation-rules/${ruleId}/runs`)
  if (answer.status !== 200) throw new Error(`runs: ${answer.status} ${JSON.stringify(answer.body)}`)
  return answer.body.items as {
    outcome: string
    detail: string | null
    recordId: number | null
    trigger: string
  }[]
}

/** The log notes on a record's chatter, oldest first, as its readers see them. */
async function notes(admin: Actor, recordId: number): Promise<string[]> {
  const answer = await admin.call('GET', `/api/v1/records/${recordId}/messages?kind=note`)
  if (answer.status !== 200) throw new Error(`chatter: ${answer.status} ${JSON.stringify(answer.body)}`)
  return (answer.body.items as { body: string }[]).map((item) => item.body).reverse()
}

const PARTNER_WROTE = {
  trigger: { kind: 'message_received', via: 'ochat' },
  actions: [{ type: 'post_message', kind: 'note', body: 'Partner wrote about {{name}}' }],
}

t.test(
  'the partner answers about our lead over O’Chat: the O’Chat rule logs its note once, the others stay quiet',
  async (t) => {
    const pair = await twoCompanies(t)
    const { globex } = pair
    const lead = await buildRecord(globex.admin, 'lead', { name: 'Desks & chairs', stage: 'new' })
    const byOchat = await rule(globex.admin, { name: 'Partner wrote', ...PARTNER_WROTE })
    const byEmail = await rule(globex.admin, {
      name: 'Customer emailed',
      trigger: { kind: 'message_received', via: 'email' },
      actions: [{ type: 'post_message', kind: 'note', body: 'Email about {{name}}' }],
    })
    const onceWon = await rule(globex.admin, {
      name: 'Partner wrote about a won deal',
      trigger: { kind: 'message_received', via: 'ochat' },
      after: { field: 'stage', op: 'eq', value: 'won' },
      actions: [{ type: 'post_message', kind: 'note', body: 'Won deal: {{name}}' }],
    })

    const answer = await acmeAnswersAbout(pair, {
      globexLeadId: lead.id,
      question: 'Can you quote 40 desks?',
      answer: 'Yes: 40 desks at 120 each.',
    })
    t.equal(answer.html, '<p>Yes: 40 desks at 120 each.</p>', 'the answer is on the lead')
    t.equal(answer.author.company, 'Acme', 'from Acme')

    const [run] = await until('the rule’s run', async () => {
      const found = await runs(globex.admin, byOchat.id)
      return found.length > 0 && found
    })
    t.match(
      run,
      { outcome: 'done', recordId: lead.id, trigger: 'message_received', detail: 'logged a note' },
      'the run log shows it',
    )
    t.same(
      await notes(globex.admin, lead.id),
      ['<p>Partner wrote about Desks &amp; chairs</p>'],
      'one note, the record’s name escaped',
    )
    t.same(await runs(globex.admin, byEmail.id), [], 'the email rule does not run on an O’Chat message')
    t.same(await runs(globex.admin, onceWon.id), [], 'nor the rule whose condition the lead does not meet')

    // Another pass finds nothing left to do: the event ran once.
    await globex.node.automation.tick()
    t.equal((await runs(globex.admin, byOchat.id)).length, 1, 'it ran once')
    t.equal((await notes(globex.admin, lead.id)).length, 1, 'one note')
    t.equal(queued(globex), 0, 'nothing left queued')
  },
)

t.test(
  'a message Acme sent about its lead fails for good: the lead’s salesperson gets a to-do',
  async (t) => {
    const pair = await twoCompanies(t)
    const { acme, relay, clock } = pair
    const sam = await buildUser(acme.node, { name: 'Sam Sales' })
    const lead = await buildRecord(acme.admin, 'lead', { name: 'Forklift order', user_id: sam.userId })
    const lost = await rule(acme.admin, {
      name: 'Message lost: call them',
      trigger: { kind: 'ochat_failed' },
      actions: [
        {
          type: 'schedule_activity',
          activityType: 'todo',
          summary: 'Call Globex: the order did not reach them',
          assignee: { field: 'user_id' },
        },
      ],
    })

    // Globex is down, and stays down past the relay's deadline: the relay gives up.
    await pair.globex.stop()
    const sent = await acme.admin.call('POST', `/api/v1/records/${lead.id}/ochat`, {
      channelId: pair.channelAtAcme,
      body: 'Here is the forklift order.',
    })
    t.equal(sent.status, 201, 'the message is accepted')
    await until('Retrying at Acme', async () => (await threadOf(acme, lead.id))[0]?.status === 'retrying')
    t.same(await runs(acme.admin, lost.id), [], 'retrying is not failing')

    clock.advance(relay.config.deliveryDeadlineMs + 60_000)
    await relay.runJobs()
    const failed = await until('Failed at Acme', async () => {
      const [message] = await threadOf(acme, lead.id)
      return message?.status === 'failed' && message
    })
    t.match(failed.reason, /not delivered within 72 h/, 'Failed: the relay gave up')

    const [run] = await until('the rule’s run', async () => {
      const found = await runs(acme.admin, lost.id)
      return found.length > 0 && found
    })
    t.match(
      run,
      {
        outcome: 'done',
        recordId: lead.id,
        trigger: 'ochat_failed',
        detail: /^scheduled To Do for Sam Sales on \d{4}-\d{2}-\d{2}$/,
      },
      'the run log says what it did',
    )
    const activities = await sam.call('GET', `/api/v1/records/${lead.id}/activities`)
    t.equal(activities.status, 200, 'Sam reads the lead’s activities')
    t.match(activities.body.items, [
      {
        type: { key: 'todo' },
        summary: 'Call Globex: the order did not reach them',
        status: 'open',
        assignee: { userId: sam.userId, name: 'Sam Sales' },
      },
    ])
    t.equal(activities.body.items.length, 1, 'one to-do')
    t.equal(queued(acme), 0, 'nothing left queued')
  },
)

t.test(
  'a rule that fails on an incoming message keeps the message, logs why, and leaves nothing queued',
  async (t) => {
    const pair = await twoCompanies(t)
    const { globex } = pair
    // No salesperson: the rule cannot choose whom to give the call to.
    const lead = await buildRecord(globex.admin, 'lead', { name: 'Unassigned desks' })
    const wrote = await rule(globex.admin, { name: 'Partner wrote', ...PARTNER_WROTE, sequence: 1 })
    const broken = await rule(globex.admin, {
      name: 'Partner wrote: call back',
      trigger: { kind: 'message_received', via: 'any' },
      actions: [
        { type: 'post_message', kind: 'note', body: 'Calling them back' },
        { type: 'schedule_activity', activityType: 'call', assignee: { field: 'user_id' } },
      ],
      sequence: 2,
    })

    const answer = await acmeAnswersAbout(pair, {
      globexLeadId: lead.id,
      question: 'Do you deliver desks?',
      answer: 'We do, on Mondays.',
    })
    t.equal(answer.html, '<p>We do, on Mondays.</p>', 'the message is stored on the lead')

    const [run] = await until('the failed run', async () => {
      const found = await runs(globex.admin, broken.id)
      return found.length > 0 && found
    })
    t.match(
      run,
      {
        outcome: 'failed',
        recordId: lead.id,
        trigger: 'message_received',
        detail: /user_id is empty/,
      },
      'logged failed, with the reason',
    )
    const channel = await globex.admin.call('GET', `/api/v1/ochat/channels/${pair.channelAtGlobex}/messages`)
    t.ok(
      channel.body.items.some(
        (item: { direction: string; html: string }) =>
          item.direction === 'in' && item.html === '<p>We do, on Mondays.</p>',
      ),
      'and shown in the channel',
    )
    const activities = await globex.admin.call('GET', `/api/v1/records/${lead.id}/activities`)
    t.same(activities.body.items, [], 'no activity')
    t.match(await runs(globex.admin, wrote.id), [{ outcome: 'done' }], 'the other rule ran')
    t.same(
      await notes(globex.admin, lead.id),
      ['<p>Partner wrote about Unassigned desks</p>'],
      'its note is there; the failed rule’s note was rolled back with it',
    )
    t.equal(queued(globex), 0, 'the event left the queue')
    const delivered = await until('Delivered at Acme', async () => {
      const page = await pair.acme.admin.call('GET', `/api/v1/ochat/channels/${pair.channelAtAcme}/messages`)
      const [newest] = page.body.items
      return newest?.status === 'delivered' && newest
    })
    t.equal(delivered.html, '<p>We do, on Mondays.</p>', 'the sender sees it Delivered: it was not refused')
    await globex.node.automation.tick()
    t.equal((await runs(globex.admin, broken.id)).length, 1, 'it is not tried again')
    t.equal((await runs(globex.admin, wrote.id)).length, 1, 'nor the other one')
  },
)

t.test('an event still queued when the node stops runs once after its restart', async (t) => {
  const pair = await twoCompanies(t)
  let { globex } = pair
  const lead = await buildRecord(globex.admin, 'lead', { name: 'Office chairs' })
  const wrote = await rule(globex.admin, { name: 'Partner wrote', ...PARTNER_WROTE })
  // The runner runs right after each commit, sooner than a test could stop the node in between:
  // stopping it first leaves the node as a crash between the message's commit and the runner's
  // pass would, the message stored and its event queued.
  await globex.node.automation.close()

  await acmeAnswersAbout(pair, {
    globexLeadId: lead.id,
    question: 'Chairs in blue?',
    answer: 'Blue or grey.',
  })
  t.equal(queued(globex), 1, 'the event waits in the queue')
  t.same(await runs(globex.admin, wrote.id), [], 'the rule has not run')

  globex = await globex.restart()
  const [run] = await until('the rule’s run after the restart', async () => {
    const found = await runs(globex.admin, wrote.id)
    return found.length > 0 && found
  })
  t.match(run, { outcome: 'done', recordId: lead.id }, 'it ran after the restart')
  t.same(await notes(globex.admin, lead.id), ['<p>Partner wrote about Office chairs</p>'], 'its note')
  t.equal(queued(globex), 0, 'the queue is empty')

  globex = await globex.restart()
  await globex.node.automation.tick()
  t.equal((await runs(globex.admin, wrote.id)).length, 1, 'another restart does not run it again')
  t.equal((await notes(globex.admin, lead.id)).length, 1, 'one note')
  const thread = await threadOf(globex, lead.id)
  t.equal(
    thread.filter((item) => item.direction === 'in').length,
    1,
    'the message is stored once, not again after the restarts',
  )
})

/** A delivery report (RFC 3464) from the partner's mail server: the address does not exist. */
function bounceReport(to: string): string {
  return [
    'From: Mail Delivery System <mailer-daemon@mx.globex.test>',
    `To: ${to}`,
    'Subject: Undelivered Mail Returned to Sender',
    'Message-ID: <dsn-1@mx.globex.test>',
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
    'Status: 5.1.1',
    'Diagnostic-Code: smtp; 550 5.1.1 mailbox unknown',
    '--report--',
    '',
  ].join('\r\n')
}

/** The partner's answer by email, to the reply address of the email it got. */
function emailReply(input: { to: string; inReplyTo: string; body: string }): string {
  return [
    'From: Gina Globex <Orders@Globex.test>',
    `To: ${input.to}`,
    'Subject: Re: Acme – Globex',
    'Message-ID: <r1@globex.test>',
    `In-Reply-To: ${input.inReplyTo}`,
    `References: ${input.inReplyTo}`,
    'Date: Wed, 25 Nov 2026 10:05:00 +0000',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    input.body,
    '',
  ].join('\r\n')
}

/** A partner reached by email, and an email about a lead of Mia's that reached their mail server. */
async function emailedAboutLead(t: Test) {
  const setup = await emailPartnerNode(t)
  const { node, admin, member, contact, sink } = setup
  const { channelId } = await addGlobex(admin, contact.id)
  const lead = await buildRecord(member, 'lead', { name: 'Pallets', user_id: member.userId })
  const sent = await member.call('POST', `/api/v1/records/${lead.id}/ochat`, {
    channelId,
    body: 'Your pallets ship on Monday',
  })
  if (sent.status !== 201) throw new Error(`send: ${sent.status} ${JSON.stringify(sent.body)}`)
  await drain(node)
  const mail = await sink.next()
  return {
    ...setup,
    channelId,
    lead,
    sent: sent.body as { id: number },
    bounceTo: mail.from,
    replyTo: mail.parsed.replyTo?.value[0]?.address as string,
    messageId: mail.parsed.messageId as string,
  }
}

t.test(
  'an email about a lead to a partner without a node bounces: the rule gives its salesperson a to-do',
  async (t) => {
    const { node, admin, member, channelId, lead, sent, bounceTo } = await emailedAboutLead(t)
    const lost = await rule(admin, {
      name: 'Message lost: call them',
      trigger: { kind: 'ochat_failed' },
      actions: [
        {
          type: 'schedule_activity',
          activityType: 'todo',
          summary: 'Call Globex',
          assignee: { field: 'user_id' },
        },
      ],
    })
    await takeIn(node, bounceReport(bounceTo), [bounceTo])
    t.match(
      await messageView(member, channelId, sent.id),
      { status: 'bounced', reason: /mailbox unknown/ },
      'the message shows Bounced',
    )
    await node.automation.tick()
    t.match(
      await runs(admin, lost.id),
      [{ outcome: 'done', recordId: lead.id, trigger: 'ochat_failed' }],
      'the run is logged',
    )
    const activities = await member.call('GET', `/api/v1/records/${lead.id}/activities`)
    t.match(
      activities.body.items,
      [{ type: { key: 'todo' }, summary: 'Call Globex', assignee: { userId: member.userId } }],
      'the salesperson has the to-do',
    )
    t.equal(activities.body.items.length, 1, 'one to-do')
  },
)

t.test('the partner reached by email answers about the lead: the message-received rule runs', async (t) => {
  const { node, admin, member, lead, replyTo, messageId } = await emailedAboutLead(t)
  const wrote = await rule(admin, {
    name: 'Partner wrote',
    trigger: { kind: 'message_received', via: 'any' },
    actions: PARTNER_WROTE.actions,
  })
  const taken = await takeIn(node, emailReply({ to: replyTo, inReplyTo: messageId, body: 'Monday works.' }))
  t.match(taken, { outcome: 'posted' })
  const thread = await member.call('GET', `/api/v1/records/${lead.id}/ochat`)
  t.match(
    thread.body.items[0],
    { direction: 'in', html: '<p>Monday works.</p>' },
    'the answer is on the lead',
  )
  await node.automation.tick()
  t.match(await runs(admin, wrote.id), [{ outcome: 'done', recordId: lead.id, trigger: 'message_received' }])
  t.same(await notes(admin, lead.id), ['<p>Partner wrote about Pallets</p>'])
})
