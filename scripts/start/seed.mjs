// The sample data of `pnpm start`, made through each node's REST API as an integrator would: people,
// contacts, records with followers, activities, chatter messages and notes, then (once the relay is up)
// the two registrations, the connection, and O'Chat messages both ways, one of them about a record.
// Every step runs once (state.mjs `once`): a second start finds them done.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { NodeApi, until } from './api.mjs'
import { once, STATE_FILE, saveState } from './state.mjs'

export const COMPANIES = {
  acme: {
    key: 'acme',
    company: 'Acme',
    people: [
      {
        login: 'alice',
        name: 'Alice Martin',
        email: 'alice@acme.example',
        role: 'admin',
        does: 'sales manager',
      },
      { login: 'bob', name: 'Bob Stone', email: 'bob@acme.example', role: 'user', does: 'salesperson' },
    ],
  },
  globex: {
    key: 'globex',
    company: 'Globex',
    people: [
      {
        login: 'grace',
        name: 'Grace Lee',
        email: 'grace@globex.example',
        role: 'admin',
        does: 'purchasing lead',
      },
      {
        login: 'hank',
        name: 'Hank Miller',
        email: 'hank@globex.example',
        role: 'user',
        does: 'support engineer',
      },
    ],
  },
}

/** The message the summary's curl line sends: a prospect writing to Acme's sales address. */
export const SAMPLE_MAIL = [
  'From: Pat Prospect <pat@prospect.example>',
  'To: sales@acme.example',
  'Subject: Quote for 40 standing desks',
  'MIME-Version: 1.0',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Hello Acme,',
  '',
  'could you send us a quote for 40 standing desks, delivered to our Lyon office next month?',
  '',
  'Pat',
  '',
].join('\r\n')

/**
 * The sample message beside the data, for `curl --upload-file`. It has no Message-ID: the duplicate
 * check goes by Message-ID, and each try is meant to make a new lead.
 */
export function writeSampleMail(dataDir) {
  writeFileSync(join(dataDir, 'sample-mail.eml'), SAMPLE_MAIL)
}

/**
 * The base aliases (sales@ makes a lead, support@ a ticket) take mail from anyone here, as a public
 * sales address does: by default they take it from known contacts only, and the tour's prospect is new.
 * Answers the addresses, for the summary.
 */
export async function openMailAliases(context, key, api) {
  const aliases = (await api.get('/api/v1/mail/aliases')).items
  await once(context, `${key}.mail.aliases`, async () => {
    for (const alias of aliases)
      if (alias.contactPolicy !== 'everyone')
        await api.call('PATCH', `/api/v1/mail/aliases/${alias.id}`, { contactPolicy: 'everyone' })
    context.progress(
      `${COMPANIES[key].company}: mail to ${aliases.map((alias) => alias.address).join(', ')} is taken from anyone`,
    )
  })
  return aliases
    .filter((alias) => alias.active)
    .map((alias) => alias.address ?? `${alias.name}@${key}.example`)
}

/** `YYYY-MM-DD`, `days` from today (UTC). */
function inDays(days) {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10)
}

/**
 * The admin's API client: an API key with every scope, made once from a logged-in session and kept
 * in the state file. A key that stopped working (revoked in the UI) is replaced.
 */
export async function adminApi(context, key, url) {
  const node = context.state.nodes[key]
  const admin = node.users[0]
  if (node.apiKey) {
    const api = new NodeApi(url, { apiKey: node.apiKey })
    const answer = await api.call('GET', '/api/v1/session', undefined, { expect: [200, 401] })
    if (answer?.user) return api
  }
  const session = await NodeApi.login(url, admin.login, admin.password).catch((error) => {
    if (error.status !== 401) throw error
    throw new Error(
      `${COMPANIES[key].company} refuses the administrator login kept in ${STATE_FILE}: its data folder holds a node ` +
        `made before, or the password was changed. Delete the data folder to start over.`,
    )
  })
  node.apiKey = await session.createApiKey('pnpm start (sample data)')
  saveState(context.dataDir, context.state)
  return new NodeApi(url, { apiKey: node.apiKey })
}

