// What `pnpm start` prints once everything runs: the URLs, the logins, and a two-line tour. The same
// on every start, from the state file.
import { join } from 'node:path'
import { COMPANIES } from './seed.mjs'

export const READY_LINE = "O'Chat is running"

export function printSummary({
  state,
  urls,
  relayUrl,
  shownDataDir,
  ids,
  channels,
  records,
  connectionState,
  mailboxUrl,
  smtp,
  sampleMail,
  seconds,
}) {
  const lines = [
    '',
    `${READY_LINE} (ready in ${seconds.toFixed(1)} s): two companies, Acme and Globex, connected through a relay.`,
    '',
  ]
  for (const key of ['acme', 'globex']) {
    lines.push(`  ${COMPANIES[key].company.padEnd(8)} ${urls[key].padEnd(26)} instance ${ids[key]}`)
    for (const user of state.nodes[key].users) {
      const who = `${user.name}, ${user.does}${user.role === 'admin' ? ' (administrator)' : ''}`
      lines.push(`    ${`${user.login} / ${user.password}`.padEnd(28)} ${who}`)
    }
    lines.push(`    ${smtp[key].url.padEnd(28)} incoming mail for ${smtp[key].aliases.join(', ')}`)
  }
  lines.push(`  ${'Relay'.padEnd(8)} ${relayUrl.padEnd(26)} open registration, API documents at /docs`)
  lines.push(
    `  ${'Mailbox'.padEnd(8)} ${mailboxUrl.padEnd(26)} every email both companies send, with its headers (none leaves this machine)`,
  )
  lines.push('')
  lines.push(`  Connection Acme \u21c4 Globex: ${connectionState}`)
  lines.push('')
  lines.push('Tour:')
  lines.push(
    `  1. Log into Acme as alice and open O'Chat (${urls.acme}/#/ochat/channels/${channels.acmeChannel}): messages both ways, each Delivered; send one, open it as grace at Globex, and watch it turn Read.`,
  )
  lines.push(
    `  2. Open Acme's sales order S00042 (${urls.acme}/#/records/${records['acme.order']}): chatter, followers, a to-do, and the O'Chat thread Globex filed on its purchase order P00017 (${urls.globex}/#/records/${records['globex.order']}).`,
  )
  lines.push(
    `  3. Open the mailbox (${mailboxUrl}): the email Nora Wells, a customer following Acme's lead, got from its chatter, with the reply address and threading headers; the internal notes were never emailed.`,
  )
  lines.push(
    `  4. Send Acme an email (a new lead appears, named after its subject): curl ${smtp.acme.url} --mail-from you@example.com --mail-rcpt sales@acme.example --upload-file ${sampleMail}`,
  )
  lines.push('')
  lines.push(
    `Logins are kept in ${join(shownDataDir, 'start.json')}, logs in ${join(shownDataDir, 'logs')}. ` +
      'Ctrl-C stops everything; `pnpm start` again resumes with the same data.',
  )
  lines.push('')
  process.stdout.write(lines.join('\n'))
}
