import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { until } from '../../node/test/helpers.ts'

/**
 * `pnpm start` as a new user runs it: scripts/start.mjs in its own process, with a fresh data folder
 * and free ports, read only through what it prints and the nodes' REST APIs.
 */

const root = fileURLToPath(new URL('../..', import.meta.url))
const READY =
  /O'Chat is running \(ready in [\d.]+ s\)[\s\S]*?`pnpm start` again resumes with the same data\.\n/

type Started = {
  child: ChildProcess
  output: () => string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

function runStart(env: Record<string, string>): Started {
  const child = spawn(process.execPath, [join(root, 'scripts/start.mjs')], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let text = ''
  child.stdout?.on('data', (chunk) => {
    text += chunk
  })
  child.stderr?.on('data', (chunk) => {
    text += chunk
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  return { child, output: () => text, exited }
}

async function waitForSummary(run: Started, timeoutMs: number): Promise<string> {
  const end = Date.now() + timeoutMs
  let done = false
  void run.exited.then(() => {
    done = true
  })
  while (Date.now() < end) {
    const found = READY.exec(run.output())
    if (found) return run.output()
    if (done) throw new Error(`pnpm start exited before its summary:\n${run.output()}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`no summary within ${timeoutMs / 1000} s:\n${run.output()}`)
}

type Company = {
  url: string
  instanceId: string
  logins: { login: string; password: string; admin: boolean }[]
}

/** The summary as a person reads it: each company's URL, instance id and logins; each server's pid. */
function readSummary(text: string) {
  const companies: Record<string, Company> = {}
  let current: Company | undefined
  for (const line of text.split('\n')) {
    const company = /^ {2}(Acme|Globex)\s+(http\S+)\s+instance (\S+)$/.exec(line)
    if (company) {
      current = { url: company[2] as string, instanceId: company[3] as string, logins: [] }
      companies[company[1] as string] = current
      continue
    }
    const login = /^ {4}(\S+) \/ (\S+)\s+(.+)$/.exec(line)
    if (login && current)
      current.logins.push({
        login: login[1] as string,
        password: login[2] as string,
        admin: (login[3] as string).includes('administrator'),
      })
    else if (!/^ {4}/.test(line)) current = undefined
  }
  const servers = Object.fromEntries(
    [...text.matchAll(/(relay|Acme|Globex): starting on port \d+ \(pid (\d+)\)/g)].map((m) => [
      m[1] as string,
      Number(m[2]),
    ]),
  )
  return { companies, pids: Object.values(servers), servers }
}

/** A logged-in session, as the web UI holds it. */
async function logIn(url: string, login: string, password: string) {
  const response = await fetch(`${url}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ login, password }),
  })
  if (response.status !== 200) throw new Error(`log in as ${login} at ${url}: ${response.status}`)
  const { csrfToken } = (await response.json()) as { csrfToken: string }
  const cookie = response.headers
    .getSetCookie()
    .map((line) => line.split(';')[0])
    .join('; ')
  // biome-ignore lint/suspicious/noExplicitAny: tests read response bodies loosely and assert on them
  return async (method: string, path: string, body?: unknown): Promise<any> => {
    const answer = await fetch(`${url}${path}`, {
      method,
      headers: {
        cookie,
        'x-csrf-token': csrfToken,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    if (!answer.ok) throw new Error(`${method} ${path}: ${answer.status} ${await answer.text()}`)
    return answer.json()
  }
}

type MailClient = {
  createTransport(options: object): { sendMail(mail: object): Promise<{ response: string }> }
}
/** nodemailer, a dependency of the node's tests (this package does not have it). */
function nodemailer(): MailClient {
  return createRequire(join(root, 'node', 'package.json'))('nodemailer') as MailClient
}

/** A free loopback port (harness.ts has one too, but importing it loads both servers: seconds of CPU). */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  return typeof address === 'object' && address ? address.port : 0
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** What a company sees: its connection, its channel's messages and its sample records. */
async function look(company: Company) {
  const admin = company.logins.find((login) => login.admin)
  if (!admin) throw new Error('no administrator login printed')
  const call = await logIn(company.url, admin.login, admin.password)
  const registration = await call('GET', '/api/v1/ochat/registration')
  const connections = (await call('GET', '/api/v1/ochat/connections')).items
  const channelId = connections[0]?.channelId
  const messages = channelId ? (await call('GET', `/api/v1/ochat/channels/${channelId}/messages`)).items : []
  const records: Record<string, { id: number; name: string }[]> = {}
  for (const model of ['lead', 'sale_order', 'purchase_order', 'ticket'])
    records[model] = (await call('GET', `/api/v1/models/${model}/records`)).items
  return { call, registration, connections, messages, records }
}

async function stop(t: Test, run: Started, pids: number[], signal: NodeJS.Signals) {
  const before = Date.now()
  run.child.kill(signal)
  const ended = await Promise.race([
    run.exited,
    new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 15_000)),
  ])
  t.same(ended, { code: 0, signal: null }, `${signal}: pnpm start exits with code 0`)
  t.ok(Date.now() - before < 15_000, `${signal}: within 15 s (${Date.now() - before} ms)`)
  t.same(pids.filter(alive), [], `${signal}: the relay and both nodes are gone (pids ${pids.join(', ')})`)
  t.match(run.output(), /Stopped\. Everything is kept in/, 'it says the data is kept')
}

// Two full starts, the first one setting up PostgreSQL, on a machine other test files share: the file's
// usual 120 s would make that load a failure.
t.setTimeout(300_000)

t.test('pnpm start: two connected companies with sample data, stopped by Ctrl-C, resumed', async (t) => {
  t.setTimeout(280_000)
  const started = Date.now()
  const dataDir = mkdtempSync(join(tmpdir(), 'ochat-start-'))
  const env = {
    OCHAT_DATA_DIR: dataDir,
    OCHAT_RELAY_PORT: String(await freePort()),
    OCHAT_ACME_PORT: String(await freePort()),
    OCHAT_GLOBEX_PORT: String(await freePort()),
    OCHAT_MAILBOX_PORT: String(await freePort()),
    OCHAT_MAILBOX_SMTP_PORT: String(await freePort()),
    OCHAT_ACME_SMTP_PORT: String(await freePort()),
    OCHAT_GLOBEX_SMTP_PORT: String(await freePort()),
  }
  const runs: Started[] = []
  // Whatever happened, no server outlives the test: the script is asked to stop them, then any left
  // are killed by pid.
  t.teardown(async () => {
    for (const run of runs) {
      if (run.child.exitCode === null && run.child.signalCode === null) {
        run.child.kill('SIGINT')
        await Promise.race([run.exited, new Promise((resolve) => setTimeout(resolve, 15_000))])
      }
      for (const pid of readSummary(run.output()).pids.filter(alive)) process.kill(pid, 'SIGKILL')
    }
    rmSync(dataDir, { recursive: true, force: true })
  })

  const first = runStart(env)
  runs.push(first)
  const summary = readSummary(await waitForSummary(first, 200_000))
  t.comment(first.output().split('\n\n')[0] as string)
  const acme = summary.companies.Acme as Company
  const globex = summary.companies.Globex as Company
  t.ok(acme && globex, 'the summary lists Acme and Globex')
  t.equal(acme.url, `http://127.0.0.1:${env.OCHAT_ACME_PORT}`, 'Acme on the port asked for')
  t.equal(globex.url, `http://localhost:${env.OCHAT_GLOBEX_PORT}`, 'Globex on its own host name (cookies)')
  t.equal(acme.logins.length, 2, 'Acme: an administrator and a colleague')
  t.equal(globex.logins.length, 2, 'Globex: an administrator and a colleague')
  t.equal(summary.pids.length, 3, 'the three servers are listed with their pids')
  t.match(first.output(), /Tour:\n {2}1\. .+\n {2}2\. .+\n {2}3\. .+\n {2}4\. .+\n/, 'a four-line tour')
  const mailbox = `http://127.0.0.1:${env.OCHAT_MAILBOX_PORT}`
  t.match(first.output(), new RegExp(`^ {2}Mailbox +${mailbox} `, 'm'), 'the mail catcher is listed')
  const mailboxPage = await fetch(mailbox)
  t.equal(mailboxPage.status, 200, "the mail catcher's page answers")
  t.match(await mailboxPage.text(), /Mailbox/, 'and shows the mailbox')
  // The lead's customer follower was emailed through it, after the commit: it may take a moment.
  const nora = await until('the email to Nora in the mailbox', async () => {
    const page = await (await fetch(mailbox)).text()
    return page.includes('nora@initech.example') ? page : undefined
  })
  t.match(
    nora,
    /Initech: 200 vibration sensors/,
    "the email to the lead's customer follower is in the mailbox",
  )

  const atAcme = await look(acme)
  const atGlobex = await look(globex)
  for (const login of [...acme.logins.slice(1)]) await logIn(acme.url, login.login, login.password)
  for (const login of [...globex.logins.slice(1)]) await logIn(globex.url, login.login, login.password)
  t.pass('every printed login works')
  t.equal(atAcme.registration.instanceId, acme.instanceId, 'Acme is registered under the printed id')
  t.equal(atGlobex.registration.instanceId, globex.instanceId, 'Globex is registered under the printed id')
  t.equal(atAcme.registration.status, 'valid')
  t.match(
    atAcme.connections,
    [
      {
        state: 'accepted',
        direction: 'outgoing',
        peer: { instanceId: globex.instanceId },
        contact: { name: 'Grace Lee' },
      },
    ],
    'Acme: connected to Globex, filed under Grace Lee',
  )
  t.match(
    atGlobex.connections,
    [
      {
        state: 'accepted',
        direction: 'incoming',
        peer: { instanceId: acme.instanceId },
        contact: { name: 'Alice Martin' },
      },
    ],
    'Globex: connected to Acme, filed under Alice Martin',
  )
  for (const [name, seen] of [
    ['Acme', atAcme],
    ['Globex', atGlobex],
  ] as const) {
    const out = seen.messages.filter((message: { direction: string }) => message.direction === 'out')
    const incoming = seen.messages.filter((message: { direction: string }) => message.direction === 'in')
    t.equal(out.length, 2, `${name} sent 2 O'Chat messages`)
    t.equal(incoming.length, 2, `${name} received 2`)
    t.ok(
      out.every((message: { status: string }) => ['delivered', 'read'].includes(message.status)),
      `${name}: its messages are Delivered`,
    )
  }
  t.same(
    Object.fromEntries(
      Object.entries(atAcme.records).map(([model, items]) => [model, items.map((r) => r.name)]),
    ),
    { lead: ['Initech: 200 vibration sensors'], sale_order: ['S00042'], purchase_order: [], ticket: [] },
    'Acme: a lead and a sales order',
  )
  t.same(
    Object.fromEntries(
      Object.entries(atGlobex.records).map(([model, items]) => [model, items.map((r) => r.name)]),
    ),
    {
      lead: [],
      sale_order: [],
      purchase_order: ['P00017'],
      ticket: ['Sensor readings drift after firmware 2.1'],
    },
    'Globex: a purchase order and a ticket',
  )
  // Incoming mail: the printed SMTP port takes mail for sales@acme.example, as another company's mail
  // server would deliver it, and a lead appears at Acme.
  const acmeSmtp = `smtp://127.0.0.1:${env.OCHAT_ACME_SMTP_PORT}`
  t.match(
    first.output(),
    new RegExp(`^ {4}${acmeSmtp} +incoming mail for sales@acme\\.example, support@acme\\.example$`, 'm'),
    "Acme's SMTP port and its addresses are listed",
  )
  t.match(
    first.output(),
    new RegExp(
      `curl ${acmeSmtp} --mail-from you@example\\.com --mail-rcpt sales@acme\\.example --upload-file \\S+sample-mail\\.eml`,
    ),
    'with a line to try it',
  )
  const delivered = await nodemailer()
    .createTransport({ host: '127.0.0.1', port: Number(env.OCHAT_ACME_SMTP_PORT), ignoreTLS: true })
    .sendMail({
      from: 'Pat Prospect <pat@prospect.example>',
      to: 'sales@acme.example',
      subject: 'Quote for 40 standing desks',
      text: 'Could you send us a quote?',
    })
  t.match(delivered.response, /^250 /, 'the node takes the mail')
  const leads = (await atAcme.call('GET', '/api/v1/models/lead/records')).items
  t.ok(
    leads.some((lead: { name: string }) => lead.name === 'Quote for 40 standing desks'),
    'and it is a new lead at Acme, named after its subject',
  )
  // The restart below must find it too, and no more.
  atAcme.records.lead = leads
  const order = atAcme.records.sale_order?.[0] as { id: number }
  const followers = (await atAcme.call('GET', `/api/v1/records/${order.id}/followers`)).items
  t.ok(followers.length >= 2, 'the sales order has followers')
  const activities = await atAcme.call('GET', `/api/v1/records/${order.id}/activities`)
  t.match(activities, { items: [{ summary: 'Confirm the delivery date with Globex' }] }, 'and a to-do')
  const chatter = (await atAcme.call('GET', `/api/v1/records/${order.id}/messages`)).items
  t.ok(
    chatter.some((message: { kind?: string; internal?: boolean }) => message.internal === true),
    'and a log note in its chatter',
  )
  const thread = (await atAcme.call('GET', `/api/v1/records/${order.id}/ochat`)).items
  t.match(
    thread.map((message: { direction: string; html: string }) => [message.direction, message.html]),
    [
      ['in', /dock 3/],
      ['out', /S00042/],
    ],
    "the sales order's O'Chat thread has Globex's answer, filed back on it",
  )

  await stop(t, first, summary.pids, 'SIGINT')

  const second = runStart(env)
  runs.push(second)
  const again = readSummary(await waitForSummary(second, 120_000))
  t.comment(second.output().split('\n\n')[0] as string)
  t.notMatch(second.output(), /can log in|registered with the relay|asked Globex/, 'nothing is seeded twice')
  t.equal(again.companies.Acme?.instanceId, acme.instanceId, 'Acme keeps its instance id')
  t.equal(again.companies.Globex?.instanceId, globex.instanceId, 'Globex keeps its instance id')
  t.same(again.companies.Acme?.logins, acme.logins, 'the same logins are printed again')
  const acmeAgain = await look(again.companies.Acme as Company)
  const globexAgain = await look(again.companies.Globex as Company)
  t.same(
    Object.values(acmeAgain.records).map((items) => items.length),
    Object.values(atAcme.records).map((items) => items.length),
    'Acme: no duplicate sample records',
  )
  t.same(
    Object.values(globexAgain.records).map((items) => items.length),
    Object.values(atGlobex.records).map((items) => items.length),
    'Globex: no duplicate sample records',
  )
  t.equal(acmeAgain.messages.length, 4, "Acme: the same 4 O'Chat messages")
  t.match(
    acmeAgain.connections,
    [{ state: 'accepted', peer: { instanceId: globex.instanceId } }],
    'still connected',
  )
  // Still talking after the restart: a new message reaches Globex.
  const channelId = acmeAgain.connections[0].channelId
  const sent = await acmeAgain.call('POST', `/api/v1/ochat/channels/${channelId}/messages`, {
    body: 'Still here after a restart.',
  })
  const end = Date.now() + 20_000
  let status = sent.status
  while (!['delivered', 'read'].includes(status) && Date.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, 200))
    const page = await acmeAgain.call('GET', `/api/v1/ochat/channels/${channelId}/messages`)
    status = page.items.find((message: { id: number }) => message.id === sent.id)?.status
  }
  t.equal(status, 'delivered', 'a new message after the restart is Delivered')

  // A server that dies is reported with its last log lines, and the others are stopped.
  process.kill(again.servers.Globex as number, 'SIGKILL')
  const crashed = await Promise.race([
    second.exited,
    new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 15_000)),
  ])
  t.same(crashed, { code: 1, signal: null }, 'a server killed under it: pnpm start exits with code 1')
  t.match(
    second.output(),
    /Globex stopped unexpectedly \(killed by SIGKILL\)\. The last lines of \S+globex\.log:\n[\s\S]*"level"/,
    'it names the server and shows the end of its log',
  )
  t.match(second.output(), /Stopping the other servers/)
  t.same(again.pids.filter(alive), [], 'the relay and Acme were stopped too')
  t.comment(`pnpm start test: ${((Date.now() - started) / 1000).toFixed(1)} s of wall time`)
})

t.test('pnpm start names a port that is taken and how to change it', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ochat-start-port-'))
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  const address = blocker.address()
  const taken = typeof address === 'object' && address ? address.port : 0
  t.teardown(() => {
    blocker.close()
    rmSync(dataDir, { recursive: true, force: true })
  })
  const run = runStart({
    OCHAT_DATA_DIR: dataDir,
    OCHAT_RELAY_PORT: String(await freePort()),
    OCHAT_ACME_PORT: String(taken),
    OCHAT_GLOBEX_PORT: String(await freePort()),
    OCHAT_MAILBOX_PORT: String(await freePort()),
    OCHAT_MAILBOX_SMTP_PORT: String(await freePort()),
    OCHAT_ACME_SMTP_PORT: String(await freePort()),
    OCHAT_GLOBEX_SMTP_PORT: String(await freePort()),
  })
  const ended = await run.exited
  t.equal(ended.code, 1, 'it exits with an error')
  t.match(run.output(), new RegExp(`port ${taken} \\(Acme\\) is taken: set OCHAT_ACME_PORT to a free port`))
  t.notMatch(run.output(), /starting on port/, 'and starts nothing')
})
