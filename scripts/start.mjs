#!/usr/bin/env node
// `pnpm start`: a relay on embedded PostgreSQL (PGlite) and two company nodes, "Acme" and "Globex", on
// SQLite, in one data folder (.data, or OCHAT_DATA_DIR). The first start makes the logins, registers
// both nodes, connects them and seeds sample records and O'Chat messages through the REST API; later
// starts keep everything and print the same summary. Ctrl-C stops the three servers and waits for them.
// A local mail catcher is both nodes' outgoing mail server: the emails they send are read on its page.
// Each node also listens for incoming mail over SMTP (sales@acme.example makes a lead at Acme).
//
// Settings (all optional): OCHAT_DATA_DIR, OCHAT_RELAY_PORT (8700), OCHAT_ACME_PORT (8801),
// OCHAT_GLOBEX_PORT (8802), OCHAT_MAILBOX_PORT (8780, the catcher's page), OCHAT_MAILBOX_SMTP_PORT
// (8725, its SMTP port), OCHAT_ACME_SMTP_PORT (2526) and OCHAT_GLOBEX_SMTP_PORT (2527, the nodes'
// incoming mail).
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ApiError } from './start/api.mjs'
import { startMailCatcher } from './start/mail-catcher.mjs'
import { Child, ChildExited, portProblem, tail, waitReady } from './start/processes.mjs'
import {
  adminApi,
  COMPANIES,
  connect,
  converse,
  openMailAliases,
  registerNode,
  seedCompany,
  writeSampleMail,
} from './start/seed.mjs'
import { ensureSecretFile, loadState, newPassword, saveState } from './start/state.mjs'
import { printSummary } from './start/summary.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const dataDir = resolve(process.env.OCHAT_DATA_DIR || join(root, '.data'))
/** The data folder as the user would type it: relative when it is under the current directory. */
const shownDataDir = relative(process.cwd(), dataDir).startsWith('..')
  ? dataDir
  : relative(process.cwd(), dataDir) || '.'
const started = Date.now()

function progress(line) {
  const seconds = ((Date.now() - started) / 1000).toFixed(1).padStart(5)
  process.stdout.write(`  ${seconds}s  ${line}\n`)
}

function fail(message) {
  process.stderr.write(`\n${message}\n`)
  process.exit(1)
}

/** The port from the environment, else the one the data folder was first started with, else the default. */
function port(variable, remembered, fallback) {
  const text = process.env[variable]
  if (text === undefined || text === '') return remembered ?? fallback
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1 || value > 65535)
    fail(`${variable}=${text} is not a port number (1 to 65535).`)
  return value
}

mkdirSync(join(dataDir, 'logs'), { recursive: true, mode: 0o700 })
const lockFile = join(dataDir, 'start.pid')
const holder = existsSync(lockFile) ? Number(readFileSync(lockFile, 'utf8')) : 0
if (holder && holder !== process.pid && isAlive(holder))
  fail(
    `O'Chat is already running from ${shownDataDir} (pid ${holder}): stop it with Ctrl-C in its terminal,\n` +
      `or use another data folder and ports (OCHAT_DATA_DIR, OCHAT_RELAY_PORT, OCHAT_ACME_PORT, OCHAT_GLOBEX_PORT).`,
  )
writeFileSync(lockFile, String(process.pid), { mode: 0o600 })

const state = loadState(dataDir)
const ports = {
  relay: port('OCHAT_RELAY_PORT', state.ports?.relay, 8700),
  acme: port('OCHAT_ACME_PORT', state.ports?.acme, 8801),
  globex: port('OCHAT_GLOBEX_PORT', state.ports?.globex, 8802),
  mailbox: port('OCHAT_MAILBOX_PORT', state.ports?.mailbox, 8780),
  mailboxSmtp: port('OCHAT_MAILBOX_SMTP_PORT', state.ports?.mailboxSmtp, 8725),
  acmeSmtp: port('OCHAT_ACME_SMTP_PORT', state.ports?.acmeSmtp, 2526),
  globexSmtp: port('OCHAT_GLOBEX_SMTP_PORT', state.ports?.globexSmtp, 2527),
}
// The nodes keep the relay's URL from their registration: it must not move under them.
if (state.ports && state.ports.relay !== ports.relay && state.done['acme.registration'])
  fail(
    `The nodes in ${shownDataDir} are registered with the relay at http://127.0.0.1:${state.ports.relay}:\n` +
      `start with OCHAT_RELAY_PORT=${state.ports.relay}, or delete ${shownDataDir} to start over.`,
  )
