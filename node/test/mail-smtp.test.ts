import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { count } from 'drizzle-orm'
import nodemailer from 'nodemailer'
import t, { type Test } from 'tap'
import { incomingMails } from '../src/db/schema.ts'
import { clientKey, MAX_RECIPIENTS, MESSAGES_PER_MINUTE } from '../src/mail/inbound/smtp-listener.ts'
import { buildNode, buildUser, type TestNode, until } from './helpers.ts'

const DOMAIN = 'acme.test'

/** A node listening for mail on a free port; its `sales@` alias (base data) takes mail from anyone. */
async function mailNode(t: Test, env: Record<string, string> = {}) {
  const node = await buildNode(t, {
    env: { NODE_SMTP_PORT: '0', NODE_MAIL_DOMAIN: DOMAIN, ...env },
  })
  const admin = await buildUser(node, { role: 'admin' })
  const aliases = await admin.call('GET', '/api/v1/mail/aliases')
  const sales = aliases.body.items.find((alias: { name: string }) => alias.name === 'sales')
  const changed = await admin.call('PATCH', `/api/v1/mail/aliases/${sales.id}`, { contactPolicy: 'everyone' })
  t.equal(changed.status, 200, JSON.stringify(changed.body))
  const port = node.inbound.smtp?.address?.port
  if (!port) throw new Error('the SMTP listener is not listening')
  return { node, admin, port }
}

/** A mail client as another company's server would be: plain SMTP to our port, no auth. */
function client(port: number, options: { requireTLS?: boolean; localAddress?: string } = {}) {
  return nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    secure: false,
    ignoreTLS: !options.requireTLS,
    requireTLS: options.requireTLS ?? false,
    tls: { rejectUnauthorized: false },
  })
}

function storedCount(node: TestNode): number {
  return node.database.db.select({ n: count() }).from(incomingMails).get()?.n ?? 0
}

type SmtpFailure = { responseCode?: number; response?: string; rejectedErrors?: SmtpFailure[] }

async function sendFails(promise: Promise<unknown>): Promise<SmtpFailure> {
  try {
    await promise
  } catch (error) {
    return error as SmtpFailure
  }
  throw new Error('the server took a mail it should have refused')
}

t.test('a mail to sales@ over SMTP becomes a lead; unknown addresses are refused (no relay)', async (t) => {
  const { node, admin, port } = await mailNode(t)
  const info = await client(port).sendMail({
    from: 'Carla Customer <carla@client.test>',
    to: `sales@${DOMAIN}`,
    subject: 'Quote for 40 chairs',
    text: 'Hello, could you send a quote for 40 chairs?',
  })
  t.match(info.response, /^250 /, 'the client is told the mail was taken')
  const leads = await admin.call('GET', '/api/v1/models/lead/records')
  t.ok(
    leads.body.items.some((lead: { name: string }) => lead.name === 'Quote for 40 chairs'),
    'a lead named after the subject exists',
  )
  const listed = await admin.call('GET', '/api/v1/mail/incoming')
  t.equal(listed.body.items[0].outcome, 'created')
  t.equal(listed.body.items[0].via, 'smtp')
  t.equal(listed.body.items[0].sender, 'carla@client.test')

  for (const to of [`nobody@${DOMAIN}`, 'someone@elsewhere.example']) {
    const refused = await sendFails(
      client(port).sendMail({ from: 'carla@client.test', to, subject: 'Hi', text: 'Hi' }),
    )
    t.equal(refused.responseCode, 550, `${to} is refused at RCPT TO`)
    t.match(refused.response, /5\.1\.1/)
  }
  t.equal(storedCount(node), 1, 'refused recipients store nothing')
})

