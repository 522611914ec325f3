import { once } from 'node:events'
import { createServer } from 'node:net'
import { SMTPServer } from 'smtp-server'
import t, { type Test } from 'tap'
import { type Actor, buildNode, buildRecord, buildUser } from './helpers.ts'
import { startSmtpSink } from './smtp-sink.ts'

async function mailNode(t: Test, env: Record<string, string> = {}) {
  const node = await buildNode(t, { env })
  const admin = await buildUser(node, { login: 'ada', name: 'Ada Admin', role: 'admin' })
  return { node, admin }
}

/** Settings that send to `port` on this machine in plain SMTP, as a local relay is reached. */
function localServer(port: number) {
  return {
    host: '127.0.0.1',
    port,
    security: 'none',
    from: 'notifications@acme.test',
    mailDomain: 'acme.test',
  }
}

async function closedPort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** An SMTP server that asks for a login and refuses every password. */
async function refusingLoginServer(t: Test): Promise<number> {
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    logger: false,
    closeTimeout: 200,
    onAuth(_auth, _session, callback) {
      callback(Object.assign(new Error('5.7.8 Authentication credentials invalid'), { responseCode: 535 }))
    },
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return (
    (server as unknown as { server: { address(): { port: number } } }).server.address() as { port: number }
  ).port
}

const save = (admin: Actor, body: Record<string, unknown>) => admin.call('PUT', '/api/v1/mail/settings', body)
const sendTest = (admin: Actor, to: string) => admin.call('POST', '/api/v1/mail/settings/test', { to })

t.test('only administrators see, change and test the mail settings', async (t) => {
  const { node, admin } = await mailNode(t)
  const user = await buildUser(node, { login: 'ursula' })
  const calls = [
    ['GET', '/api/v1/mail/settings', undefined],
    ['PUT', '/api/v1/mail/settings', { host: 'smtp.example.com' }],
    ['POST', '/api/v1/mail/settings/test', { to: 'someone@example.com' }],
  ] as const
  for (const [method, url, payload] of calls) {
    const anonymous = await node.app.inject({ method, url, ...(payload ? { payload } : {}) })
    t.equal(anonymous.statusCode, 401, `${method} ${url} without login`)
    const refused = await user.call(method, url, payload)
    t.equal(refused.status, 403, `${method} ${url} as a user`)
    t.equal(refused.body.error.code, 'E_FORBIDDEN')
  }
  const settings = await admin.call('GET', '/api/v1/mail/settings')
  t.equal(settings.body.host, null, 'the refused change was not saved')
})

t.test('a new node says what is missing before mail can be sent', async (t) => {
  const { admin } = await mailNode(t)
  const settings = await admin.call('GET', '/api/v1/mail/settings')
  t.equal(settings.status, 200)
  t.equal(settings.body.ready, false)
  t.same(settings.body.sources, { server: 'unset', from: 'unset', mailDomain: 'unset' })
  t.match(settings.body.missing.join('\n'), /mail server/)
  t.match(settings.body.missing.join('\n'), /From address/)
  const tried = await sendTest(admin, 'boss@client.test')
  t.equal(tried.status, 409)
  t.equal(tried.body.error.code, 'E_MAIL_NOT_CONFIGURED')
  t.match(tried.body.error.reason, /mail server/)
})

t.test('saved settings come back without the password, which is kept until cleared', async (t) => {
  const { admin } = await mailNode(t)
  const saved = await save(admin, {
    host: 'smtp.example.com',
    port: 587,
    security: 'starttls',
    user: 'mailer',
    password: 'pa55-w0rd-secret',
    from: 'notifications@acme.test',
    mailDomain: 'acme.test',
  })
  t.equal(saved.status, 200)
  t.notMatch(saved.response.body, /pa55-w0rd-secret/, 'the password is not in the answer')
  t.match(saved.body, {
    host: 'smtp.example.com',
    port: 587,
    security: 'starttls',
    user: 'mailer',
    passwordSet: true,
    from: 'notifications@acme.test',
    mailDomain: 'acme.test',
    sources: { server: 'admin', from: 'admin', mailDomain: 'admin' },
    ready: true,
    missing: [],
  })
  t.notOk('password' in saved.body)

  const read = await admin.call('GET', '/api/v1/mail/settings')
  t.notMatch(read.response.body, /pa55-w0rd-secret/)
  t.same(read.body, saved.body, 'reading shows what was saved')

  const renamed = await save(admin, { from: 'crm@acme.test' })
  t.match(renamed.body, { passwordSet: true, host: 'smtp.example.com' }, 'other changes keep the password')

  // The saved password goes only to the server it was saved for.
  const moved = await save(admin, { host: 'mail.example.net', port: 465, security: 'tls' })
  t.match(moved.body, {
    host: 'mail.example.net',
    port: 465,
    security: 'tls',
    user: 'mailer',
    passwordSet: false,
  })
  t.equal(moved.body.from, 'crm@acme.test', 'fields left out are kept')
  const withPassword = await save(admin, { host: 'mail2.example.net', password: 'an0ther-secret' })
  t.match(withPassword.body, { host: 'mail2.example.net', passwordSet: true }, 'unless one comes with it')

  const cleared = await save(admin, { password: null, user: null })
  t.match(cleared.body, { passwordSet: false, user: null, host: 'mail2.example.net' })

  const clear = await save(admin, { security: 'none', password: 'pa55-w0rd-secret' })
  t.equal(clear.status, 422, 'a password over an unencrypted connection to another machine is refused')
  t.equal(clear.body.error.code, 'E_MAIL_PASSWORD_IN_CLEAR')
  const local = await save(admin, { host: '127.0.0.1', security: 'none', password: 'pa55-w0rd-secret' })
  t.equal(local.status, 200, 'to a server on this machine it is allowed')
})

