import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ManualClock } from '@ochat/shared-protocol/server'
import t from 'tap'
import { digestDue } from '../src/mail/digest/due.ts'
import { type Actor, buildNode, buildPartner, buildRecord, buildUser, type TestNode } from './helpers.ts'
import { type SmtpSink, startSmtpSink } from './smtp-sink.ts'

/**
 * The daily digest: one email a day per user who wants it, at their hour in their time zone, saying
 * what their inbox would say (never more), their activities due and their emails that failed.
 */

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
/** 07:00 in Paris (UTC+1 in November). */
const PARIS_SEVEN = Date.parse('2026-11-25T06:00:00Z')

const CONTRACT = {
  name: 'x_contract',
  label: 'Contract',
  userAccess: 'own',
  fields: [{ name: 'name', label: 'Title', type: 'char', required: true }],
}

function mailEnv(sink: SmtpSink): Record<string, string> {
  return {
    NODE_SMTP_URL: sink.url,
    NODE_MAIL_FROM: 'notifications@acme.test',
    NODE_MAIL_DOMAIN: 'mail.acme.test',
    NODE_PUBLIC_URL: 'https://crm.acme.test',
  }
}

async function wantsDigest(actor: Actor, hour = 8) {
  const changed = await actor.call('PATCH', `/api/v1/users/${actor.userId}`, {
    digest: true,
    digestHour: hour,
  })
  if (changed.status !== 200)
    throw new Error(`digest not turned on: ${changed.status} ${JSON.stringify(changed.body)}`)
}

async function post(actor: Actor, recordId: number, body: string, kind: 'message' | 'note' = 'message') {
  const posted = await actor.call('POST', `/api/v1/records/${recordId}/messages`, { kind, body })
  if (posted.status !== 201) throw new Error(`not posted: ${posted.status} ${JSON.stringify(posted.body)}`)
}

async function follow(actor: Actor, recordId: number, partnerId: number, subtypes?: string[]) {
  const followed = await actor.call('POST', `/api/v1/records/${recordId}/followers`, {
    partnerId,
    ...(subtypes ? { subscription: 'custom', subtypes } : { subscription: 'all' }),
  })
  if (followed.status !== 201) throw new Error(`not followed: ${followed.status}`)
}

/** The digests queued so far, oldest first, as stored for the mail sender. */
function digests(node: TestNode) {
  return node.database.sqlite
    .prepare(
      `select n.partner_id as partnerId, n.email_to as emailTo, n.email_status as status, m.subject, m.body
         from notifications n join outgoing_mail m on m.id = n.mail_id
        where n.reason = 'digest' and m.kind = 'digest' and n.record_id is null order by n.id`,
    )
    .all() as { partnerId: number; emailTo: string; status: string; subject: string; body: string }[]
}

function sentOn(node: TestNode, userId: number): string | null {
  return (
    node.database.sqlite.prepare('select digest_sent_on as d from users where id = ?').get(userId) as {
      d: string | null
    }
  ).d
}

