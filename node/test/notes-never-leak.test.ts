import fc from 'fast-check'
import t from 'tap'
import { receiveMail } from '../src/mail/inbound/receive.ts'
import { settled, startReceiver } from './fixtures/webhooks.ts'
import { type Actor, buildNode, buildPartner, buildRecord, buildUser, type TestNode } from './helpers.ts'

/**
 * Internal stays internal, as a property: whatever people post, follow, unfollow and change, and
 * whoever answers a note by email (to its reply address or quoting its Message-ID), a log note
 * never reaches an external partner — no notification row, and no email to them that carries a note's
 * text — and is never emailed at all, not even in a colleague's daily digest. Each run gets a fresh
 * record on one node; the people are shared.
 */

const DOMAIN = 'acme.example'
const SUBTYPE_KEYS = ['comment', 'tracking', 'note', 'activities'] as const
const STAGES = ['new', 'qualified', 'proposition', 'won', 'lost'] as const

type Action =
  | {
      type: 'post'
      kind: 'message' | 'note'
      author: number
      mentionInternal: number[]
      mentionExternal: number[]
    }
  | { type: 'follow'; who: Who; subscription: 'all' | 'comments' | 'none' | 'custom'; subtypes: string[] }
  | { type: 'change'; who: Who; subscription: 'all' | 'comments' | 'none' | 'custom'; subtypes: string[] }
  | { type: 'unfollow'; who: Who }
  | { type: 'preference'; user: number; notification: 'inbox' | 'email' }
  | { type: 'stage'; author: number; stage: (typeof STAGES)[number] }
  | { type: 'editNote'; author: number }
  /** Someone answers the last note by email: to its reply address, or quoting its Message-ID. */
  | { type: 'mailReply'; who: Who; byToken: boolean }
type Who = { external: boolean; index: number }

const who = fc.record({ external: fc.boolean(), index: fc.nat(2) })
const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      type: fc.constant('post' as const),
      kind: fc.constantFrom('message' as const, 'note' as const),
      author: fc.nat(2),
      mentionInternal: fc.uniqueArray(fc.nat(2), { maxLength: 3 }),
      mentionExternal: fc.oneof(
        { weight: 3, arbitrary: fc.constant([] as number[]) },
        { weight: 1, arbitrary: fc.uniqueArray(fc.nat(2), { minLength: 1, maxLength: 2 }) },
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant('follow' as const),
      who,
      subscription: fc.constantFrom('all' as const, 'comments' as const, 'none' as const, 'custom' as const),
      subtypes: fc.subarray([...SUBTYPE_KEYS]),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant('change' as const),
      who,
      subscription: fc.constantFrom('all' as const, 'comments' as const, 'none' as const, 'custom' as const),
      subtypes: fc.subarray([...SUBTYPE_KEYS]),
    }),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('unfollow' as const), who }) },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant('preference' as const),
      user: fc.nat(2),
      notification: fc.constantFrom('inbox' as const, 'email' as const),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant('stage' as const),
      author: fc.nat(2),
      stage: fc.constantFrom(...STAGES),
    }),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('editNote' as const), author: fc.nat(2) }) },
  {
    weight: 2,
    arbitrary: fc.record({ type: fc.constant('mailReply' as const), who, byToken: fc.boolean() }),
  },
)