t.test('bad values are refused with the field and what is expected', async (t) => {
  const { admin } = await mailNode(t)
  await save(admin, localServer(2525))
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['port above 65535', { port: 70000 }, /^invalid: port: .*65535/],
    ['port 0', { port: 0 }, /^invalid: port: .*65535/],
    ['a URL as host', { host: 'smtp://mail.example.com:587' }, /^invalid: host: a host name/],
    ['a From that is not an address', { from: 'notifications at acme' }, /^invalid: from: an email address/],
    ['a mail domain with a space', { mailDomain: 'acme .test' }, /^invalid: mailDomain: a domain name/],
    ['a mail domain with @', { mailDomain: '@acme.test' }, /^invalid: mailDomain: a domain name/],
    ['an unknown security mode', { security: 'ssl' }, /^invalid: security/],
    ['an empty password', { password: '' }, /^invalid: password/],
    ['a field that does not exist', { smtpHost: 'x.example.com' }, /^invalid: /],
  ]
  for (const [what, body, reason] of cases) {
    const refused = await save(admin, body)
    t.equal(refused.status, 400, what)
    t.equal(refused.body.error.code, 'E_INVALID_BODY', what)
    t.match(refused.body.error.reason, reason, what)
  }
  const kept = await admin.call('GET', '/api/v1/mail/settings')
  t.match(kept.body, { host: '127.0.0.1', port: 2525, security: 'none', mailDomain: 'acme.test' })
  const badTo = await sendTest(admin, 'not an address')
  t.equal(badTo.status, 400)
  t.match(badTo.body.error.reason, /^invalid: to: an email address/)
})

t.test('fields the environment sets are shown as such and cannot be changed here', async (t) => {
  const sink = await startSmtpSink(t)
  const { admin } = await mailNode(t, { NODE_SMTP_URL: sink.url, NODE_MAIL_FROM: 'robot@acme.test' })
  const settings = await admin.call('GET', '/api/v1/mail/settings')
  t.match(settings.body, {
    host: '127.0.0.1',
    port: sink.port,
    security: 'none',
    passwordSet: false,
    from: 'robot@acme.test',
    sources: { server: 'environment', from: 'environment', mailDomain: 'unset' },
    ready: true,
  })
  for (const body of [{ host: 'smtp.example.com' }, { password: 'secret' }, { from: 'other@acme.test' }]) {
    const refused = await save(admin, body)
    t.equal(refused.status, 409, `${Object.keys(body)[0]} is refused`)
    t.equal(refused.body.error.code, 'E_MAIL_SETTING_FROM_ENVIRONMENT')
    t.match(refused.body.error.reason, new RegExp(`set by the environment: ${Object.keys(body)[0]}`))
  }
  const domain = await save(admin, { mailDomain: 'mail.acme.test' })
  t.equal(domain.status, 200, 'what the environment leaves unset can be saved')
  t.match(domain.body, {
    mailDomain: 'mail.acme.test',
    sources: { mailDomain: 'admin', server: 'environment' },
  })
  t.equal(domain.body.host, '127.0.0.1', 'the environment still wins for the server')
})

t.test('a test email goes through the saved server and shows its answer', async (t) => {
  const sink = await startSmtpSink(t)
  const { admin } = await mailNode(t)
  t.equal((await save(admin, localServer(sink.port))).status, 200)
  const sent = await sendTest(admin, 'boss@client.test')
  t.equal(sent.status, 200)
  t.match(sent.body, { ok: true, code: 250 })
  t.match(sent.body.response, /^250/)
  const mail = await sink.next()
  t.same(mail.to, ['boss@client.test'])
  t.equal(mail.parsed.from?.value[0]?.address, 'notifications@acme.test')
  t.match(mail.parsed.subject, /Acme/, 'the test names the company')
})