t.test('a message over NODE_SMTP_MAX_BYTES gets 552 5.3.4 and nothing is stored', async (t) => {
  const { node, port } = await mailNode(t, { NODE_SMTP_MAX_BYTES: '4096' })
  const refused = await sendFails(
    client(port).sendMail({
      from: 'carla@client.test',
      to: `sales@${DOMAIN}`,
      subject: 'Big',
      text: 'x'.repeat(10_000),
    }),
  )
  t.equal(refused.responseCode, 552)
  t.match(refused.response, /5\.3\.4/)
  t.equal(storedCount(node), 0)
  // Cut off in the middle of an attachment the intake was already writing: its file goes too.
  const cut = await sendFails(
    client(port).sendMail({
      from: 'carla@client.test',
      to: `sales@${DOMAIN}`,
      subject: 'Big file',
      text: 'see attached',
      attachments: [{ filename: 'big.bin', content: Buffer.alloc(12_000, 7) }],
    }),
  )
  t.equal(cut.responseCode, 552)
  t.equal(storedCount(node), 0)
  t.same(filesUnder(node.config.attachmentDir), [], 'no file, finished or half-written, is left')
  // A message under the limit still goes through on the same listener.
  const info = await client(port).sendMail({
    from: 'carla@client.test',
    to: `sales@${DOMAIN}`,
    subject: 'Small',
    text: 'fits',
  })
  t.match(info.response, /^250 /)
  t.equal(storedCount(node), 1)
})

t.test(`at most ${MAX_RECIPIENTS} recipients a message: the next gets 452 4.5.3`, async (t) => {
  const { port } = await mailNode(t)
  const to = [`sales@${DOMAIN}`, ...Array.from({ length: MAX_RECIPIENTS }, (_, i) => `reply+${i}@${DOMAIN}`)]
  const info = await client(port).sendMail({ from: 'carla@client.test', to, subject: 'Many', text: 'Hi' })
  t.equal(info.accepted.length, MAX_RECIPIENTS)
  t.same(info.rejected, [to.at(-1)])
  const [rejected] = (info as unknown as SmtpFailure).rejectedErrors ?? []
  t.equal(rejected?.responseCode, 452)
  t.match(rejected?.response, /4\.5\.3/)
  t.match(info.response, /^250 /, 'the message goes to the first fifty')
})

t.test(`more than ${MESSAGES_PER_MINUTE} messages a minute from one sender get 451 4.7.1`, async (t) => {
  const { node, port } = await mailNode(t)
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, ignoreTLS: true, pool: true })
  t.teardown(() => transport.close())
  // Each try counts, taken or not: a sender guessing addresses is held back as much as one sending.
  for (let i = 0; i < MESSAGES_PER_MINUTE; i++) {
    const refused = await sendFails(
      transport.sendMail({ from: 'flood@client.test', to: `guess${i}@${DOMAIN}`, text: 'x' }),
    )
    t.equal(refused.responseCode, 550)
  }
  const held = await sendFails(
    transport.sendMail({ from: 'flood@client.test', to: `sales@${DOMAIN}`, subject: 'One more', text: 'x' }),
  )
  t.equal(held.responseCode, 451)
  t.match(held.response, /4\.7\.1 .*try again in \d+ s/)
  t.equal(storedCount(node), 0)

  node.clock.advance(61_000)
  const info = await transport.sendMail({
    from: 'flood@client.test',
    to: `sales@${DOMAIN}`,
    subject: 'After a minute',
    text: 'x',
  })
  t.match(info.response, /^250 /, 'a minute later the sender is taken again')
})

t.test('STARTTLS is offered with NODE_SMTP_TLS_CERT and NODE_SMTP_TLS_KEY', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ochat-smtp-tls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const key = join(dir, 'key.pem')
  const cert = join(dir, 'cert.pem')
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost'].concat([
      '-keyout',
      key,
      '-out',
      cert,
    ]),
    { stdio: 'ignore' },
  )
  t.ok(readFileSync(cert, 'utf8').includes('BEGIN CERTIFICATE'))
  const { port } = await mailNode(t, { NODE_SMTP_TLS_CERT: cert, NODE_SMTP_TLS_KEY: key })
  const info = await client(port, { requireTLS: true }).sendMail({
    from: 'carla@client.test',
    to: `sales@${DOMAIN}`,
    subject: 'Over TLS',
    text: 'Encrypted',
  })
  t.match(info.response, /^250 /, 'a client that requires TLS gets it')

  const plain = await mailNode(t)
  const refused = await sendFails(
    client(plain.port, { requireTLS: true }).sendMail({
      from: 'carla@client.test',
      to: `sales@${DOMAIN}`,
      text: 'x',
    }),
  )
  t.notOk(refused.responseCode === 250, 'without a certificate STARTTLS is not offered')
})

