// The local mail catcher of `pnpm start`: both companies' outgoing SMTP server, and a page where a new
// user reads every email the nodes sent, headers included, without a real mailbox. It accepts mail for
// any address and delivers none: what the nodes send stays in <data>/mailbox, one .eml file each, and
// survives restarts. It listens on 127.0.0.1 only.
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))
// The node's own dependencies: the workspace root has none of its own.
const fromNode = createRequire(join(root, 'node/package.json'))
const { SMTPServer } = (await import(pathToFileURL(fromNode.resolve('smtp-server')).href)).default
const { simpleParser } = (await import(pathToFileURL(fromNode.resolve('mailparser')).href)).default

/** Larger than any email a node sends (attachments are capped at 10 MB by default). */
const MAX_BYTES = 30 * 1024 * 1024
/** The page lists this many, newest first. */
const LISTED = 200

/**
 * Starts the catcher: SMTP on `smtpPort`, the page on `httpPort`. Answers their URLs and `close()`.
 * @param {{ dataDir: string, smtpPort: number, httpPort: number }} options
 */
export async function startMailCatcher({ dataDir, smtpPort, httpPort }) {
  const box = join(dataDir, 'mailbox')
  mkdirSync(box, { recursive: true, mode: 0o700 })
  let sequence = readdirSync(box).length

  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    size: MAX_BYTES,
    banner: "O'Chat local mail catcher: nothing is delivered",
    onData(stream, session, callback) {
      const chunks = []
      stream.on('data', (chunk) => chunks.push(chunk))
      stream.on('end', () => {
        if (stream.sizeExceeded) {
          const error = new Error('message too large for the local mail catcher')
          error.responseCode = 552
          callback(error)
          return
        }
        const envelope = [
          `X-Catcher-Mail-From: ${session.envelope.mailFrom ? session.envelope.mailFrom.address : ''}`,
          `X-Catcher-Rcpt-To: ${session.envelope.rcptTo.map((rcpt) => rcpt.address).join(', ')}`,
          '',
        ].join('\r\n')
        sequence += 1
        const name = `${Date.now()}-${String(sequence).padStart(6, '0')}.eml`
        writeFileSync(join(box, name), Buffer.concat([Buffer.from(envelope), ...chunks]), { mode: 0o600 })
        callback(null, `kept as ${name}`)
      })
    },
  })
  smtp.on('error', () => {
    // A client that hangs up mid-command: nothing to do, the next one is served.
  })
  await new Promise((resolve, reject) => {
    smtp.server.once('error', reject)
    smtp.listen(smtpPort, '127.0.0.1', resolve)
  })

  const page = createServer((request, response) => {
    serve(box, request, response).catch((error) => {
      response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
      response.end(`The mail catcher could not read that email: ${error.message}`)
    })
  })
  await new Promise((resolve, reject) => {
    page.once('error', reject)
    page.listen(httpPort, '127.0.0.1', resolve)
  })
  return {
    smtpUrl: `smtp://127.0.0.1:${smtpPort}?security=none`,
    pageUrl: `http://127.0.0.1:${httpPort}`,
    close: () =>
      Promise.all([
        new Promise((resolve) => smtp.close(resolve)),
        new Promise((resolve) => page.close(resolve)),
      ]),
  }
}

/** The page's security headers: the emails shown are other people's HTML, never trusted. */
const HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; img-src data:",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
}

async function serve(box, request, response) {
  const url = new URL(request.url ?? '/', 'http://catcher')
  const names = readdirSync(box)
    .filter((name) => name.endsWith('.eml'))
    .sort()
    .reverse()
  if (url.pathname === '/') {
    const rows = []
    for (const name of names.slice(0, LISTED)) {
      const mail = await simpleParser(readFileSync(join(box, name)), { skipHtmlToText: true })
      rows.push(
        `<tr><td>${escapeHtml(mail.date?.toISOString().replace('T', ' ').slice(0, 19) ?? '')}</td>` +
          `<td>${escapeHtml(mail.from?.text ?? '')}</td><td>${escapeHtml(mail.headers.get('x-catcher-rcpt-to') ?? mail.to?.text ?? '')}</td>` +
          `<td><a href="/mail/${encodeURIComponent(name)}">${escapeHtml(mail.subject || '(no subject)')}</a></td></tr>`,
      )
    }
    response.writeHead(200, HEADERS)
    response.end(
      layout(
        'Mailbox',
        names.length === 0
          ? '<p>No email yet. Emails the nodes send (a message to a customer follower, a notification for someone who chose email) appear here.</p>'
          : `<p>${names.length} email${names.length === 1 ? '' : 's'}, newest first${names.length > LISTED ? ` (the last ${LISTED} shown)` : ''}.</p>` +
              `<table><tr><th>date (UTC)</th><th>from</th><th>to</th><th>subject</th></tr>${rows.join('')}</table>`,
      ),
    )
    return
  }
  const match = /^\/mail\/([0-9]+-[0-9]+\.eml)(\/html|\/raw)?$/.exec(url.pathname)
  const name = match?.[1]
  if (!match || !name || !names.includes(name)) {
    response.writeHead(404, HEADERS)
    response.end(layout('Not found', '<p>No such email. <a href="/">Back to the mailbox</a>.</p>'))
    return
  }
  const raw = readFileSync(join(box, name))
  if (match[2] === '/raw') {
    response.writeHead(200, {
      'content-type': 'text/plain; charset=utf-8',
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'",
    })
    response.end(raw)
    return
  }
  const mail = await simpleParser(raw)
  if (match[2] === '/html') {
    // Shown in a sandboxed frame with no script and no network: the email's HTML as its reader sees it.
    response.writeHead(200, {
      ...HEADERS,
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox",
    })
    response.end(typeof mail.html === 'string' ? mail.html : `<pre>${escapeHtml(mail.text ?? '')}</pre>`)
    return
  }
  const headerLines = mail.headerLines.map((line) => escapeHtml(line.line)).join('\n')
  const files = mail.attachments
    .map(
      (file) =>
        `<li>${escapeHtml(file.filename ?? '(unnamed)')} · ${escapeHtml(file.contentType)} · ${file.size} bytes</li>`,
    )
    .join('')
  response.writeHead(200, HEADERS)
  response.end(
    layout(
      mail.subject || '(no subject)',
      `<p><a href="/">← Mailbox</a> · <a href="/mail/${name}/raw">raw message</a> · ${statSync(join(box, name)).size} bytes</p>` +
        `<h2>Headers</h2><pre>${headerLines}</pre>` +
        `<h2>HTML part</h2><iframe src="/mail/${name}/html" sandbox title="HTML part"></iframe>` +
        `<h2>Text part</h2><pre>${escapeHtml(mail.text ?? '(none)')}</pre>` +
        (files ? `<h2>Attachments</h2><ul>${files}</ul>` : ''),
    ),
  )
}

function layout(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · O'Chat mail catcher</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.4em;text-align:left;vertical-align:top}pre{white-space:pre-wrap;background:#f6f6f6;padding:1em;overflow-wrap:anywhere}
iframe{width:100%;height:28em;border:1px solid #ccc}</style></head>
<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`
}

function escapeHtml(text) {
  return String(text).replace(
    /[&<>"']/g,
    (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char],
  )
}