/** Colleagues, contacts and records with their chatter: everything that needs no relay. */
export async function seedCompany(context, key, api, url) {
  const { company, people } = COMPANIES[key]
  const users = context.state.nodes[key].users
  const ids = await once(context, `${key}.people`, async () => {
    const all = (await api.get('/api/v1/users?limit=100')).items
    const byLogin = new Map(all.map((user) => [user.login, user]))
    for (const person of people.slice(1)) {
      if (byLogin.has(person.login)) continue
      const password = users.find((user) => user.login === person.login).password
      const { login, name, email, role } = person
      byLogin.set(person.login, await api.post('/api/v1/users', { login, name, email, role, password }))
    }
    const result = Object.fromEntries(
      people.map((person) => {
        const user = byLogin.get(person.login)
        return [person.login, { userId: user.id, partnerId: user.partnerId }]
      }),
    )
    context.progress(`${company}: ${people.map((person) => person.name).join(', ')} can log in`)
    return result
  })
  const [boss, colleague] = people.map((person) => ids[person.login])
  const colleagueLogin = people[1]
  const colleagueApi = () =>
    NodeApi.login(
      url,
      colleagueLogin.login,
      users.find((user) => user.login === colleagueLogin.login).password,
    )

  if (key === 'acme') {
    const contacts = await once(context, 'acme.contacts', async () => {
      const grace = await api.post('/api/v1/partners', {
        name: 'Grace Lee',
        email: 'grace@globex.example',
        companyName: 'Globex',
      })
      const nora = await api.post('/api/v1/partners', {
        name: 'Nora Wells',
        email: 'nora@initech.example',
        companyName: 'Initech',
      })
      context.progress('Acme: contacts Grace Lee (Globex) and Nora Wells (Initech)')
      return { partner: grace.id, customer: nora.id }
    })
    const lead = await once(context, 'acme.lead', async () =>
      api.post('/api/v1/models/lead/records', {
        values: {
          name: 'Initech: 200 vibration sensors',
          stage: 'qualified',
          user_id: colleague.userId,
          partner_id: contacts.customer,
          email: 'nora@initech.example',
          expected_revenue: 48_000,
          priority: 'high',
          date_deadline: inDays(21),
        },
      }),
    )
    await once(context, 'acme.lead.chatter', async () => {
      await api.post(`/api/v1/records/${lead.id}/followers`, { partnerId: boss.partnerId })
      await api.post(`/api/v1/records/${lead.id}/activities`, {
        type: 'call',
        summary: 'Call Nora about volumes and delivery slots',
        assigneeId: colleague.userId,
        deadline: inDays(1),
      })
      await api.post(`/api/v1/records/${lead.id}/messages`, {
        kind: 'message',
        body: 'Nora confirmed the pilot went well: they want **200 sensors** before the end of the quarter.',
      })
      const bob = await colleagueApi()
      await bob.post(`/api/v1/records/${lead.id}/messages`, {
        kind: 'note',
        body: 'Internal: we can match the price of their current vendor if they sign for 12 months.',
      })
      context.progress(`Acme: lead "${lead.name}" with a follower, a call planned and 2 messages`)
    })
    // A customer following the lead: "Send message" reaches her by email (the mail catcher shows it);
    // the internal note before it does not.
    await once(context, 'acme.lead.email', async () => {
      await api.post(`/api/v1/records/${lead.id}/followers`, { partnerId: contacts.customer })
      await api.post(`/api/v1/records/${lead.id}/messages`, {
        kind: 'message',
        body: 'Hello Nora, thank you for the pilot. Our quote for **200 sensors** follows this week; delivery in two batches suits you?',
      })
      context.progress('Acme: emailed Nora Wells (Initech), a follower of the lead, through the mail catcher')
    })
    const order = await once(context, 'acme.order', async () =>
      api.post('/api/v1/models/sale_order/records', {
        values: {
          name: 'S00042',
          stage: 'sales_order',
          user_id: boss.userId,
          partner_id: contacts.partner,
          amount_total: 12_500,
          margin: 3_100,
          date_order: inDays(-2),
          note: '40 controller boards, delivered to the Globex plant.',
        },
      }),
    )
    await once(context, 'acme.order.chatter', async () => {
      await api.post(`/api/v1/records/${order.id}/followers`, { partnerId: colleague.partnerId })
      await api.post(`/api/v1/records/${order.id}/activities`, {
        type: 'todo',
        summary: 'Confirm the delivery date with Globex',
        assigneeId: colleague.userId,
        deadline: inDays(0),
      })
      await api.post(`/api/v1/records/${order.id}/messages`, {
        kind: 'message',
        body: 'Order confirmed by Globex. Boards ship from the Lyon warehouse.',
      })
      await api.post(`/api/v1/records/${order.id}/messages`, {
        kind: 'note',
        body: 'Margin is thin on this one: no extra discount without asking me first.',
      })
      context.progress(`Acme: sales order ${order.name} with a follower, a to-do and 2 messages`)
    })
    return { contacts, records: { lead: lead.id, order: order.id } }
  }

  const contacts = await once(context, 'globex.contacts', async () => {
    const alice = await api.post('/api/v1/partners', {
      name: 'Alice Martin',
      email: 'alice@acme.example',
      companyName: 'Acme',
    })
    const oscar = await api.post('/api/v1/partners', {
      name: 'Oscar Diaz',
      email: 'oscar@umbrella.example',
      companyName: 'Umbrella',
    })
    context.progress('Globex: contacts Alice Martin (Acme) and Oscar Diaz (Umbrella)')
    return { partner: alice.id, customer: oscar.id }
  })
  const order = await once(context, 'globex.order', async () =>
    api.post('/api/v1/models/purchase_order/records', {
      values: {
        name: 'P00017',
        stage: 'purchase_order',
        user_id: boss.userId,
        partner_id: contacts.partner,
        amount_total: 12_500,
        date_planned: inDays(7),
        notes: '40 controller boards from Acme (their S00042).',
      },
    }),
  )
  await once(context, 'globex.order.chatter', async () => {
    await api.post(`/api/v1/records/${order.id}/followers`, { partnerId: colleague.partnerId })
    await api.post(`/api/v1/records/${order.id}/activities`, {
      type: 'todo',
      summary: 'Book a dock slot for the Acme delivery',
      assigneeId: colleague.userId,
      deadline: inDays(5),
    })
    await api.post(`/api/v1/records/${order.id}/messages`, {
      kind: 'note',
      body: 'Budget approved by finance on Monday.',
    })
    context.progress(`Globex: purchase order ${order.name} with a follower, a to-do and a note`)
  })
  const ticket = await once(context, 'globex.ticket', async () =>
    api.post('/api/v1/models/ticket/records', {
      values: {
        name: 'Sensor readings drift after firmware 2.1',
        stage: 'in_progress',
        user_id: colleague.userId,
        partner_id: contacts.customer,
        email: 'oscar@umbrella.example',
        priority: 'urgent',
        description: 'Readings drift by 3% an hour after the update; rolling back fixes it.',
      },
    }),
  )
  await once(context, 'globex.ticket.chatter', async () => {
    await api.post(`/api/v1/records/${ticket.id}/followers`, { partnerId: boss.partnerId })
    await api.post(`/api/v1/records/${ticket.id}/activities`, {
      type: 'call',
      summary: 'Call Oscar to collect logs from the field',
      assigneeId: colleague.userId,
      deadline: inDays(-1),
    })
    const hank = await colleagueApi()
    await hank.post(`/api/v1/records/${ticket.id}/messages`, {
      kind: 'message',
      body: 'Reproduced on the bench: the drift starts after about 40 minutes.',
    })
    await api.post(`/api/v1/records/${ticket.id}/messages`, {
      kind: 'note',
      body: 'If it is the boards from Acme, raise it with them over O\u2019Chat.',
    })
    context.progress(`Globex: ticket "${ticket.name}" with a follower, an overdue call and 2 messages`)
  })
  return { contacts, records: { order: order.id, ticket: ticket.id } }
}

