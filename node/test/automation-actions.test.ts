import { ManualClock } from '@ochat/shared-protocol/server'
import { Webhook } from 'standardwebhooks'
import t from 'tap'
import { mailEnv } from './fixtures/mail/outgoing.ts'
import { type Received, settled, startReceiver } from './fixtures/webhooks.ts'
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
 * The actions that reach past the record: a rule creates a record of another model, emails the
 * people it names, calls an integrator's webhook. Each runs in the change's transaction: what it
 * writes commits or rolls back with the change, and its email or webhook leaves only after the commit.
 */

async function scene(
  t: Parameters<typeof buildNode>[0],
  options: { env?: Record<string, string>; clock?: ManualClock } = {},
) {
  const node = await buildNode(t, {
    env: { NODE_WEBHOOK_ALLOWLIST: '127.0.0.1', ...options.env },
    ...(options.clock ? { clock: options.clock } : {}),
  })
  const admin = await buildUser(node, { name: 'Ada Admin', role: 'admin' })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const rule = async (body: Record<string, unknown>) => {
    const created = await admin.call('POST', '/api/v1/automation-rules', {
      model: 'lead',
      trigger: { kind: 'set', field: 'stage', value: 'won' },
      ...body,
    })
    if (created.status !== 201) throw new Error(`rule refused: ${JSON.stringify(created.body)}`)
    return created.body as { id: number }
  }
  return { node, admin, sarah, rule }
}

async function win(actor: Actor, lead: { id: number; version: number }) {
  return actor.call('PATCH', `/api/v1/records/${lead.id}`, {
    version: lead.version,
    values: { stage: 'won' },
  })
}

function count(node: TestNode, sql: string, ...params: unknown[]): number {
  return (node.database.sqlite.prepare(sql).get(...params) as { n: number }).n
}

function chatter(node: TestNode, recordId: number) {
  return node.database.sqlite
    .prepare(
      'select id, kind, body, internal, author_partner_id as author from messages where record_id = ? order by id',
    )
    .all(recordId) as { id: number; kind: string; body: string; internal: number; author: number }[]
}

async function runs(admin: Actor, ruleId: number) {
  return (await admin.call('GET', `/api/v1/automation-rules/${ruleId}/runs`)).body.items as {
    outcome: string
    detail: string | null
  }[]
}

t.test('a won lead creates its sale order, named from the lead, and the order’s own rules run', async (t) => {
  const { node, admin, sarah, rule } = await scene(t)
  const customer = buildPartner(node, { name: 'Acme Buyer' })
  const order = await rule({
    name: 'Won: open the sale order',
    actions: [
      {
        type: 'create_record',
        model: 'sale_order',
        values: {
          name: 'Delivery of {{name}}',
          partner_id: customer.id,
          note: 'Sold by {{user_id}} at {{expected_revenue}}',
        },
      },
    ],
  })
  await rule({
    name: 'New orders get a note',
    model: 'sale_order',
    trigger: { kind: 'create' },
    actions: [{ type: 'post_message', kind: 'note', body: 'Check stock for {{name}}' }],
  })
  const lead = await buildRecord(sarah, 'lead', {
    name: 'Desks & <chairs>',
    user_id: sarah.userId,
    expected_revenue: 1200,
  })
  const answer = await win(sarah, lead)
  t.equal(answer.status, 200)

  const orders = await sarah.call('GET', '/api/v1/models/sale_order/records')
  t.equal(orders.body.items.length, 1, 'one sale order')
  const [made] = orders.body.items
  t.equal(made.name, 'Delivery of Desks & <chairs>', 'named from the lead, as plain text: a value, not HTML')
  t.equal(made.values.note, 'Sold by Sarah Sales at $1,200.00', 'values shown as people read them')
  t.equal(made.values.partner_id, customer.id)
  t.match(
    chatter(node, made.id).map((message) => message.body),
    ['<p>Sales Order created</p>', '<p>Check stock for Delivery of Desks &amp; &lt;chairs&gt;</p>'],
    'created like any record, and the sale order’s own rule ran on it',
  )
  t.match(await runs(admin, order.id), [
    { outcome: 'done', detail: `created Sales Order #${made.id} “Delivery of Desks & <chairs>”` },
  ])
})

