import t, { type Test } from 'tap'
import { dueEmailQueries } from '../src/mail/queue.ts'
import { buildNode, buildPartner, buildRecord, buildUser } from './helpers.ts'
import { type SmtpSink, startSmtpSink } from './smtp-sink.ts'

// What people do to an email while it waits or goes out: cancel it, retry it, delete its message,
// change the server. Each must hold whatever the sender is doing at that moment.

const MINUTE = 60_000

function mailEnv(sink: SmtpSink): Record<string, string> {
  return {
    NODE_SMTP_URL: sink.url,
    NODE_MAIL_FROM: 'notifications@acme.test',
    NODE_MAIL_DOMAIN: 'mail.acme.test',
  }
}

type Row = { id: number; status: string; attempts: number; last_error: string | null }

async function customerScene(t: Test, env: Record<string, string>) {
  const node = await buildNode(t, { env })
  const sarah = await buildUser(node, { name: 'Sarah Sales', login: 'sarah' })
  const carla = buildPartner(node, { name: 'Carla Customer', email: 'carla@client.test' })
  const lead = await buildRecord(sarah, 'lead', { name: 'Big deal' })
  const followed = await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, {
    partnerId: carla.id,
    subscription: 'all',
  })
  t.equal(followed.status, 201)
  const row = (messageId: number) =>
    node.database.sqlite
      .prepare('select id, status, attempts, last_error from email_notifications where message_id = ?')
      .get(messageId) as Row
  return { node, sarah, carla, lead, row }
}

t.test('an email being handed to the server can be neither canceled nor retried', async (t) => {
  const sink = await startSmtpSink(t)
  const { node, sarah, lead, row } = await customerScene(t, mailEnv(sink))
  const message = (
    await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, { kind: 'message', body: 'Hello' })
  ).body as { id: number }
  await node.mail.idle()
  const sent = row(message.id)
  t.equal(sent.status, 'sent', 'it went out')
  // The state the sender holds a row in while the server has it: set here, as a slow server would leave it.
  node.database.sqlite.prepare("update notifications set email_status = 'sending' where id = ?").run(sent.id)
  const shown = await sarah.call('GET', `/api/v1/records/${lead.id}/emails?messages=${message.id}`)
  t.equal(shown.body.items[0].status, 'queued', 'people see it as still on its way')
  const cancel = await sarah.call('POST', `/api/v1/notifications/${sent.id}/cancel`)
  t.equal(cancel.status, 409, 'Cancel is refused while it goes out')
  t.equal(cancel.body.error.code, 'E_EMAIL_SENDING')
  const retry = await sarah.call('POST', `/api/v1/notifications/${sent.id}/retry`)
  t.equal(retry.status, 409, 'and so is Retry')
  t.equal(retry.body.error.code, 'E_EMAIL_SENDING')
})

t.test('a row left "sending" by a stopped node is due again at the next start', async (t) => {
  const sink = await startSmtpSink(t)
  sink.answerWith(() => ({ code: 451, message: 'Try later' }))
  const { node, sarah, lead, row } = await customerScene(t, mailEnv(sink))
  const message = (
    await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, { kind: 'message', body: 'Hello' })
  ).body as { id: number }
  await node.mail.idle()
  const waiting = row(message.id)
  t.equal(waiting.status, 'queued', 'refused for now, it waits')
  // As a crash mid-send leaves it.
  node.database.sqlite
    .prepare("update notifications set email_status = 'sending' where id = ?")
    .run(waiting.id)
  await node.mail.close()
  t.equal(row(message.id).status, 'queued', 'closing the sender puts what it held back in the queue')
})

