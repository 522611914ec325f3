import t, { type Test } from 'tap'
import { followers } from '../src/db/schema.ts'
import { type Actor, buildNode, buildPartner, buildRecord, buildUser, type TestNode } from './helpers.ts'

/**
 * Who is told about a message, one case per combination of:
 *   subtype (a sent message, a log note, a tracked-field change)
 *   × the subject's follower choice × who the subject is (internal user by inbox or email, an inactive
 *   user, an external partner with or without an address) × mentioned or not × author or not.
 * The expected outcome comes from `oracle`, written here from the follower and recipient rules,
 * never from the code under test. Every case also checks the bystander who created the record (follows
 * everything, inbox), so "exactly who gets what" covers the whole notification list of the message.
 */

const SUBTYPES = ['comment', 'note', 'tracking'] as const
const CHOICES = ['all', 'comments', 'custom-with', 'custom-without', 'none', 'not-following'] as const
const WHO = [
  'internal-inbox',
  'internal-email',
  'internal-inactive',
  'external',
  'external-no-email',
] as const
type Subtype = (typeof SUBTYPES)[number]
type Choice = (typeof CHOICES)[number]
type Who = (typeof WHO)[number]
type Case = { subtype: Subtype; choice: Choice; who: Who; mentioned: boolean; author: boolean }
type Outcome =
  | { kind: 'refused' }
  | { kind: 'nothing' }
  | { kind: 'inbox'; reason: 'message' | 'mention' }
  | { kind: 'email'; reason: 'message' | 'mention'; failed: boolean }

const isInternal = (who: Who) => who.startsWith('internal')

/** The rules, restated independently of the node's code. */
function oracle(c: Case): Outcome {
  // A log note cannot name an external contact: the post is refused, nothing is written.
  if (c.subtype === 'note' && c.mentioned && !isInternal(c.who)) return { kind: 'refused' }
  // The author is never told about their own message.
  if (c.author) return { kind: 'nothing' }
  // Inactive users are never told.
  if (c.who === 'internal-inactive') return { kind: 'nothing' }
  // Internal subtypes (notes) never reach external partners, whatever they chose.
  if (c.subtype === 'note' && !isInternal(c.who)) return { kind: 'nothing' }
  const follows = {
    // A note reaches only the followers who picked the Notes subtype.
    all: c.subtype !== 'note',
    comments: c.subtype === 'comment',
    'custom-with': true,
    'custom-without': false,
    none: false,
    'not-following': false,
  }[c.choice]
  // Mentioned partners are told whether or not they follow.
  if (!follows && !c.mentioned) return { kind: 'nothing' }
  const reason = c.mentioned ? 'mention' : 'message'
  // A log note is never emailed: by inbox, whatever the person chose for the rest.
  if (c.who === 'internal-inbox' || c.subtype === 'note') return { kind: 'inbox', reason }
  // Users who chose email, and partners without a user, get an email; without an address it fails visibly.
  return { kind: 'email', reason, failed: c.who === 'external-no-email' }
}

function cases(): Case[] {
  const list: Case[] = []
  // Only an active internal user can write; an external partner or an inactive user cannot author.
  for (const subtype of SUBTYPES)
    for (const choice of CHOICES)
      for (const who of WHO)
        for (const mentioned of subtype === 'tracking' ? [false] : [false, true])
          for (const author of who === 'internal-inbox' || who === 'internal-email' ? [false, true] : [false])
            list.push({ subtype, choice, who, mentioned, author })
  return list
}

function describe(c: Case, outcome: Outcome): string {
  const expected =
    outcome.kind === 'inbox'
      ? `inbox (${outcome.reason})`
      : outcome.kind === 'email'
        ? `email (${outcome.reason}${outcome.failed ? ', failed: no address' : ''})`
        : outcome.kind
  return `${c.subtype} | follows: ${c.choice} | ${c.who} | ${c.mentioned ? 'mentioned' : 'not mentioned'} | ${c.author ? 'author' : 'not author'} → ${expected}`
}

type Subject = { partnerId: number; name: string; email: string | null; actor?: Actor }