const taken = []
for (const [name, variable] of [
  ['relay', 'OCHAT_RELAY_PORT'],
  ['acme', 'OCHAT_ACME_PORT'],
  ['globex', 'OCHAT_GLOBEX_PORT'],
  ['mailbox', 'OCHAT_MAILBOX_PORT'],
  ['mailboxSmtp', 'OCHAT_MAILBOX_SMTP_PORT'],
  ['acmeSmtp', 'OCHAT_ACME_SMTP_PORT'],
  ['globexSmtp', 'OCHAT_GLOBEX_SMTP_PORT'],
]) {
  const problem = await portProblem(ports[name])
  const what = {
    relay: 'the relay',
    mailbox: "the mail catcher's page",
    mailboxSmtp: "the mail catcher's SMTP",
    acmeSmtp: "Acme's incoming mail",
    globexSmtp: "Globex's incoming mail",
  }[name]
  if (problem)
    taken.push(
      `  - port ${ports[name]} (${what ?? COMPANIES[name].company}) is ${problem}: ` +
        `set ${variable} to a free port, e.g. ${variable}=${ports[name] + 100}`,
    )
}
if (taken.length > 0) {
  rmSync(lockFile, { force: true })
  fail(`Cannot start: ${taken.length === 1 ? 'a port is' : 'ports are'} not free.\n${taken.join('\n')}`)
}
state.ports = ports
for (const key of Object.keys(COMPANIES))
  state.nodes[key] ??= {
    users: COMPANIES[key].people.map((person) => ({ ...person, password: newPassword() })),
  }
saveState(dataDir, state)

const relayUrl = `http://127.0.0.1:${ports.relay}`
// Different host names for the two nodes: browsers share cookies across ports of one host, so two
// tabs on 127.0.0.1 would log each other out.
const urls = { acme: `http://127.0.0.1:${ports.acme}`, globex: `http://localhost:${ports.globex}` }
const apiUrls = { acme: `http://127.0.0.1:${ports.acme}`, globex: `http://127.0.0.1:${ports.globex}` }
const context = { dataDir, state, progress }
const children = []
let stopping = false

// The servers get their settings from us only: a DATABASE_URL or NODE_* left in the shell must not
// point them elsewhere.
const inherited = Object.fromEntries(
  Object.entries(process.env).filter(
    ([name]) =>
      !/^(RELAY_|DATABASE_URL$|OCHAT_ADMIN_PASSWORD$)/.test(name) &&
      !/^NODE_(HOST|PORT|COMPANY|DATA_DIR|PUBLIC_URL|OCHAT_|SECURE_|SESSION_|ATTACHMENT_|UPLOAD_|TRUST_PROXY|LOG_LEVEL|LOCALE|CURRENCY|SMTP_|MAIL_)/.test(
        name,
      ),
  ),
)
const relayBin = join(root, 'relay/bin/ochat-relay.mjs')
const nodeBin = join(root, 'node/bin/ochat-node.mjs')

function nodeEnv(key) {
  return {
    ...inherited,
    NODE_DATA_DIR: join(dataDir, key),
    NODE_HOST: '127.0.0.1',
    NODE_PORT: String(ports[key]),
    NODE_COMPANY: COMPANIES[key].company,
    NODE_PUBLIC_URL: urls[key],
    NODE_OCHAT_SECRET_FILE: ensureSecretFile(join(dataDir, key)),
    NODE_OCHAT_WEBHOOK_URL: `${apiUrls[key]}/ochat/webhook`,
    // Local demo: new requests and decisions show within 2 s instead of 10.
    NODE_OCHAT_SYNC_MS: '2000',
    // Every email goes to the local mail catcher, whatever its address: nothing leaves this machine.
    NODE_SMTP_URL: `smtp://127.0.0.1:${ports.mailboxSmtp}?security=none`,
    NODE_MAIL_FROM: `notifications@${key}.example`,
    NODE_MAIL_DOMAIN: `${key}.example`,
    // Incoming mail for ${key}.example, on loopback only.
    NODE_SMTP_PORT: String(ports[`${key}Smtp`]),
    NODE_SMTP_HOST: '127.0.0.1',
  }
}