t.test('Retry starts a new round: a temporary refusal after it waits one minute, not hours', async (t) => {
  const sink = await startSmtpSink(t)
  sink.answerWith(() => ({ code: 451, message: 'Greylisted' }))
  const { node, sarah, lead, row } = await customerScene(t, mailEnv(sink))
  const message = (
    await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, { kind: 'message', body: 'Hello' })
  ).body as { id: number }
  await node.mail.idle()
  // Six temporary refusals: the next wait would be six hours.
  for (const wait of [1, 5, 15, 60, 180]) {
    node.clock.advance(wait * MINUTE)
    node.mail.kick()
    await node.mail.idle()
  }
  t.equal(row(message.id).attempts, 6, 'six attempts in the first round')
  const retried = await sarah.call('POST', `/api/v1/notifications/${row(message.id).id}/retry`)
  t.equal(retried.status, 200)
  await node.mail.idle()
  t.equal(row(message.id).attempts, 1, 'the new round counts from its own first attempt')
  sink.answerWith(() => null)
  node.clock.advance(MINUTE - 1)
  node.mail.kick()
  await node.mail.idle()
  t.equal(row(message.id).status, 'queued', 'not before the minute')
  node.clock.advance(1)
  node.mail.kick()
  await node.mail.idle()
  t.equal(row(message.id).status, 'sent', 'a minute after the refusal, it goes')
})

t.test('deleting a message calls off its waiting emails, and Retry cannot bring them back', async (t) => {
  const sink = await startSmtpSink(t)
  sink.answerWith(() => ({ code: 451, message: 'Try later' }))
  const { node, sarah, lead, row } = await customerScene(t, mailEnv(sink))
  const message = (
    await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
      kind: 'message',
      body: 'The wrong quote, sent to the wrong customer',
    })
  ).body as { id: number }
  await node.mail.idle()
  t.equal(row(message.id).status, 'queued')
  t.equal((await sarah.call('DELETE', `/api/v1/messages/${message.id}`)).status, 204)
  const after = row(message.id)
  t.equal(after.status, 'canceled', 'its email is canceled')
  t.equal(after.last_error, 'the message was deleted')
  sink.answerWith(() => null)
  node.clock.advance(10 * MINUTE)
  node.mail.kick()
  await node.mail.idle()
  t.equal(sink.mails.length, 0, 'the customer never gets it')
  const retry = await sarah.call('POST', `/api/v1/notifications/${after.id}/retry`)
  t.equal(retry.status, 409, 'Retry is refused')
  t.equal(retry.body.error.code, 'E_EMAIL_MESSAGE_DELETED')
})

t.test('a 5xx to MAIL FROM is a setup problem: the queue waits instead of failing', async (t) => {
  const sink = await startSmtpSink(t)
  const { node, sarah, lead, row } = await customerScene(t, mailEnv(sink))
  sink.refuseSender({ code: 554, message: '5.2.252 SendAsDenied; not allowed to send as this address' })
  const message = (
    await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, { kind: 'message', body: 'Hello' })
  ).body as { id: number }
  await node.mail.idle()
  const waiting = row(message.id)
  t.equal(waiting.status, 'queued', 'the email waits for the settings to be fixed')
  t.match(waiting.last_error, /SendAsDenied/, 'with the server’s reason')
})

t.test(
  'the sender finds due mail through the queue indexes, not by reading every notification',
  async (t) => {
    // It looks after every commit that queued mail: on a node with years of notifications, a scan of
    // the table each time would slow every message posted.
    const node = await buildNode(t)
    const queries = dueEmailQueries(node.database.db)
    for (const [name, index] of [
      ['record', 'notifications_email_due'],
      ['ochat', 'ochat_notifications_email_due'],
      ['partner', 'ochat_email_sends_due'],
    ] as const) {
      const { sql } = queries[name].getQuery()
      const plan = (
        node.database.sqlite.prepare(`explain query plan ${sql}`).all(Date.now(), 20) as { detail: string }[]
      )
        .map((row) => row.detail)
        .join('\n')
      t.match(plan, new RegExp(`USING (COVERING )?INDEX ${index}\\b`), `${name}: through ${index}`)
      t.notMatch(plan, /TEMP B-TREE/, `${name}: already in due order`)
    }
  },
)
