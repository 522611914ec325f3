import { Writable } from 'node:stream'
import t from 'tap'
import { request } from 'undici'
import { DOMAIN, leadWithEmailedMessage, mail, setup } from './fixtures/mail/inbound.ts'
import { type Actor, buildNode, buildRecord, buildUser, type TestNode } from './helpers.ts'

/**
 * Rules triggered from outside a person's write: an integrator calling a rule's secret URL, and a
 * message coming in on a record by email. What came in is never refused for a rule that fails.
 */

function notes(node: TestNode, recordId: number): string[] {
  const rows = node.database.sqlite
    .prepare("select body from messages where record_id = ? and kind = 'note' order by id")
    .all(recordId) as { body: string }[]
  return rows.map((row) => row.body)
}

async function runs(admin: Actor, ruleId: number) {
  return (await admin.call('GET', `/api/v1/automation-rules/${ruleId}/runs`)).body.items as {
    outcome: string
    detail: string | null
    recordId: number | null
    trigger: string
  }[]
}

t.test('an integrator calls a rule’s secret URL: it runs on the record, once per call', async (t) => {
  const logged: string[] = []
  const logStream = new Writable({
    write(chunk, _encoding, done) {
      logged.push(String(chunk))
      done()
    },
  })
  const node = await buildNode(t, {
    listen: true,
    env: { NODE_PUBLIC_URL: 'https://crm.acme.test', NODE_LOG_LEVEL: 'info' },
    logStream,
  })
  const admin = await buildUser(node, { name: 'Ada Admin', role: 'admin' })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const made = await admin.call('POST', '/api/v1/automation-rules', {
    name: 'Paid in the accounting system',
    model: 'lead',
    trigger: { kind: 'webhook' },
    after: { field: 'stage', op: 'ne', value: 'lost' },
    actions: [{ type: 'post_message', kind: 'note', body: 'Invoice paid for {{name}}' }],
  })
  t.equal(made.status, 201)
  const hookUrl = made.body.hookUrl as string
  t.match(hookUrl, /^https:\/\/crm\.acme\.test\/api\/v1\/automation-hooks\/[\w-]{40,}$/, 'a secret URL')
  const path = new URL(hookUrl).pathname
  const call = async (to: string, body: unknown) => {
    const response = await request(new URL(to, node.url).toString(), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    return {
      status: response.statusCode,
      body: (await response.body.json()) as { ran?: boolean; error: { code: string; reason: string } },
    }
  }

  const lead = await buildRecord(sarah, 'lead', { name: 'Desks' })
  const lost = await buildRecord(sarah, 'lead', { name: 'Chairs', stage: 'lost' })
  const ticket = await buildRecord(sarah, 'ticket', { name: 'Printer' })
  const answered = await call(path, { recordId: lead.id })
  t.same(answered, { status: 200, body: { ran: true } }, 'no login: the URL is the authority')
  t.same(notes(node, lead.id), ['<p>Invoice paid for Desks</p>'])
  t.same(await call(path, { recordId: lost.id }), { status: 200, body: { ran: false } }, 'its condition')
  t.same(notes(node, lost.id), [])

  // What a caller without the URL, or with a wrong record, learns: the same nothing.
  const refusals = [
    await call('/api/v1/automation-hooks/not-the-token', { recordId: lead.id }),
    await call(path, { recordId: ticket.id }),
    await call(path, { recordId: 999_999 }),
  ]
  for (const refused of refusals) {
    t.equal(refused.status, 404)
    t.equal(refused.body.error.code, 'E_NOT_FOUND')
  }
  t.equal(refusals[0]?.body.error.reason, refusals[1]?.body.error.reason, 'one answer for all of them')
  const bad = await call(path, { recordId: 'seven' })
  t.equal(bad.status, 400)
  t.equal(bad.body.error.code, 'E_INVALID_BODY')

  const plain = await admin.call('POST', '/api/v1/automation-rules', {
    name: 'On create',
    model: 'lead',
    trigger: { kind: 'create' },
    actions: [{ type: 'post_message', kind: 'note', body: 'x' }],
  })
  t.equal(plain.body.hookUrl, null, 'other rules have no URL')
  t.equal((await admin.call('POST', `/api/v1/automation-rules/${plain.body.id}/rotate-hook`)).status, 409)

  const rotated = await admin.call('POST', `/api/v1/automation-rules/${made.body.id}/rotate-hook`)
  t.equal(rotated.status, 200)
  t.not(rotated.body.hookUrl, hookUrl, 'a new secret')
  t.equal((await call(path, { recordId: lead.id })).status, 404, 'the old URL stops at once')
  t.equal((await call(new URL(rotated.body.hookUrl).pathname, { recordId: lead.id })).status, 200)
  const edited = await admin.call('PATCH', `/api/v1/automation-rules/${made.body.id}`, { name: 'Paid' })
  t.equal(edited.body.hookUrl, rotated.body.hookUrl, 'editing the rule keeps its URL')

  t.equal(
    (await admin.call('PATCH', `/api/v1/automation-rules/${made.body.id}`, { active: false })).status,
    200,
  )
  t.equal((await call(new URL(rotated.body.hookUrl).pathname, { recordId: lead.id })).status, 404, 'off')
  t.equal(notes(node, lead.id).length, 2)
  t.match(await runs(admin, made.body.id), [
    { trigger: 'webhook', outcome: 'done', recordId: lead.id },
    { trigger: 'webhook', outcome: 'done', recordId: lead.id },
  ])

  const secret = path.split('/').at(-1) as string
  t.ok(
    logged.some((line) => line.includes('/api/v1/automation-hooks/…')),
    'calls are logged, without their secret',
  )
  t.notOk(
    logged.some((line) => line.includes(secret)),
    'the secret never is',
  )

  const seen = await sarah.call('GET', `/api/v1/automation-rules/${made.body.id}`)
  t.equal(seen.status, 403, 'only administrators see a rule and its URL')
})

t.test('a webhook rule that fails answers 422 naming the rule, and leaves nothing half-done', async (t) => {
  const node = await buildNode(t, { listen: true })
  const admin = await buildUser(node, { name: 'Ada Admin', role: 'admin' })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const made = await admin.call('POST', '/api/v1/automation-rules', {
    name: 'Book the delivery call',
    model: 'lead',
    trigger: { kind: 'webhook' },
    actions: [
      { type: 'post_message', kind: 'note', body: 'Booking a call' },
      { type: 'schedule_activity', activityType: 'call', assignee: { field: 'user_id' } },
    ],
  })
  const lead = await buildRecord(sarah, 'lead', { name: 'Unassigned' })
  const response = await request(made.body.hookUrl.replace(/^https?:\/\/[^/]+/, node.url as string), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ recordId: lead.id }),
  })
  const body = (await response.body.json()) as { error: { code: string; reason: string } }
  t.equal(response.statusCode, 422)
  t.equal(body.error.code, 'E_AUTOMATION_FAILED')
  t.match(body.error.reason, /rule "Book the delivery call"/)
  t.same(notes(node, lead.id), [], 'the note of the first action was rolled back with the rest')
  t.match(await runs(admin, made.body.id), [{ outcome: 'failed', recordId: lead.id }])
})