function watch(child) {
  children.push(child)
  return child
}

/** Resolves never; rejects as soon as a server stops without being asked to. */
const crashed = new Promise((_, reject) => {
  const check = setInterval(() => {
    const dead = children.find((child) => !child.running && !child.stopping)
    if (dead && !stopping) {
      clearInterval(check)
      reject(new ChildExited(dead))
    }
  }, 100)
  check.unref()
})
crashed.catch(() => undefined)

let mailCatcher
async function stopAll(signal) {
  stopping = true
  // The catcher last: nodes still sending as they stop find it there.
  const closeCatcher = () => mailCatcher?.close()
  await Promise.all(children.filter((child) => child.name !== 'relay').map((child) => child.stop(signal)))
  await children.find((child) => child.name === 'relay')?.stop(signal)
  await closeCatcher()
  // Asked to stop, a server exits 0; anything else (killed after the timeout, an error) is reported.
  return children.filter((child) => child.ended?.code !== 0 && child.ended?.signal !== signal)
}

let signalled = false
async function onSignal(signal) {
  if (signalled) {
    // A second Ctrl-C: do not wait any longer.
    for (const child of children) child.kill()
    rmSync(lockFile, { force: true })
    process.exit(130)
  }
  signalled = true
  process.stdout.write(`\nStopping (${signal}): the nodes, then the relay…\n`)
  const unclean = await stopAll(signal)
  rmSync(lockFile, { force: true })
  for (const child of unclean)
    process.stdout.write(
      `  ${child.name} did not stop cleanly (${child.ended?.signal ?? `exit code ${child.ended?.code}`}); see ${child.log}\n`,
    )
  process.stdout.write(`Stopped. Everything is kept in ${shownDataDir}: \`pnpm start\` resumes.\n`)
  process.exit(unclean.length === 0 ? 0 : 1)
}
process.on('SIGINT', () => void onSignal('SIGINT'))
process.on('SIGTERM', () => void onSignal('SIGTERM'))
// The terminal closed: the servers live in their own process groups and would not hear of it.
process.on('SIGHUP', () => void onSignal('SIGTERM'))
// If this script dies of something else, the servers must not outlive it.
process.on('exit', () => {
  for (const child of children) child.kill()
})

async function startNode(key) {
  const { company } = COMPANIES[key]
  const node = state.nodes[key]
  const env = nodeEnv(key)
  const admin = node.users[0]
  // A new node makes its first administrator as it starts (ochat-node serve reads OCHAT_ADMIN_*).
  const firstAdmin = node.initialized
    ? {}
    : {
        OCHAT_ADMIN_LOGIN: admin.login,
        OCHAT_ADMIN_PASSWORD: admin.password,
        OCHAT_ADMIN_NAME: admin.name,
        OCHAT_ADMIN_EMAIL: admin.email,
      }
  const child = watch(
    new Child({
      name: company,
      script: nodeBin,
      args: ['serve'],
      env: { ...env, ...firstAdmin },
      log: join(dataDir, 'logs', `${key}.log`),
      cwd: root,
    }),
  )
  progress(
    `${company}: starting on port ${ports[key]} (pid ${child.pid})${node.initialized ? '' : `; first start: a new database, administrator ${admin.name}`}`,
  )
  await waitReady(child, `${apiUrls[key]}/healthz`, 120_000)
  progress(`${company}: ready at ${urls[key]}`)
  if (!node.initialized) {
    node.initialized = true
    saveState(dataDir, state)
  }
  const api = await adminApi(context, key, apiUrls[key])
  const seeded = await seedCompany(context, key, api, apiUrls[key])
  const aliases = await openMailAliases(context, key, api)
  return { api, ...seeded, aliases }
}