t.test('a log note never reaches an external partner, whatever happens around it', async (t) => {
  const node = await buildNode(t, {
    env: {
      NODE_MAIL_DOMAIN: DOMAIN,
      NODE_MAIL_TRUSTED_AUTHSERV: 'mx.acme.example',
      NODE_WEBHOOK_ALLOWLIST: '127.0.0.1',
    },
  })
  const inbound = node.inbound.deps
  const users: Actor[] = [
    await buildUser(node, { name: 'Alice Alpha', notification: 'inbox' }),
    await buildUser(node, { name: 'Bruno Bravo', notification: 'email' }),
    await buildUser(node, { name: 'Cleo Charlie', notification: 'inbox' }),
  ]
  const names = ['Alice Alpha', 'Bruno Bravo', 'Cleo Charlie']
  const externals = [
    buildPartner(node, { name: 'Xavier Xray', email: 'xavier@client.test' }),
    buildPartner(node, { name: 'Yara Yankee', email: 'yara@vendor.test' }),
    buildPartner(node, { name: 'Zed Zulu', email: null }),
  ]
  const externalIds = new Set(externals.map((partner) => partner.id))
  for (const user of users) {
    const digest = await user.call('PATCH', `/api/v1/users/${user.userId}`, { digest: true, digestHour: 0 })
    if (digest.status !== 200) throw new Error(`digest answered ${digest.status}`)
  }
  // An integrator's endpoint for every event, and one that asked for internal items too.
  const receiver = await startReceiver(t)
  const admin = await buildUser(node, { name: 'Ada Admin', role: 'admin' })
  const outside = await admin.call('POST', '/api/v1/webhooks/endpoints', { url: `${receiver.url}?outside` })
  const inside = await admin.call('POST', '/api/v1/webhooks/endpoints', {
    url: `${receiver.url}?inside`,
    internal: true,
  })
  if (outside.status !== 201 || inside.status !== 201) throw new Error('the webhook endpoints were refused')
  let serial = 0

  await fc.assert(
    fc.asyncProperty(fc.array(action, { maxLength: 25 }), async (actions) => {
      const lead = await buildRecord(users[0] as Actor, 'lead')
      let version = lead.version
      const noteTexts: string[] = []
      const noteIds: number[] = []
      const partnerOf = (w: Who) =>
        (w.external ? externals[w.index]?.id : users[w.index]?.partnerId) as number

      for (const step of actions) {
        const author = users['author' in step ? step.author : 0] as Actor
        if (step.type === 'post') {
          const text = `${step.kind === 'note' ? 'NOTE' : 'MSG'}-${++serial}-text`
          const mentions = [
            ...step.mentionInternal.map((i) => names[i]),
            ...step.mentionExternal.map((i) => externals[i]?.name),
          ]
          const body = `${text} ${mentions.map((name) => `@${name}`).join(' ')}`
          const before = countOf(node, 'messages', lead.id)
          const posted = await author.call('POST', `/api/v1/records/${lead.id}/messages`, {
            kind: step.kind,
            body,
          })
          if (step.kind === 'note' && step.mentionExternal.length > 0) {
            if (posted.status !== 422 || posted.body.error.code !== 'E_MENTION_EXTERNAL_IN_NOTE')
              throw new Error(`a note naming a customer was not refused: ${posted.status}`)
            if (countOf(node, 'messages', lead.id) !== before) throw new Error('the refused note left a row')
            continue
          }
          if (posted.status !== 201)
            throw new Error(`post failed: ${posted.status} ${JSON.stringify(posted.body)}`)
          if (step.kind === 'note') {
            noteTexts.push(text)
            noteIds.push(posted.body.id)
          }
        } else if (step.type === 'follow') {
          const response = await users[0]?.call('POST', `/api/v1/records/${lead.id}/followers`, {
            partnerId: partnerOf(step.who),
            subscription: step.subscription,
            ...(step.subscription === 'custom' ? { subtypes: step.subtypes } : {}),
          })
          const refusedInternal =
            step.who.external &&
            step.subscription === 'custom' &&
            step.subtypes.some((key) => key === 'note' || key === 'activities')
          const want = refusedInternal ? 400 : 201
          if (response?.status !== want)
            throw new Error(`follow answered ${response?.status}, expected ${want}`)
        } else if (step.type === 'change') {
          // Changing the choice of someone who follows (PATCH); 404 when they do not follow.
          const response = await users[0]?.call(
            'PATCH',
            `/api/v1/records/${lead.id}/followers/${partnerOf(step.who)}`,
            {
              subscription: step.subscription,
              ...(step.subscription === 'custom' ? { subtypes: step.subtypes } : {}),
            },
          )
          const refusedInternal =
            step.who.external &&
            step.subscription === 'custom' &&
            step.subtypes.some((key) => key === 'note' || key === 'activities')
          const allowed = refusedInternal ? [400, 404] : [200, 404]
          if (!allowed.includes(response?.status ?? 0)) throw new Error(`change answered ${response?.status}`)
        } else if (step.type === 'unfollow') {
          const response = await users[0]?.call(
            'DELETE',
            `/api/v1/records/${lead.id}/followers/${partnerOf(step.who)}`,
          )
          if (response?.status !== 204 && response?.status !== 404)
            throw new Error(`unfollow answered ${response?.status}`)
        } else if (step.type === 'preference') {
          const user = users[step.user] as Actor
          const response = await user.call('PATCH', `/api/v1/users/${user.userId}`, {
            notification: step.notification,
          })
          if (response.status !== 200) throw new Error(`preference answered ${response.status}`)
        } else if (step.type === 'stage') {
          const response = await author.call('PATCH', `/api/v1/records/${lead.id}`, {
            version,
            values: { stage: step.stage },
          })
          if (response.status !== 200) throw new Error(`write answered ${response.status}`)
          version = response.body.version
        } else if (step.type === 'mailReply') {
          const noteId = noteIds.at(-1)
          const from = step.who.external
            ? externals[step.who.index]?.email
            : users[step.who.index]?.user.login
          if (noteId === undefined || !from) continue
          const address = from.includes('@') ? from : `${from}@acme.test`
          const text = `NOTE-${++serial}-mailed`
          const headers = step.byToken
            ? `To: reply+${inbound.tokens.replyToken({ recordId: lead.id, messageId: noteId, partnerId: users[0]?.partnerId ?? 0 })}@${DOMAIN}`
            : `To: someone@${DOMAIN}\r\nReferences: <${messageIdOf(node, noteId)}>`
          // Our users' mail is vouched for by the company's MTA: an unauthenticated From is never a user.
          const vouched = step.who.external
            ? ''
            : `Authentication-Results: mx.acme.example; dmarc=pass header.from=acme.test\r\n`
          const raw = `${vouched}From: ${address}\r\n${headers}\r\nCc: xavier@client.test\r\nSubject: Re: note\r\nMessage-ID: <r${serial}@example.com>\r\n\r\n${text}\r\n`
          // Spread out, so the loop guard (20 mails a sender in 120 minutes) never decides.
          node.clock.advance(7 * 60_000)
          const result = await receiveMail(inbound, { raw: Buffer.from(raw), via: 'http' })
          if (result.outcome !== 'posted' || result.messageId === null)
            throw new Error(`a reply to a note was ${result.outcome}: ${result.reason}`)
          noteTexts.push(text)
          noteIds.push(result.messageId)
        } else if (step.type === 'editNote') {
          const noteId = noteIds.at(-1)
          if (noteId === undefined) continue
          const text = `NOTE-${++serial}-edited`
          const response = await author.call('PATCH', `/api/v1/messages/${noteId}`, { body: text })
          // Only the note's author (or an admin) may edit it.
          if (response.status === 200) noteTexts.push(text)
          else if (response.status !== 403) throw new Error(`edit answered ${response.status}`)
        }
      }

      const sqlite = node.database.sqlite
      await settled(node)
      const toOutside = sqlite
        .prepare('select payload from webhook_messages where endpoint_id = ?')
        .all(outside.body.id) as { payload: string }[]
      const sentOutside = receiver.received.filter((delivery) => delivery.path.endsWith('?outside'))
      for (const text of noteTexts) {
        if (toOutside.some((row) => row.payload.includes(text)))
          throw new Error(`a webhook for an endpoint without internal items carries the note text ${text}`)
        if (sentOutside.some((delivery) => delivery.body.includes(text)))
          throw new Error(`the note text ${text} was delivered to the endpoint without internal items`)
      }
      for (const noteId of noteIds) {
        const toExternal = (
          sqlite.prepare('select partner_id from notifications where message_id = ?').all(noteId) as {
            partner_id: number
          }[]
        ).filter((row) => externalIds.has(row.partner_id))
        if (toExternal.length) throw new Error(`note ${noteId} notified external partner(s)`)
        // A note is never emailed, not even to colleagues who chose email for everything else.
        const mails = sqlite
          .prepare('select count(*) as n from outgoing_mail where message_id = ?')
          .get(noteId) as { n: number }
        if (mails.n > 0) throw new Error(`note ${noteId} was emailed`)
      }
      const externalMail = sqlite
        .prepare(
          `select m.body, m.subject from email_notifications m where m.record_id = ? and m.partner_id in (${[...externalIds].join(',')})`,
        )
        .all(lead.id) as { body: string; subject: string }[]
      for (const mail of externalMail)
        for (const text of noteTexts)
          if (mail.body.includes(text) || mail.subject.includes(text))
            throw new Error(`an email to an external partner carries the note text ${text}`)
      // Each run is a new day for the digest: every colleague gets one about what just happened.
      sqlite.prepare('update users set digest_sent_on = null').run()
      await node.digest.tick()
      const digests = sqlite
        .prepare("select subject, body from outgoing_mail where kind = 'digest'")
        .all() as { body: string; subject: string }[]
      for (const mail of digests)
        for (const text of noteTexts)
          if (mail.body.includes(text) || mail.subject.includes(text))
            throw new Error(`a daily digest carries the note text ${text}`)
      const notes = sqlite
        .prepare(
          "select internal from messages where record_id = ? and (kind = 'note' or parent_id is not null)",
        )
        .all(lead.id) as { internal: number }[]
      if (notes.some((row) => row.internal !== 1)) throw new Error('a note is stored as not internal')
    }),
    { numRuns: 40 },
  )
  t.pass('no note reached an external partner in 40 random runs')
  const digests = node.database.sqlite
    .prepare("select count(*) as n from outgoing_mail where kind = 'digest'")
    .get() as { n: number }
  t.ok(digests.n > 0, 'daily digests were written, and none carried a note')
  const notesInside = node.database.sqlite
    .prepare(
      'select count(*) as n from webhook_messages where endpoint_id = ? and payload like \'%"kind":"note"%\'',
    )
    .get(inside.body.id) as { n: number }
  t.ok(notesInside.n > 0, 'notes did go to the endpoint that asked for internal items')
})

/** The note's Message-ID, as the email quoting it would carry; notes are never emailed, so one is made. */
function messageIdOf(node: TestNode, messageId: number): string {
  const id = `ochat.m${messageId}.note@${DOMAIN}`
  node.database.sqlite
    .prepare('update messages set email_message_id = coalesce(email_message_id, ?) where id = ?')
    .run(id, messageId)
  return (
    node.database.sqlite
      .prepare('select email_message_id as id from messages where id = ?')
      .get(messageId) as {
      id: string
    }
  ).id
}

function countOf(node: TestNode, table: 'messages', recordId: number): number {
  return (
    node.database.sqlite.prepare(`select count(*) as n from ${table} where record_id = ?`).get(recordId) as {
      n: number
    }
  ).n
}