t.test('a sale order the model refuses refuses the won lead whole, naming the rule', async (t) => {
  const { node, admin, sarah, rule } = await scene(t)
  const customer = buildPartner(node, { name: 'Acme Buyer' })
  const order = await rule({
    name: 'Won: open the sale order',
    actions: [
      { type: 'post_message', kind: 'note', body: 'Opening the order' },
      {
        type: 'create_record',
        model: 'sale_order',
        // An order reference holds 500 characters; this lead's notes are longer.
        values: { name: '{{description}}', partner_id: customer.id },
      },
    ],
  })
  const lead = await buildRecord(sarah, 'lead', { name: 'Long one', description: 'x'.repeat(600) })
  const messagesBefore = count(node, 'select count(*) as n from messages')
  const refused = await win(sarah, lead)
  t.equal(refused.status, 422)
  t.equal(refused.body.error.code, 'E_AUTOMATION_FAILED')
  t.match(
    refused.body.error.reason,
    /rule "Won: open the sale order" \(\d+\): create_record: the new Sales Order was refused: .*name/,
  )
  t.equal(count(node, 'select count(*) as n from records'), 1, 'no sale order')
  t.equal(count(node, 'select count(*) as n from messages'), messagesBefore, 'no note, no tracking message')
  const after = await sarah.call('GET', `/api/v1/records/${lead.id}`)
  t.equal(after.body.values.stage, lead.values.stage, 'the lead is as it was')
  t.match(await runs(admin, order.id), [{ outcome: 'failed', detail: /create_record/ }])
})

t.test('an email to the people the rule names, not to the followers, escaped and filled', async (t) => {
  const sink = await startSmtpSink(t)
  const { node, admin, sarah, rule } = await scene(t, { env: mailEnv(sink) })
  // Followers who would get an email of any message: they must not get this one.
  const ivan = await buildUser(node, { name: 'Ivan Internal', notification: 'email' })
  const carla = buildPartner(node, { name: 'Carla Customer', email: 'carla@client.test' })
  const dora = buildPartner(node, { name: 'Dora Delivery', email: 'dora@carrier.test' })
  const confirm = await rule({
    name: 'Won: tell the carrier',
    actions: [
      {
        type: 'send_email',
        to: { partnerIds: [dora.id], field: 'user_id' },
        subject: 'Order {{name}} confirmed',
        body: 'Hello,\n{{name}} ships on <b>Monday</b>.',
      },
    ],
  })
  const lead = await buildRecord(sarah, 'lead', {
    name: '<script>alert(1)</script> Desks',
    user_id: sarah.userId,
  })
  for (const partnerId of [ivan.partnerId, carla.id])
    await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId, subscription: 'all' })
  const answer = await win(sarah, lead)
  t.equal(answer.status, 200)

  const ours = () => sink.mails.filter((mail) => mail.parsed.subject?.startsWith('Order '))
  await until('the two emails', () => ours().length >= 2)
  await node.mail.idle()
  const mails = ours().sort((a, b) => (a.to[0] ?? '').localeCompare(b.to[0] ?? ''))
  t.same(
    mails.map((mail) => mail.to),
    [['dora@carrier.test'], [sarah.partner.email]],
    'the named contact and the salesperson, though she reads her notifications in the inbox',
  )
  for (const mail of mails) {
    t.equal(mail.parsed.subject, 'Order <script>alert(1)</script> Desks confirmed · Acme', 'a plain subject')
    t.match(
      mail.parsed.html,
      /<p>Hello,<br ?\/?>&lt;script&gt;alert\(1\)&lt;\/script&gt; Desks ships on &lt;b&gt;Monday&lt;\/b&gt;\.<\/p>/,
      'the body filled, the record’s name and the template escaped',
    )
    t.notMatch(mail.parsed.html, /<script>/)
  }
  t.notOk(
    sink.mails.some(
      (mail) => mail.to.includes('carla@client.test') && mail.parsed.subject?.startsWith('Order'),
    ),
    'not to the customer who follows',
  )

  const sent = chatter(node, lead.id).at(-1)
  t.match(sent, { kind: 'message', internal: 0, author: admin.partnerId }, 'a message by the rule’s author')
  t.match(
    sent?.body,
    /^<p><strong>Order &lt;script&gt;alert\(1\)&lt;\/script&gt; Desks confirmed<\/strong><\/p>/,
  )
  t.same(
    node.database.sqlite
      .prepare(
        'select partner_id as partner, channel from notifications where message_id = ? order by partner_id',
      )
      .all(sent?.id),
    [
      { partner: sarah.partnerId, channel: 'email' },
      { partner: dora.id, channel: 'email' },
    ].sort((a, b) => a.partner - b.partner),
    'only its recipients are told, by email',
  )
  t.match(await runs(admin, confirm.id), [
    { outcome: 'done', detail: /emailed “Order <script>alert\(1\)<\/script> Desks confirmed” to / },
  ])
})