async function run() {
  const first = !state.done['ochat.delivered']
  process.stdout.write(
    first
      ? `Starting O'Chat: a relay and two companies, Acme and Globex (data in ${shownDataDir}).\n`
      : `Starting O'Chat again from ${shownDataDir}.\n`,
  )
  writeSampleMail(dataDir)
  mailCatcher = await startMailCatcher({
    dataDir,
    smtpPort: ports.mailboxSmtp,
    httpPort: ports.mailbox,
  })
  progress(`mail catcher: reading every email the nodes send at ${mailCatcher.pageUrl}`)
  const relay = watch(
    new Child({
      name: 'relay',
      script: relayBin,
      args: ['serve'],
      env: {
        ...inherited,
        RELAY_DATA_DIR: join(dataDir, 'relay'),
        RELAY_HOST: '127.0.0.1',
        RELAY_PORT: String(ports.relay),
        RELAY_NAME: "Local O'Chat relay",
        // Anyone on this machine may register: the relay listens on loopback only.
        RELAY_REGISTRATION: 'open',
        // The nodes' webhooks are on 127.0.0.1, which a public relay refuses.
        RELAY_ALLOW_PRIVATE_WEBHOOKS: 'true',
      },
      log: join(dataDir, 'logs', 'relay.log'),
      cwd: root,
    }),
  )
  progress(
    `relay: starting on port ${ports.relay} (pid ${relay.pid})${existsSync(join(dataDir, 'relay', 'pglite')) ? '' : '; its first start sets up PostgreSQL, about 20 s'}`,
  )
  const relayReady = waitReady(relay, `${relayUrl}/v1/info`, 180_000).then(() =>
    progress(`relay: ready at ${relayUrl}`),
  )
  relayReady.catch(() => undefined)
  const [acme, globex] = await Promise.all([startNode('acme'), startNode('globex')])
  await relayReady
  const acmeId = await registerNode(context, 'acme', acme.api, relayUrl)
  const globexId = await registerNode(context, 'globex', globex.api, relayUrl)
  const channels = await connect(context, {
    acme: acme.api,
    globex: globex.api,
    globexId,
    acmeContact: acme.contacts.partner,
    globexContact: globex.contacts.partner,
  })
  await converse(context, {
    acme: acme.api,
    globex: globex.api,
    channels,
    acmeOrder: acme.records.order,
    globexOrder: globex.records.order,
  })
  const connection = await acme.api.get(`/api/v1/ochat/connections/${channels.connectionId}`)
  printSummary({
    state,
    urls,
    relayUrl,
    shownDataDir,
    ids: { acme: acmeId, globex: globexId },
    channels,
    records: { ...prefix('acme', acme.records), ...prefix('globex', globex.records) },
    connectionState: connection.state,
    mailboxUrl: mailCatcher.pageUrl,
    smtp: {
      acme: { url: `smtp://127.0.0.1:${ports.acmeSmtp}`, aliases: acme.aliases },
      globex: { url: `smtp://127.0.0.1:${ports.globexSmtp}`, aliases: globex.aliases },
    },
    sampleMail: join(shownDataDir, 'sample-mail.eml'),
    seconds: (Date.now() - started) / 1000,
  })
}

function prefix(key, records) {
  return Object.fromEntries(Object.entries(records).map(([name, id]) => [`${key}.${name}`, id]))
}

function isAlive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return error.code === 'EPERM'
  }
}

try {
  await Promise.race([run(), crashed])
} catch (error) {
  if (stopping) await new Promise(() => undefined) // the signal handler is exiting
  if (error instanceof ChildExited) {
    process.stderr.write(
      `\n${error.message}. The last lines of ${error.child.log}:\n${tail(error.child.log)}\n`,
    )
  } else {
    process.stderr.write(
      `\nStarting failed: ${error instanceof ApiError ? error.message : (error.stack ?? error)}\n`,
    )
    process.stderr.write(`The servers' logs are in ${join(shownDataDir, 'logs')}.\n`)
  }
  process.stderr.write('Stopping the other servers…\n')
  await stopAll('SIGTERM')
  rmSync(lockFile, { force: true })
  process.stderr.write(`What was done is kept in ${shownDataDir}: fix the cause and \`pnpm start\` again.\n`)
  process.exit(1)
}
// Running: the signal handlers and the crash watch take it from here.
crashed.catch(async (error) => {
  if (stopping) return
  process.stderr.write(
    `\n${error.message}. The last lines of ${error.child.log}:\n${tail(error.child.log)}\n`,
  )
  process.stderr.write('Stopping the other servers…\n')
  await stopAll('SIGTERM')
  rmSync(lockFile, { force: true })
  process.exit(1)
})