t.test(
  'a user in Paris gets one digest after 08:00 their time, none before, and none again that day',
  async (t) => {
    const sink = await startSmtpSink(t)
    const dataDir = mkdtempSync(join(tmpdir(), 'ochat-node-'))
    t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
    const clock = new ManualClock(PARIS_SEVEN)
    let paulaId = 0
    let paulaEmail = ''

    await t.test('the day of the digest', async (t) => {
      const node = await buildNode(t, { env: mailEnv(sink), clock, dataDir })
      const admin = await buildUser(node, { name: 'Ada Admin', role: 'admin' })
      t.equal((await admin.call('POST', '/api/v1/models', CONTRACT)).status, 201)
      const sarah = await buildUser(node, { name: 'Sarah Sales' })
      const paula = await buildUser(node, { name: 'Paula Paris', login: 'paula', timeZone: 'Europe/Paris' })
      paulaId = paula.userId
      paulaEmail = 'paula@acme.test'
      await wantsDigest(paula)

      // Two records Paula follows, one with a name that is markup, one where she also follows notes.
      const tricky = await buildRecord(sarah, 'lead', { name: '<b>x</b>' })
      const plain = await buildRecord(sarah, 'lead', { name: 'Plain & simple deal' })
      await follow(sarah, tricky.id, paula.partnerId)
      await follow(sarah, plain.id, paula.partnerId, ['comment', 'note'])
      await post(sarah, tricky.id, 'Quote <i>sent</i> & waiting')
      await post(sarah, tricky.id, 'Customer called back')
      await post(sarah, plain.id, 'Kickoff on Monday')
      await post(sarah, plain.id, 'NOTE-TEXT-ONE: margin is thin', 'note')
      // A note on a record she follows without notes: her inbox does not get it, nor does her digest.
      await post(sarah, tricky.id, 'NOTE-TEXT-TWO: not for Paula', 'note')
      // A record she could read and then no longer can: the inbox hides it, so must the digest.
      const contract = await buildRecord(sarah, 'x_contract', { name: 'Hidden contract' })
      await follow(sarah, contract.id, paula.partnerId)
      await post(sarah, contract.id, 'SECRET-CONTRACT-TEXT')
      t.equal(
        (await sarah.call('DELETE', `/api/v1/records/${contract.id}/followers/${paula.partnerId}`)).status,
        204,
      )

      t.equal(await node.digest.tick(), 0, 'at 07:00 Paris time, nothing')
      node.clock.advance(HOUR - 1000)
      t.equal(await node.digest.tick(), 0, 'at 07:59:59, nothing')
      t.same(digests(node), [])
      t.equal(sentOn(node, paula.userId), null, 'the day is not taken before the hour')

      node.clock.advance(1000)
      t.equal(await node.digest.tick(), 1, 'at 08:00 Paris time (07:00 UTC), one digest')
      t.equal(sentOn(node, paula.userId), '2026-11-25')
      await node.mail.idle()
      const mail = await sink.next()
      t.same(mail.to, [paulaEmail])
      t.equal(
        mail.parsed.subject,
        'Your daily digest: 4 updates on 2 records · Acme',
        'the company in the subject',
      )
      const html = String(mail.parsed.html)
      const text = String(mail.parsed.text)

      // What the inbox shows her is what the digest lists.
      const counters = (await paula.call('GET', '/api/v1/inbox/counters')).body
      t.same(
        counters.records.map((record: { recordId: number }) => record.recordId).sort(),
        [tricky.id, plain.id].sort(),
        'her inbox shows these two records',
      )
      t.ok(html.includes(`https://crm.acme.test/#/records/${tricky.id}`), 'a link to each record')
      t.ok(html.includes(`https://crm.acme.test/#/records/${plain.id}`))
      t.ok(html.includes('Lead &lt;b&gt;x&lt;/b&gt;'), 'a name that is markup is escaped in HTML')
      t.notOk(html.includes('<b>x</b>'), 'and never rendered')
      t.ok(
        text.includes(`Lead <b>x</b> (https://crm.acme.test/#/records/${tricky.id}): 2 unread updates`),
        'the text part shows it literally, with its count',
      )
      t.ok(
        text.includes(`Plain & simple deal (https://crm.acme.test/#/records/${plain.id}): 2 unread updates`),
      )
      t.ok(
        text.includes('Sarah Sales: Quote <i>sent</i> & waiting'),
        'the latest messages, as people typed them',
      )
      t.notOk(html.includes('<i>sent</i>'), 'escaped in HTML')
      t.ok(text.includes('Kickoff on Monday'))
      t.ok(text.includes('1 internal message'), 'the note she gets in her inbox is counted')
      for (const secret of ['NOTE-TEXT-ONE', 'NOTE-TEXT-TWO', 'SECRET-CONTRACT-TEXT', 'Hidden contract'])
        t.notOk(html.includes(secret) || text.includes(secret), `never in the digest: ${secret}`)
      t.equal(digests(node)[0]?.status, 'sent', 'sent like any email, with its status')

      t.equal(await node.digest.tick(), 0, 'a second tick the same day queues nothing')
      node.clock.advance(MINUTE)
      await post(sarah, tricky.id, 'One more thing')
      node.clock.advance(15 * HOUR + 58 * MINUTE)
      t.equal(await node.digest.tick(), 0, 'nor at 23:59 Paris time, with news waiting')
    })

    await t.test('after a restart the same day, and the next day', async (t) => {
      const node = await buildNode(t, { env: mailEnv(sink), clock, dataDir })
      t.equal(await node.digest.tick(), 0, 'the restarted node queues nothing for a day already served')
      node.clock.advance(MINUTE)
      t.equal(await node.digest.tick(), 0, 'at 00:00 Paris, a new day, but before 08:00')
      node.clock.advance(8 * HOUR)
      t.equal(await node.digest.tick(), 1, 'at 08:00 the next day, the next digest')
      await node.mail.idle()
      const mail = await sink.next()
      t.equal(
        mail.parsed.subject,
        'Your daily digest: 1 update on 1 record · Acme',
        'only what came since the last one',
      )
      t.ok(String(mail.parsed.text).includes('One more thing'))
      t.equal(sentOn(node, paulaId), '2026-11-26')
      t.equal(sink.mails.length, 2, 'two days, two digests')
    })
  },
)