t.test('a refused test shows the reason and what to check next', async (t) => {
  const sink = await startSmtpSink(t)
  const { admin } = await mailNode(t)
  await save(admin, localServer(sink.port))
  sink.answerWith(() => ({ code: 550, message: '5.1.1 Mailbox does not exist' }))
  const refused = await sendTest(admin, 'nobody@client.test')
  t.equal(refused.status, 200, 'the test ran; its outcome is the answer')
  t.match(refused.body, { ok: false, code: 550, permanent: true })
  t.match(refused.body.reason, /Mailbox does not exist/)
  t.match(refused.body.hint, /recipient/)
  t.equal(sink.mails.length, 0)

  sink.answerWith(() => ({ code: 451, message: '4.7.1 Try again later' }))
  const later = await sendTest(admin, 'nobody@client.test')
  t.match(later.body, { ok: false, code: 451, permanent: false })
  t.match(later.body.hint, /try again later/i)
})

t.test('a wrong password shows the login hint', async (t) => {
  const port = await refusingLoginServer(t)
  const { admin } = await mailNode(t)
  await save(admin, { ...localServer(port), user: 'mailer', password: 'wrong' })
  const refused = await sendTest(admin, 'boss@client.test')
  t.match(refused.body, { ok: false, code: 535 })
  t.match(refused.body.reason, /credentials invalid/)
  t.match(refused.body.hint, /user name and password/)
})

t.test('a server that cannot be reached says to check the host and port', async (t) => {
  const { admin } = await mailNode(t)
  await save(admin, localServer(await closedPort()))
  const refused = await sendTest(admin, 'boss@client.test')
  t.match(refused.body, { ok: false, code: null })
  t.match(refused.body.reason, /ECONNREFUSED/)
  t.match(refused.body.hint, /host name and port/)
})

t.test('TLS against a plain server suggests the other security mode', async (t) => {
  const sink = await startSmtpSink(t)
  const { admin } = await mailNode(t)
  await save(admin, { ...localServer(sink.port), security: 'tls' })
  const refused = await sendTest(admin, 'boss@client.test')
  t.match(refused.body, { ok: false })
  t.match(refused.body.hint, /other security mode/)
})

t.test('test emails are limited to five a minute', async (t) => {
  const sink = await startSmtpSink(t)
  const { node, admin } = await mailNode(t)
  await save(admin, localServer(sink.port))
  for (let i = 0; i < 5; i++) t.match((await sendTest(admin, `boss${i}@client.test`)).body, { ok: true })
  const limited = await sendTest(admin, 'boss5@client.test')
  t.equal(limited.status, 429)
  t.equal(limited.body.error.code, 'E_MAIL_TEST_RATE_LIMITED')
  t.equal(limited.response.headers['retry-after'], '60')
  t.equal(sink.mails.length, 5, 'the sixth was not sent')
  node.clock.advance(60_000)
  t.match((await sendTest(admin, 'boss6@client.test')).body, { ok: true }, 'a minute later it works again')
})

t.test('an environment value shows while the rest is still missing', async (t) => {
  const { admin } = await mailNode(t, { NODE_MAIL_FROM: 'robot@acme.test' })
  await save(admin, { port: 2525, security: 'none' })
  const settings = await admin.call('GET', '/api/v1/mail/settings')
  t.match(settings.body, {
    from: 'robot@acme.test',
    host: null,
    port: 2525,
    security: 'none',
    sources: { server: 'unset', from: 'environment' },
    ready: false,
  })
  t.match(settings.body.missing.join('\n'), /mail server/)
  t.notMatch(settings.body.missing.join('\n'), /From/)
})

t.test('saving the settings sends the email that was waiting for them', async (t) => {
  const sink = await startSmtpSink(t)
  const { node, admin } = await mailNode(t)
  const sarah = await buildUser(node, { login: 'sarah', name: 'Sarah Sales' })
  const john = await buildUser(node, { login: 'john', name: 'John Ops', notification: 'email' })
  const lead = await buildRecord(sarah, 'lead', { name: 'Big deal' })
  await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: john.partnerId })
  const posted = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'message',
    body: 'The quote is ready',
  })
  t.equal(posted.status, 201)
  await node.mail.idle()
  t.equal(sink.mails.length, 0, 'nothing can be sent before a server is set')

  t.equal((await save(admin, localServer(sink.port))).status, 200)
  const mail = await sink.next()
  t.same(mail.to, ['john@acme.test'])
  t.match(mail.parsed.text, /The quote is ready/)
})