t.test('notification rules, table-driven', async (t) => {
  const node = await buildNode(t)
  const admin = await buildUser(node, { name: 'Ada Admin', role: 'admin' })
  const owner = await buildUser(node, { name: 'Olga Owner', notification: 'inbox' })
  const poster = await buildUser(node, { name: 'Paul Poster', notification: 'inbox' })
  const ines = await buildUser(node, { name: 'Ines Inbox', notification: 'inbox' })
  const emil = await buildUser(node, { name: 'Emil Email', notification: 'email', email: 'emil@acme.test' })
  const ivan = await buildUser(node, { name: 'Ivan Inactive', notification: 'inbox' })
  const deactivated = await admin.call('PATCH', `/api/v1/users/${ivan.userId}`, { active: false })
  t.equal(deactivated.status, 200)
  const xena = buildPartner(node, { name: 'Xena External', email: 'xena@client.test' })
  const nora = buildPartner(node, { name: 'Nora Noemail', email: null })
  const subjects: Record<Who, Subject> = {
    'internal-inbox': {
      partnerId: ines.partnerId,
      name: 'Ines Inbox',
      email: `${ines.login}@acme.test`,
      actor: ines,
    },
    'internal-email': { partnerId: emil.partnerId, name: 'Emil Email', email: 'emil@acme.test', actor: emil },
    'internal-inactive': {
      partnerId: ivan.partnerId,
      name: 'Ivan Inactive',
      email: `${ivan.login}@acme.test`,
    },
    external: { partnerId: xena.id, name: 'Xena External', email: 'xena@client.test' },
    'external-no-email': { partnerId: nora.id, name: 'Nora Noemail', email: null },
  }

  for (const c of cases()) {
    const expected = oracle(c)
    await t.test(describe(c, expected), async (t) => {
      const subject = subjects[c.who]
      const author = c.author ? subject.actor : poster
      if (!author) throw new Error('only active users author messages')
      const record = await buildRecord(owner, 'lead')
      await setChoice(t, node, owner, record.id, subject, c)
      const messagesBefore = countMessages(node, record.id)

      let messageId: number | undefined
      if (c.subtype === 'tracking') {
        const written = await author.call('PATCH', `/api/v1/records/${record.id}`, {
          version: record.version,
          values: { stage: 'qualified' },
        })
        t.equal(written.status, 200, 'the write succeeds')
        messageId = lastTrackingMessage(node, record.id)
      } else {
        const posted = await author.call('POST', `/api/v1/records/${record.id}/messages`, {
          kind: c.subtype === 'note' ? 'note' : 'message',
          body: c.mentioned ? `Please have a look, @${subject.name}.` : 'Please have a look.',
        })
        if (expected.kind === 'refused') {
          t.equal(posted.status, 422)
          t.equal(posted.body.error.code, 'E_MENTION_EXTERNAL_IN_NOTE')
          t.equal(countMessages(node, record.id), messagesBefore, 'no message was written')
          t.equal(countRows(node, 'notifications', record.id), 0, 'no notification was written')
          t.equal(countRows(node, 'email_notifications', record.id), 0, 'no email was queued')
          return
        }
        t.equal(posted.status, 201)
        messageId = posted.body.id
      }
      if (messageId === undefined) throw new Error('no message')

      // Exactly who is told: the record's creator (follows all messages, inbox) unless they wrote it or
      // it is a note (not the Notes subtype), and the subject.
      const want = new Set<string>()
      if (author !== owner && c.subtype !== 'note') want.add(`${owner.partnerId}:inbox:message`)
      if (expected.kind === 'inbox' || expected.kind === 'email')
        want.add(`${subject.partnerId}:${expected.kind}:${expected.reason}`)
      const got = node.database.sqlite
        .prepare('select partner_id, channel, reason from notifications where message_id = ?')
        .all(messageId) as { partner_id: number; channel: string; reason: string }[]
      t.same(
        got.map((row) => `${row.partner_id}:${row.channel}:${row.reason}`).sort(),
        [...want].sort(),
        'notification rows',
      )

      const mail = node.database.sqlite
        .prepare(
          'select partner_id, email_to, status, last_error from email_notifications where message_id = ?',
        )
        .all(messageId) as {
        partner_id: number
        email_to: string
        status: string
        last_error: string | null
      }[]
      if (expected.kind === 'email') {
        t.equal(mail.length, 1, 'one email, to the subject only')
        t.equal(mail[0]?.partner_id, subject.partnerId)
        if (expected.failed) {
          t.equal(mail[0]?.status, 'failed', 'no address: kept as a failed email the sender can see')
          t.match(mail[0]?.last_error ?? '', /no email address/)
        } else {
          t.equal(mail[0]?.email_to, subject.email)
          t.equal(mail[0]?.status, 'queued')
        }
      } else t.same(mail, [], 'no email at all')

      if (subject.actor) {
        const inbox = await subject.actor.call('GET', '/api/v1/inbox')
        const mine = inbox.body.items.filter(
          (item: { record: { id: number } }) => item.record.id === record.id,
        )
        if (expected.kind === 'inbox') {
          t.equal(mine.length, 1, 'one inbox item')
          t.equal(mine[0]?.reason, expected.reason)
          t.equal(mine[0]?.message?.id, messageId)
        } else t.same(mine, [], 'nothing in the inbox')
      }
    })
  }
})

