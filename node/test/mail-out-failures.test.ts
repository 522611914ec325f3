import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ManualClock } from '@ochat/shared-protocol/server'
import t from 'tap'
import { mailSettings } from '../src/db/schema.ts'
import { DAY, emailRows, follow, later, MINUTE, mailEnv, post, scene } from './fixtures/mail/outgoing.ts'
import { buildNode, buildPartner } from './helpers.ts'
import { startSmtpSink } from './smtp-sink.ts'

/** How sending fails and recovers: temporary and permanent refusals, unwritable emails, restarts, no server. */

t.test('a temporary refusal (451) is retried one minute later, not before; then it is sent', async (t) => {
  const sink = await startSmtpSink(t)
  sink.answerWith(() => ({ code: 451, message: 'Greylisted, try again later' }))
  const { node, sarah, lead } = await scene(t, mailEnv(sink))
  const message = await post(sarah, lead.id, 'Hello')
  await node.mail.idle()
  const queued = emailRows(node, message.id)
  t.same(
    queued.map((row) => [row.status, row.code, row.attempts]),
    [
      ['queued', 451, 1],
      ['queued', 451, 1],
    ],
  )
  t.match(queued[0]?.last_error, /Greylisted/, 'the reason shows while it waits')
  sink.answerWith(() => null)
  await later(node, MINUTE - 1000)
  t.equal(sink.mails.length, 0, 'not before the minute is up')
  t.same(
    emailRows(node, message.id).map((row) => row.status),
    ['queued', 'queued'],
  )
  await later(node, 1000)
  t.equal(sink.mails.length, 2, 'sent on the retry')
  t.same(
    emailRows(node, message.id).map((row) => [row.status, row.code, row.attempts, row.last_error]),
    [
      ['sent', 250, 2, null],
      ['sent', 250, 2, null],
    ],
  )
})

t.test('temporary refusals for two days end in failed', async (t) => {
  const sink = await startSmtpSink(t)
  sink.answerWith(() => ({ code: 421, message: 'Service not available' }))
  const { node, sarah, lead } = await scene(t, mailEnv(sink))
  const message = await post(sarah, lead.id, 'Hello')
  await node.mail.idle()
  const waits = [MINUTE, 5 * MINUTE, 15 * MINUTE, 60 * MINUTE, 180 * MINUTE, 360 * MINUTE]
  for (const wait of waits) await later(node, wait)
  t.equal(emailRows(node, message.id)[0]?.attempts, 7, 'retried on the schedule')
  for (let i = 0; i < 12; i++) await later(node, 360 * MINUTE)
  const [row] = emailRows(node, message.id)
  t.equal(row?.status, 'failed')
  t.match(row?.last_error, /Service not available.*two days/)
})

t.test('a permanent refusal (550) fails at once with the code and the reason', async (t) => {
  const sink = await startSmtpSink(t)
  sink.answerWith((envelope) =>
    envelope.to.includes('carla@client.test') ? { code: 550, message: 'No such user here' } : null,
  )
  const { node, sarah, lead } = await scene(t, mailEnv(sink))
  const nobody = buildPartner(node, { name: 'Typo Tom', email: 'tom at client.test' })
  await follow(sarah, lead.id, nobody.id)
  const message = await post(sarah, lead.id, 'Hello')
  await node.mail.idle()
  await later(node, 3 * 60 * MINUTE)
  const rows = emailRows(node, message.id)
  t.same(
    rows.map((row) => [row.email_to, row.status, row.code, row.attempts]),
    [
      ['carla@client.test', 'failed', 550, 1],
      ['ivan@acme.test', 'sent', 250, 1],
      ['tom at client.test', 'failed', null, 0],
    ],
    'failed once, never retried; a bad address is never tried',
  )
  t.match(rows[0]?.last_error, /550.*No such user here/)
  t.equal(rows[2]?.last_error, 'not a valid email address: tom at client.test')
  t.same(
    sink.mails.map((mail) => mail.to),
    [['ivan@acme.test']],
  )
})