t.test('an email that cannot go does not refuse the change: the run says who was not emailed', async (t) => {
  const { node, admin, sarah, rule } = await scene(t)
  const nemo = buildPartner(node, { name: 'Nemo Nowhere', email: null })
  const confirm = await rule({
    name: 'Won: thank the customer',
    actions: [
      { type: 'send_email', to: { field: 'partner_id' }, subject: 'Thank you', body: 'For {{name}}' },
      { type: 'post_message', kind: 'note', body: 'Thanked {{name}}' },
    ],
  })
  const lead = await buildRecord(sarah, 'lead', { name: 'Quiet deal', partner_id: nemo.id })
  const won = await win(sarah, lead)
  t.equal(won.status, 200, 'the lead is won all the same')
  t.equal(won.body.values.stage, 'won')
  t.equal(count(node, 'select count(*) as n from outgoing_mail'), 0, 'nothing queued')
  t.equal(
    count(node, "select count(*) as n from messages where body = '<p>Thanked Quiet deal</p>'"),
    1,
    'the other actions ran',
  )
  t.match(await runs(admin, confirm.id), [
    { outcome: 'partial', detail: /not sent: send_email: Nemo Nowhere has no email address; logged a note/ },
  ])
  t.equal(
    count(node, "select count(*) as n from messages where body like '%Thank you%'"),
    0,
    'no message says an email went that did not',
  )
})

t.test('a webhook endpoint deleted after the rule was written does not block the records', async (t) => {
  const { admin, sarah, rule } = await scene(t)
  const receiver = await startReceiver(t)
  const endpoint = await admin.call('POST', '/api/v1/webhooks/endpoints', {
    url: receiver.url,
    events: ['record.created'],
  })
  const told = await rule({
    name: 'Won: tell the ERP',
    actions: [{ type: 'call_webhook', endpointId: endpoint.body.id }],
  })
  t.equal((await admin.call('DELETE', `/api/v1/webhooks/endpoints/${endpoint.body.id}`)).status, 204)
  const lead = await buildRecord(sarah, 'lead', { name: 'Desks' })
  t.equal((await win(sarah, lead)).status, 200)
  t.match(await runs(admin, told.id), [
    {
      outcome: 'partial',
      detail: new RegExp(`not sent: call_webhook: there is no webhook endpoint ${endpoint.body.id}`),
    },
  ])
})