t.test('a message that comes in by email runs the rules waiting for one, after it is filed', async (t) => {
  const { node, deps, receive, sarah } = await setup(t)
  const admin = await buildUser(node, { name: 'Ada Admin', role: 'admin' })
  const rule = async (name: string, trigger: Record<string, unknown>, actions: unknown[]) => {
    const made = await admin.call('POST', '/api/v1/automation-rules', {
      name,
      model: 'lead',
      trigger,
      actions,
    })
    t.equal(made.status, 201, JSON.stringify(made.body))
    return made.body as { id: number }
  }
  const byEmail = await rule('Customer wrote', { kind: 'message_received', via: 'email' }, [
    { type: 'post_message', kind: 'note', body: 'The customer wrote about {{name}}' },
  ])
  const byOchat = await rule('Partner wrote', { kind: 'message_received', via: 'ochat' }, [
    { type: 'post_message', kind: 'note', body: 'A partner wrote' },
  ])
  const failing = await rule('Call back', { kind: 'message_received' }, [
    { type: 'schedule_activity', activityType: 'call', assignee: { field: 'user_id' } },
  ])

  // A lead with a message emailed to its customer; the customer answers it.
  const { customer, lead, messageId } = await leadWithEmailedMessage(node, sarah)
  const token = deps.tokens.replyToken({ recordId: lead.id, messageId, partnerId: customer.id })
  const taken = await receive(
    mail({
      from: 'Carla <carla@client.example>',
      to: `reply+${token}@${DOMAIN}`,
      subject: 'Re: offer',
      body: 'Yes please',
    }),
  )
  t.equal(taken.outcome, 'posted', 'the mail is filed even though a rule waiting for it fails')
  await node.automation.tick()
  t.same(notes(node, lead.id), ['<p>The customer wrote about Standing desks</p>'])
  t.same(await runs(admin, byOchat.id), [], 'a rule waiting for O’Chat does not run')
  t.match(await runs(admin, byEmail.id), [
    { trigger: 'message_received', outcome: 'done', recordId: lead.id },
  ])
  t.match(await runs(admin, failing.id), [{ outcome: 'failed', detail: /user_id/ }])
  const queued = node.database.sqlite.prepare('select count(*) as n from automation_queue').get() as {
    n: number
  }
  t.equal(queued.n, 0, 'nothing left waiting')
})

t.test('a hook URL keeps the path of a node served below one', async (t) => {
  const node = await buildNode(t, { env: { NODE_PUBLIC_URL: 'https://acme.test/crm/' } })
  const admin = await buildUser(node, { name: 'Ada Admin', role: 'admin' })
  const made = await admin.call('POST', '/api/v1/automation-rules', {
    name: 'Paid',
    model: 'lead',
    trigger: { kind: 'webhook' },
    actions: [{ type: 'post_message', kind: 'note', body: 'Paid' }],
  })
  t.match(made.body.hookUrl, /^https:\/\/acme\.test\/crm\/api\/v1\/automation-hooks\/[\w-]+$/)
})