/** A raw connection from `localAddress` (any of 127.0.0.0/8 is this machine): the server's first line. */
function greeting(port: number, localAddress: string): Promise<{ socket: Socket; line: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress })
    let received = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      received += chunk
      const end = received.indexOf('\r\n')
      if (end >= 0) resolve({ socket, line: received.slice(0, end) })
    })
    socket.once('error', reject)
  })
}

t.test('connections at once are capped per client address and in all: one more gets 421', async (t) => {
  const { port } = await mailNode(t, {
    NODE_SMTP_MAX_CONNECTIONS: '3',
    NODE_SMTP_MAX_CONNECTIONS_PER_IP: '2',
    // This machine's addresses play other companies' servers here, not our MTA.
    NODE_SMTP_RELAY_CLIENTS: 'none',
  })
  const sockets: Socket[] = []
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
  })
  const open = async (from: string) => {
    const opened = await greeting(port, from)
    sockets.push(opened.socket)
    return opened
  }
  const first = await open('127.0.0.1')
  t.match(first.line, /^220 /)
  t.match((await open('127.0.0.1')).line, /^220 /)
  t.match(
    (await open('127.0.0.1')).line,
    /^421 4\.7\.0 too many connections from 127\.0\.0\.1 \(at most 2\)/,
    'a third from the same client is turned away, saying why',
  )
  t.match((await open('127.0.0.2')).line, /^220 /, 'another client still gets in')
  t.match(
    (await open('127.0.0.3')).line,
    /^421 4\.7\.0 too many connections \(at most 3\)/,
    'past the total, anyone is turned away',
  )
  first.socket.end('QUIT\r\n')
  const again = await until('a place freed by the client that left', async () => {
    const opened = await open('127.0.0.1')
    return opened.line.startsWith('220 ') ? opened : undefined
  })
  t.match(again.line, /^220 /, 'a closed connection frees its place')
})

t.test('over SMTP from our own MTA, its Authentication-Results make the From address count', async (t) => {
  const { node, admin, port } = await mailNode(t, { NODE_MAIL_TRUSTED_AUTHSERV: 'mx.acme.test' })
  const aliases = await admin.call('GET', '/api/v1/mail/aliases')
  const support = aliases.body.items.find((alias: { name: string }) => alias.name === 'support')
  await admin.call('PATCH', `/api/v1/mail/aliases/${support.id}`, { contactPolicy: 'internal' })
  await buildUser(node, { email: 'olga@acme.test' })
  const send = (headers: Record<string, string>) =>
    client(port).sendMail({
      from: 'olga@acme.test',
      to: `support@${DOMAIN}`,
      subject: 'Printer on fire',
      text: 'Again.',
      headers,
    })
  const refused = await sendFails(send({}))
  t.equal(refused.responseCode, 550, 'without the header, a From address of ours is not believed')
  const info = await send({ 'Authentication-Results': 'mx.acme.test; dmarc=pass header.from=acme.test' })
  t.match(info.response, /^250 /)
  const listed = await admin.call('GET', '/api/v1/mail/incoming')
  t.equal(listed.body.items[0].outcome, 'created', 'with it, the user may write to an internal alias')
  t.match(listed.body.items[0].reason, 'sender authenticated: dmarc=pass by mx.acme.test')
})