t.test(
  'a webhook call reaches the one endpoint named, signed, restricted values only if it is internal',
  async (t) => {
    // Receivers check the timestamp against their own clock: the node's starts at the real time here.
    const { node, admin, sarah, rule } = await scene(t, { clock: new ManualClock(Date.now()) })
    const outside = await startReceiver(t)
    const inside = await startReceiver(t)
    // It subscribed to other events only: a rule calling it does not depend on that.
    const open = await admin.call('POST', '/api/v1/webhooks/endpoints', {
      url: outside.url,
      events: ['activity.done'],
    })
    const internal = await admin.call('POST', '/api/v1/webhooks/endpoints', {
      url: inside.url,
      events: ['activity.done'],
      internal: true,
    })
    t.equal(open.status, 201)
    const fired = await rule({
      name: 'Won: tell the ERP',
      actions: [
        { type: 'call_webhook', endpointId: open.body.id },
        { type: 'call_webhook', endpointId: internal.body.id },
      ],
    })
    const lead = await buildRecord(sarah, 'lead', { name: 'Big deal', probability: 42 })

    const dry = await admin.call('POST', `/api/v1/automation-rules/${fired.id}/dry-run`, {
      recordId: lead.id,
    })
    t.same(dry.body.effects, [
      `queued a call to webhook endpoint ${open.body.id}`,
      `queued a call to webhook endpoint ${internal.body.id}`,
    ])
    await settled(node)
    t.equal(outside.received.length + inside.received.length, 0, 'a dry run calls nobody')

    const answer = await win(sarah, lead)
    t.equal(answer.status, 200)
    await until('both calls', () => outside.received.length >= 1 && inside.received.length >= 1)
    await settled(node)
    const only = (received: Received[]) => {
      t.equal(received.length, 1, 'one call, and none of the events it did not ask for')
      return received[0] as Received
    }
    const [toOutside, toInside] = [only(outside.received), only(inside.received)]
    const verified = new Webhook(open.body.secret).verify(
      toOutside.body,
      toOutside.headers as Record<string, string>,
    ) as { type: string; data: Record<string, unknown> }
    t.equal(verified.type, 'automation.fired', 'signed: the official library verifies it')
    t.same(verified.data.rule, { id: fired.id, name: 'Won: tell the ERP' })
    t.match(verified.data.record, { id: lead.id, model: 'lead', name: 'Big deal', values: { stage: 'won' } })
    t.notOk(
      'probability' in ((verified.data.record as { values: object }).values ?? {}),
      'no restricted value to an endpoint without internal items',
    )
    t.throws(() =>
      new Webhook(open.body.secret).verify(toInside.body, toInside.headers as Record<string, string>),
    )
    t.same(
      new Webhook(internal.body.secret).verify(toInside.body, toInside.headers as Record<string, string>),
      toInside.json,
      'each endpoint’s call is signed with its own secret',
    )
    t.match(
      toInside.json.data,
      { record: { values: { probability: 42, stage: 'won' } } },
      'the internal one has it',
    )

    const log = await admin.call('GET', `/api/v1/webhooks/endpoints/${open.body.id}/messages`)
    t.match(log.body.items, [{ type: 'automation.fired', status: 'delivered' }], 'in the delivery log')
  },
)

t.test('a rule with a wrong action is refused when saved, with where it is wrong', async (t) => {
  const { node, admin } = await scene(t)
  const nemo = buildPartner(node, { name: 'Nemo Nowhere', email: null })
  const customer = buildPartner(node, { name: 'Acme Buyer' })
  const mail = { subject: 'Hello', body: 'Hi' }
  for (const [action, problem] of [
    [
      { type: 'create_record', model: 'invoice', values: {} },
      /actions\[0\]\.model: there is no model "invoice"/,
    ],
    [
      { type: 'create_record', model: 'sale_order', values: { name: '{{name}}' } },
      /actions\[0\]\.values: .*partner_id/,
    ],
    [
      { type: 'create_record', model: 'sale_order', values: { name: '{{colour}}', partner_id: customer.id } },
      /actions\[0\]\.values\.name: the lead model has no field "colour"/,
    ],
    [
      { type: 'create_record', model: 'task', values: { name: 'Follow up at {{probability}}%' } },
      /actions\[0\]\.values\.name: probability is for internal users only/,
    ],
    [
      { type: 'send_email', to: { partnerIds: [] }, ...mail },
      /actions\[0\]\.to: name partnerIds, a field, or both/,
    ],
    [
      { type: 'send_email', to: { partnerIds: [99_999] }, ...mail },
      /actions\[0\]\.to\.partnerIds: there is no contact 99999/,
    ],
    [
      { type: 'send_email', to: { partnerIds: [nemo.id] }, ...mail },
      /actions\[0\]\.to\.partnerIds: Nemo Nowhere has no email address/,
    ],
    [
      { type: 'send_email', to: { field: 'email' }, ...mail },
      /actions\[0\]\.to\.field: email is neither a user nor a partner field/,
    ],
    [
      { type: 'send_email', to: { field: 'partner_id' }, subject: 'At {{probability}}%', body: 'Hi' },
      /actions\[0\]\.subject: probability is for internal users only/,
    ],
    [
      { type: 'call_webhook', endpointId: 99_999 },
      /actions\[0\]\.endpointId: there is no webhook endpoint 99999/,
    ],
  ] as const) {
    const answer = await admin.call('POST', '/api/v1/automation-rules', {
      name: 'Bad',
      model: 'lead',
      trigger: { kind: 'create' },
      actions: [action],
    })
    t.equal(answer.status, 422, JSON.stringify(action))
    t.equal(answer.body.error.code, 'E_AUTOMATION_RULE')
    t.match(answer.body.error.reason, problem)
  }
  t.same((await admin.call('GET', '/api/v1/automation-rules')).body.items, [], 'nothing was saved')
})