/** Makes the subject follow the record the way the case says (the owner adds them). */
async function setChoice(t: Test, node: TestNode, owner: Actor, recordId: number, subject: Subject, c: Case) {
  if (c.choice === 'not-following') return
  const other = c.subtype === 'comment' ? 'tracking' : 'comment'
  const body =
    c.choice === 'custom-with'
      ? { subscription: 'custom', subtypes: [c.subtype] }
      : c.choice === 'custom-without'
        ? { subscription: 'custom', subtypes: [other] }
        : { subscription: c.choice }
  const followed = await owner.call('POST', `/api/v1/records/${recordId}/followers`, {
    partnerId: subject.partnerId,
    ...body,
  })
  if (followed.status === 201) return
  // The API refuses an internal subtype for an external contact (asserted below); the row is written
  // directly, as a stale or hand-edited subscription would be, to check the last line of defence.
  t.equal(followed.status, 400, 'an external contact cannot subscribe to notes')
  t.ok(
    c.subtype === 'note' && c.choice === 'custom-with' && !isInternal(c.who),
    'only that choice is refused',
  )
  node.database.db
    .insert(followers)
    .values({
      recordId,
      partnerId: subject.partnerId,
      subscription: 'custom',
      subtypes: ['note'],
      createdAt: node.clock.now(),
    })
    .run()
}

function countMessages(node: TestNode, recordId: number): number {
  return countRows(node, 'messages', recordId)
}

function countRows(
  node: TestNode,
  table: 'messages' | 'notifications' | 'email_notifications',
  recordId: number,
) {
  return (
    node.database.sqlite.prepare(`select count(*) as n from ${table} where record_id = ?`).get(recordId) as {
      n: number
    }
  ).n
}

function lastTrackingMessage(node: TestNode, recordId: number): number | undefined {
  const row = node.database.sqlite
    .prepare("select id from messages where record_id = ? and type = 'tracking' order by id desc limit 1")
    .get(recordId) as { id: number } | undefined
  return row?.id
}

t.test(
  'a partner with no email address gets a failed outgoing mail the author can see, not a silent drop',
  async (t) => {
    const node = await buildNode(t)
    const sarah = await buildUser(node, { name: 'Sarah Sales' })
    const nobody = buildPartner(node, { name: 'Walter Walkin', email: null })
    const lead = await buildRecord(sarah, 'lead')
    await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: nobody.id })
    const sent = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
      kind: 'message',
      body: 'Hello',
    })
    t.equal(sent.status, 201, 'the post itself succeeds')
    const rows = node.database.sqlite
      .prepare('select email_to, status, last_error, attempts from email_notifications where message_id = ?')
      .all(sent.body.id)
    t.same(rows, [
      { email_to: '', status: 'failed', last_error: 'the contact has no email address', attempts: 0 },
    ])
  },
)