t.test('a day with nothing to say sends nothing, and is not looked at again', async (t) => {
  const node = await buildNode(t, { clock: new ManualClock(PARIS_SEVEN) })
  const paula = await buildUser(node, { name: 'Paula Paris', timeZone: 'Europe/Paris' })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  await wantsDigest(paula)
  const lead = await buildRecord(sarah, 'lead', { name: 'Quiet deal' })
  await follow(sarah, lead.id, paula.partnerId)
  await post(sarah, lead.id, 'Read right away')
  t.equal((await paula.call('POST', '/api/v1/inbox/read-all', {})).status, 200)
  node.clock.advance(2 * HOUR)
  t.equal(await node.digest.tick(), 0)
  t.same(digests(node), [], 'no email: everything was read')
  t.equal(sentOn(node, paula.userId), '2026-11-25', 'the day is taken all the same')
  node.clock.advance(MINUTE)
  await post(sarah, lead.id, 'Arrived after the hour')
  t.equal(await node.digest.tick(), 0, 'news after the hour waits for tomorrow')
  node.clock.advance(DAY)
  t.equal(await node.digest.tick(), 1)
  t.match(digests(node)[0]?.body, /Arrived after the hour/)
})

t.test(
  'a digest also lists activities overdue or due today, and emails that could not be sent',
  async (t) => {
    const node = await buildNode(t, { clock: new ManualClock(PARIS_SEVEN) })
    const paula = await buildUser(node, { name: 'Paula Paris', timeZone: 'Europe/Paris' })
    await wantsDigest(paula)
    const lead = await buildRecord(paula, 'lead', { name: 'Busy deal' })
    for (const [summary, deadline] of [
      ['Call <them>', '2026-11-20'],
      ['Send the quote', '2026-11-25'],
      ['Next week', '2026-12-02'],
    ] as const) {
      const scheduled = await paula.call('POST', `/api/v1/records/${lead.id}/activities`, {
        type: 'call',
        summary,
        deadline,
      })
      t.equal(scheduled.status, 201)
    }
    // A customer without an address: the email of Paula's message to them fails at once.
    await follow(paula, lead.id, buildPartner(node, { name: 'No Address', email: null }).id)
    await post(paula, lead.id, 'Dear customer')
    node.clock.advance(HOUR)
    t.equal(await node.digest.tick(), 1)
    const [digest] = digests(node)
    t.equal(digest?.subject, 'Your daily digest: 2 activities due, 1 email not delivered · Acme')
    t.match(
      digest?.body,
      /Call: Call &lt;them&gt; on <a href="[^"]+\/#\/records\/\d+">Lead Busy deal<\/a>, overdue since 2026-11-20/,
    )
    t.match(digest?.body, /Send the quote on .*, due today/)
    t.notOk(digest?.body.includes('Next week'), 'an activity due later is not listed')
    t.match(digest?.body, /Busy deal<\/a>: 1 email not delivered/)
  },
)