/** Registers a node with the relay (or finds it registered) and answers its instance id. */
export async function registerNode(context, key, api, relayUrl) {
  return once(context, `${key}.registration`, async () => {
    const current = await api.get('/api/v1/ochat/registration')
    const view =
      current.state === 'registered' ? current : await api.post('/api/v1/ochat/registration', { relayUrl })
    context.progress(`${COMPANIES[key].company}: registered with the relay as ${view.instanceId}`)
    return view.instanceId
  })
}

/** Acme asks, Globex accepts; each files the other under a contact. Answers both channel ids. */
export async function connect(context, { acme, globex, globexId, acmeContact, globexContact }) {
  return once(context, 'connection', async () => {
    const existing = (await acme.get('/api/v1/ochat/connections')).items.find(
      (item) => item.peer.instanceId === globexId && item.state !== 'rejected' && item.state !== 'revoked',
    )
    const requested =
      existing ??
      (await acme.post('/api/v1/ochat/connections', {
        instanceId: globexId,
        message: 'Hello Globex, Acme here: let us talk about your orders over O\u2019Chat.',
        contactPartnerId: acmeContact,
      }))
    context.progress('Acme: asked Globex for a connection')
    const incoming = await until('the request at Globex', async () => {
      const synced = await globex.post('/api/v1/ochat/connections/sync')
      return synced.items.find((item) => item.id === requested.id)
    })
    const accepted =
      incoming.state === 'accepted'
        ? incoming
        : await globex.post(`/api/v1/ochat/connections/${requested.id}/accept`, {
            contactPartnerId: globexContact,
          })
    const atAcme = await until('the acceptance at Acme', async () => {
      const synced = await acme.post('/api/v1/ochat/connections/sync')
      const item = synced.items.find((row) => row.id === requested.id)
      return item?.state === 'accepted' && item.channelId ? item : undefined
    })
    context.progress(`Globex: accepted (safety code ${accepted.safetyCode?.groups.slice(0, 2).join(' ')} …)`)
    return { connectionId: requested.id, acmeChannel: atAcme.channelId, globexChannel: accepted.channelId }
  })
}