t.test(
  'an external follower on "all messages" gets messages and updates by email, never notes',
  async (t) => {
    const node = await buildNode(t)
    const sarah = await buildUser(node, { name: 'Sarah Sales' })
    const carla = buildPartner(node, { name: 'Carla Customer', email: 'carla@client.test' })
    const lead = await buildRecord(sarah, 'lead')
    const followed = await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, {
      partnerId: carla.id,
      subscription: 'all',
    })
    t.equal(followed.status, 201)
    await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
      kind: 'note',
      body: 'Margin is thin here',
    })
    await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
      kind: 'message',
      body: 'Your quote is ready',
    })
    await sarah.call('PATCH', `/api/v1/records/${lead.id}`, {
      version: lead.version,
      values: { stage: 'won' },
    })
    const bodies = (
      node.database.sqlite
        .prepare('select m.body from email_notifications m where m.email_to = ? order by m.id')
        .all('carla@client.test') as { body: string }[]
    ).map((row) => row.body)
    t.equal(bodies.length, 2, 'the message and the stage change')
    t.match(bodies[0], /Your quote is ready/)
    t.match(bodies[1], /Stage: — → Won/)
    t.notOk(
      bodies.some((body) => body.includes('Margin is thin')),
      'the note is in no email',
    )
  },
)

t.test('the inbox: unread filter, counters per record, mark one or all read, only your own', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const john = await buildUser(node, { name: 'John Ops' })
  const first = await buildRecord(sarah, 'lead', { name: 'First lead' })
  const second = await buildRecord(sarah, 'lead', { name: 'Second lead' })
  for (const lead of [first, second])
    await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: john.partnerId })
  for (const [lead, text] of [
    [first, 'one'],
    [first, 'two'],
    [second, 'three'],
  ] as const)
    await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, { kind: 'message', body: text })

  const inbox = await john.call('GET', '/api/v1/inbox')
  t.same(
    inbox.body.items.map((item: { message: { body: string }; read: boolean }) => [
      item.message.body,
      item.read,
    ]),
    [
      ['<p>three</p>', false],
      ['<p>two</p>', false],
      ['<p>one</p>', false],
    ],
    'newest first, all unread',
  )
  const counters = async () => {
    const response = await john.call('GET', '/api/v1/inbox/counters')
    return {
      unread: response.body.unread,
      records: response.body.records
        .map((row: { name: string; unread: number }) => `${row.name}:${row.unread}`)
        .sort(),
    }
  }
  t.same(await counters(), { unread: 3, records: ['First lead:2', 'Second lead:1'] })

  const newest = inbox.body.items[0].id
  t.equal((await sarah.call('POST', `/api/v1/inbox/${newest}/read`)).status, 404, 'not Sarah’s to mark')
  t.equal((await john.call('POST', `/api/v1/inbox/${newest}/read`)).status, 204)
  t.equal((await john.call('POST', `/api/v1/inbox/${newest}/read`)).status, 204, 'marking twice is fine')
  t.same(await counters(), { unread: 2, records: ['First lead:2'] })
  const unread = await john.call('GET', '/api/v1/inbox?unread=true')
  t.same(
    unread.body.items.map((item: { message: { body: string } }) => item.message.body),
    ['<p>two</p>', '<p>one</p>'],
  )
  const readAll = await john.call('POST', '/api/v1/inbox/read-all', { recordId: first.id })
  t.same(readAll.body, { marked: 2 })
  t.same(await counters(), { unread: 0, records: [] })
  t.equal((await john.call('GET', '/api/v1/inbox?unread=true')).body.items.length, 0)
  t.equal((await john.call('GET', '/api/v1/inbox')).body.items.length, 3, 'read items stay in the inbox')

  await sarah.call('POST', `/api/v1/records/${second.id}/messages`, { kind: 'message', body: 'four' })
  const everything = await john.call('POST', '/api/v1/inbox/read-all')
  t.equal(everything.status, 200, 'with no body at all, everything is marked read')
  t.same(everything.body, { marked: 1 })
  t.same(await counters(), { unread: 0, records: [] })
})