t.test('preferences: digest and digestHour through the user API, validated', async (t) => {
  const node = await buildNode(t)
  const admin = await buildUser(node, { name: 'Ada Admin', role: 'admin' })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const john = await buildUser(node, { name: 'John' })
  const noMail = await buildUser(node, { name: 'Nomail', email: null })

  const shown = await sarah.call('GET', `/api/v1/users/${sarah.userId}`)
  t.match(shown.body, { digest: false, digestHour: 8 }, 'off by default, at 08:00')
  const mine = await sarah.call('PATCH', `/api/v1/users/${sarah.userId}`, { digest: true, digestHour: 17 })
  t.equal(mine.status, 200)
  t.match(mine.body, { digest: true, digestHour: 17 }, 'a user sets their own')
  t.match(
    (await admin.call('GET', '/api/v1/users?limit=50')).body.items.find(
      (u: { id: number }) => u.id === sarah.userId,
    ),
    {
      digest: true,
      digestHour: 17,
    },
  )

  for (const body of [
    { digestHour: 24 },
    { digestHour: -1 },
    { digestHour: 8.5 },
    { digestHour: '8' },
    { digest: 'yes' },
  ]) {
    const refused = await sarah.call('PATCH', `/api/v1/users/${sarah.userId}`, body)
    t.equal(refused.status, 400, JSON.stringify(body))
    t.equal(refused.body.error.code, 'E_INVALID_BODY')
  }
  const other = await sarah.call('PATCH', `/api/v1/users/${john.userId}`, { digest: true })
  t.equal(other.status, 403, "not someone else's")
  t.equal(other.body.error.code, 'E_FORBIDDEN')
  const byAdmin = await admin.call('PATCH', `/api/v1/users/${john.userId}`, { digest: true, digestHour: 0 })
  t.equal(byAdmin.status, 200, "an administrator sets anyone's")
  t.match(byAdmin.body, { digest: true, digestHour: 0 })

  const noAddress = await noMail.call('PATCH', `/api/v1/users/${noMail.userId}`, { digest: true })
  t.equal(noAddress.status, 422, 'no digest without an email address')
  t.equal(noAddress.body.error.code, 'E_DIGEST_NEEDS_EMAIL')
  t.equal((await noMail.call('GET', `/api/v1/users/${noMail.userId}`)).body.digest, false, 'nothing changed')
  const withAddress = await noMail.call('PATCH', `/api/v1/users/${noMail.userId}`, {
    digest: true,
    email: 'nomail@acme.test',
  })
  t.equal(withAddress.status, 200, 'with an address given in the same change')
  const removing = await sarah.call('PATCH', `/api/v1/users/${sarah.userId}`, { email: null })
  t.equal(removing.status, 422, 'the address cannot go while the digest is on')
  t.equal(removing.body.error.code, 'E_DIGEST_NEEDS_EMAIL')
  const both = await sarah.call('PATCH', `/api/v1/users/${sarah.userId}`, { email: null, digest: false })
  t.equal(both.status, 200, 'turned off in the same change, it can')

  const document = (await node.app.inject({ method: 'GET', url: '/docs' })).json()
  const patch = document.paths['/api/v1/users/{id}'].patch
  const properties = patch.requestBody.content['application/json'].schema.properties
  t.match(properties.digestHour, { type: 'integer', minimum: 0, maximum: 23 }, 'documented in OpenAPI')
  t.equal(properties.digest.type, 'boolean')
  t.ok(patch.responses['200'].content['application/json'].schema.properties.digestHour)
})