t.test('an email that cannot be written fails with the reason; the next ones still go', async (t) => {
  const sink = await startSmtpSink(t)
  // No server yet: the emails wait in the queue while the file of the first goes missing.
  const { node, sarah, lead } = await scene(t, { NODE_PUBLIC_URL: 'https://crm.acme.test' })
  const bytes = Buffer.from('the quote')
  const uploaded = await node.app.inject({
    method: 'POST',
    url: `/api/v1/attachments?fileName=quote.txt&recordId=${lead.id}`,
    headers: { authorization: `Bearer ${sarah.secret}`, 'content-type': 'text/plain' },
    payload: bytes,
  })
  const broken = await post(sarah, lead.id, 'With a file', { attachmentIds: [uploaded.json().id] })
  const fine = await post(sarah, lead.id, 'Without')
  await node.mail.idle()
  t.same(
    emailRows(node, broken.id).map((row) => row.status),
    ['queued', 'queued'],
    'waiting for a server',
  )
  const sha = createHash('sha256').update(bytes).digest('hex')
  unlinkSync(join(node.config.attachmentDir, sha.slice(0, 2), sha))
  node.database.db
    .insert(mailSettings)
    .values({
      id: 1,
      smtpHost: '127.0.0.1',
      smtpPort: sink.port,
      smtpSecurity: 'none',
      fromAddress: 'notifications@acme.test',
      mailDomain: 'mail.acme.test',
      updatedAt: node.clock.now(),
    })
    .run()
  node.mail.reconfigure()
  await node.mail.idle()
  const rows = emailRows(node, broken.id)
  t.same(
    rows.map((row) => row.status),
    ['failed', 'failed'],
  )
  t.equal(rows[0]?.last_error, 'the email could not be written: the attached file quote.txt is missing')
  t.same(
    emailRows(node, fine.id).map((row) => row.status),
    ['sent', 'sent'],
    'the next message was sent',
  )
  t.equal(sink.mails.length, 2)
})

t.test('a restarted node sends nothing twice, and sends what was still waiting', async (t) => {
  const sink = await startSmtpSink(t)
  sink.answerWith((envelope) =>
    envelope.to.includes('carla@client.test') ? { code: 451, message: 'Try later' } : null,
  )
  const dataDir = mkdtempSync(join(tmpdir(), 'ochat-node-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const clock = new ManualClock(Date.parse('2026-11-25T10:00:00Z'))
  let messageId = 0
  await t.test('first run', async (t) => {
    const { node, sarah, lead } = await scene(t, mailEnv(sink), { clock, dataDir })
    messageId = (await post(sarah, lead.id, 'Hello')).id
    await node.mail.idle()
    t.same(
      emailRows(node, messageId).map((row) => row.status),
      ['queued', 'sent'],
    )
  })
  sink.answerWith(() => null)
  await t.test('after the restart', async (t) => {
    const node = await buildNode(t, { env: mailEnv(sink), clock, dataDir })
    await node.mail.idle()
    await later(node, 3 * 60 * MINUTE)
    t.same(
      emailRows(node, messageId).map((row) => row.status),
      ['sent', 'sent'],
    )
    t.same(
      sink.mails.map((mail) => mail.to),
      [['ivan@acme.test'], ['carla@client.test']],
      'one email each: the one accepted before the restart was not sent again',
    )
  })
})

t.test('with no mail server set up, emails wait, then fail after two days with the reason', async (t) => {
  const { node, sarah, lead } = await scene(t, {})
  const message = await post(sarah, lead.id, 'Hello')
  await node.mail.idle()
  await later(node, 2 * DAY - MINUTE)
  t.same(
    emailRows(node, message.id).map((row) => row.status),
    ['queued', 'queued'],
    'waiting',
  )
  await later(node, MINUTE)
  const rows = emailRows(node, message.id)
  t.same(
    rows.map((row) => [row.status, row.last_error, row.attempts]),
    [
      ['failed', 'no outgoing mail server is set up', 0],
      ['failed', 'no outgoing mail server is set up', 0],
    ],
  )
})