/** O'Chat messages both ways, one thread about Acme's sales order filed on Globex's purchase order. */
export async function converse(context, { acme, globex, channels, acmeOrder, globexOrder }) {
  const sent = await once(context, 'ochat.acme', async () => {
    const hello = await acme.post(`/api/v1/ochat/channels/${channels.acmeChannel}/messages`, {
      body: 'Hello Globex! From now on, order updates come through here, **end-to-end encrypted**.',
    })
    const about = await acme.post(`/api/v1/records/${acmeOrder}/ochat`, {
      channelId: channels.acmeChannel,
      body: 'Your order **S00042** (40 controller boards) is confirmed: delivery planned next week.',
    })
    context.progress("Acme: sent 2 O'Chat messages, one about sales order S00042")
    return { hello: hello.id, about: about.envelopeId }
  })
  await once(context, 'ochat.globex', async () => {
    const arrived = await until("Acme's messages at Globex", async () => {
      const page = await globex.get(`/api/v1/ochat/channels/${channels.globexChannel}/messages`)
      return page.items.find((item) => item.envelopeId === sent.about)
    })
    await globex.post(`/api/v1/ochat/messages/${arrived.id}/link`, { recordId: globexOrder })
    await globex.post(`/api/v1/ochat/channels/${channels.globexChannel}/messages`, {
      body: 'Thanks Acme, good to have a secure line. Grace, purchasing.',
    })
    await globex.post(`/api/v1/records/${globexOrder}/ochat`, {
      channelId: channels.globexChannel,
      body: 'Great, we filed this on our **P00017**. Please deliver to dock 3, mornings only.',
    })
    context.progress('Globex: filed the thread on purchase order P00017 and answered twice')
  })
  await once(context, 'ochat.delivered', async () => {
    for (const [api, channel] of [
      [acme, channels.acmeChannel],
      [globex, channels.globexChannel],
    ])
      await until("O'Chat messages Delivered", async () => {
        const page = await api.get(`/api/v1/ochat/channels/${channel}/messages`)
        const out = page.items.filter((item) => item.direction === 'out')
        return out.length >= 2 && out.every((item) => item.status === 'delivered' || item.status === 'read')
      })
    context.progress("O'Chat: all 4 messages Delivered, both ways")
  })
}