t.test('the day of a digest is the local date: clock changes and moves give at most one a day', async (t) => {
  const paris = (iso: string, sentOn: string | null, hour = 2) =>
    digestDue({ now: Date.parse(iso), timeZone: 'Europe/Paris', hour, sentOn })
  // 2026-03-29: 02:00 does not exist in Paris; the first hour past it counts.
  t.equal(paris('2026-03-29T00:59:00Z', null), null, '01:59 CET: not yet')
  t.equal(paris('2026-03-29T01:00:00Z', null), '2026-03-29', '03:00 CEST: due')
  // 2026-10-25: 02:00-03:00 happens twice; the second time the day is served already.
  t.equal(paris('2026-10-25T00:30:00Z', null), '2026-10-25', '02:30 CEST: due')
  t.equal(paris('2026-10-25T01:30:00Z', '2026-10-25'), null, '02:30 CET, again: served')
  // Moving west: Tokyo's 26 November was served; in Paris it is still 26 November, so nothing.
  const tokyo = digestDue({
    now: Date.parse('2026-11-25T23:00:00Z'),
    timeZone: 'Asia/Tokyo',
    hour: 8,
    sentOn: null,
  })
  t.equal(tokyo, '2026-11-26', '08:00 in Tokyo')
  t.equal(paris('2026-11-26T07:00:00Z', tokyo, 8), null, '08:00 in Paris the same date: nothing')
  t.equal(paris('2026-11-27T07:00:00Z', tokyo, 8), '2026-11-27', 'the next date: due')
})

t.test('a user moving west after their digest gets none again that date', async (t) => {
  const node = await buildNode(t, { clock: new ManualClock(Date.parse('2026-11-25T23:00:00Z')) })
  const kenji = await buildUser(node, { name: 'Kenji', timeZone: 'Asia/Tokyo' })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  await wantsDigest(kenji)
  const lead = await buildRecord(sarah, 'lead', { name: 'Travel deal' })
  await follow(sarah, lead.id, kenji.partnerId)
  await post(sarah, lead.id, 'Before the flight')
  t.equal(await node.digest.tick(), 1, '08:00 in Tokyo')
  t.equal(
    (await kenji.call('PATCH', `/api/v1/users/${kenji.userId}`, { timeZone: 'Europe/Paris' })).status,
    200,
  )
  node.clock.advance(MINUTE)
  await post(sarah, lead.id, 'After landing')
  node.clock.advance(8 * HOUR - MINUTE)
  t.equal(await node.digest.tick(), 0, '08:00 in Paris, still 26 November: nothing')
  node.clock.advance(DAY)
  t.equal(await node.digest.tick(), 1, '27 November in Paris')
  t.equal(digests(node).length, 2)
})

t.test('turned on after the day’s hour, the first digest waits for that hour tomorrow', async (t) => {
  // 15:00 in Paris.
  const node = await buildNode(t, { clock: new ManualClock(PARIS_SEVEN + 8 * HOUR) })
  const paula = await buildUser(node, { name: 'Paula Paris', timeZone: 'Europe/Paris' })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const lead = await buildRecord(sarah, 'lead', { name: 'Afternoon deal' })
  await follow(sarah, lead.id, paula.partnerId)
  await post(sarah, lead.id, 'Unread news')
  await wantsDigest(paula, 8)
  t.equal(await node.digest.tick(), 0, 'nothing at 15:00, the moment it was turned on')
  node.clock.advance(16 * HOUR + 59 * MINUTE)
  t.equal(await node.digest.tick(), 0, 'nothing at 07:59 the next day')
  node.clock.advance(MINUTE)
  t.equal(await node.digest.tick(), 1, 'one at 08:00')
  t.match(digests(node)[0]?.body, /Unread news/)

  // Turned on before the hour, it goes the same day.
  const early = await buildNode(t, { clock: new ManualClock(PARIS_SEVEN) })
  const otto = await buildUser(early, { name: 'Otto Early', timeZone: 'Europe/Paris' })
  const sam = await buildUser(early, { name: 'Sam Sales' })
  const deal = await buildRecord(sam, 'lead', { name: 'Morning deal' })
  await follow(sam, deal.id, otto.partnerId)
  await post(sam, deal.id, 'Early news')
  await wantsDigest(otto, 8)
  early.clock.advance(HOUR)
  t.equal(await early.digest.tick(), 1, 'at 08:00 the same day')
})