t.test('behind a relay (NODE_SMTP_RELAY_CLIENTS) its connections are held to the total only', async (t) => {
  const { port } = await mailNode(t, {
    NODE_SMTP_MAX_CONNECTIONS: '4',
    NODE_SMTP_MAX_CONNECTIONS_PER_IP: '1',
    NODE_SMTP_RELAY_CLIENTS: '127.0.0.2',
  })
  const sockets: Socket[] = []
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
  })
  const open = async (from: string) => {
    const opened = await greeting(port, from)
    sockets.push(opened.socket)
    return opened.line
  }
  for (let i = 1; i <= 3; i++)
    t.match(await open('127.0.0.2'), /^220 /, `the relay's connection ${i} gets in`)
  t.match(await open('127.0.0.3'), /^220 /, 'another client gets one')
  t.match(
    await open('127.0.0.2'),
    /^421 4\.7\.0 too many connections \(at most 4\)/,
    'past the total, the relay too is turned away',
  )
})

t.test(
  `a relay client is not held to ${MESSAGES_PER_MINUTE} messages a minute; a sender still is`,
  async (t) => {
    const { node, port } = await mailNode(t, { NODE_SMTP_RELAY_CLIENTS: '127.0.0.2' })
    const transport = (localAddress: string) => {
      const created = nodemailer.createTransport({
        host: '127.0.0.1',
        port,
        localAddress,
        ignoreTLS: true,
        pool: true,
      })
      t.teardown(() => created.close())
      return created
    }
    // Every sender's mail comes through the relay, each a new lead.
    const relay = transport('127.0.0.2')
    for (let i = 0; i <= MESSAGES_PER_MINUTE; i++) {
      const info = await relay.sendMail({
        from: `buyer${i}@client${i}.test`,
        to: `sales@${DOMAIN}`,
        subject: `Lead ${i}`,
        text: 'x',
      })
      t.match(info.response, /^250 /, `message ${i + 1} through the relay is taken`)
    }
    t.equal(storedCount(node), MESSAGES_PER_MINUTE + 1)
    // One sender through the relay is held back all the same.
    for (let i = 0; i < MESSAGES_PER_MINUTE - 1; i++)
      await relay.sendMail({
        from: 'buyer0@client0.test',
        to: `sales@${DOMAIN}`,
        subject: 'Again',
        text: 'x',
      })
    const held = await sendFails(
      relay.sendMail({ from: 'buyer0@client0.test', to: `sales@${DOMAIN}`, subject: 'Too many', text: 'x' }),
    )
    t.equal(held.responseCode, 451)
    t.match(held.response, /4\.7\.1 too many messages from buyer0@client0\.test/)

    // Another server sending as many, each from a different sender, is held back by its address.
    const other = transport('127.0.0.3')
    for (let i = 0; i < MESSAGES_PER_MINUTE; i++)
      await sendFails(other.sendMail({ from: `guess${i}@spam.test`, to: `guess${i}@${DOMAIN}`, text: 'x' }))
    const refused = await sendFails(
      other.sendMail({ from: 'one.more@spam.test', to: `sales@${DOMAIN}`, subject: 'x', text: 'x' }),
    )
    t.equal(refused.responseCode, 451)
    t.match(refused.response, /4\.7\.1 too many messages from 127\.0\.0\.3/)
  },
)

/** Every file under a directory, recursively, relative to it. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
}

t.test('the limits per client count an IPv4 address, or a whole IPv6 /64', async (t) => {
  t.equal(clientKey('192.0.2.7'), '192.0.2.7')
  t.equal(clientKey('::ffff:192.0.2.7'), '192.0.2.7', 'IPv4 seen through an IPv6 socket is the same client')
  t.equal(clientKey('2001:db8:aa:bb:1:2:3:4'), '2001:db8:aa:bb::/64')
  t.equal(
    clientKey('2001:db8:aa:bb::9'),
    clientKey('2001:0db8:00aa:00bb:ffff:ffff:ffff:ffff'),
    'any address of one /64 is one client, however it is written',
  )
  t.not(clientKey('2001:db8:aa:bc::1'), clientKey('2001:db8:aa:bb::1'), 'the next /64 is another client')
  t.equal(clientKey('2001:db8::1'), '2001:db8:0:0::/64')
  t.equal(clientKey('::1'), '0:0:0:0::/64')
})
