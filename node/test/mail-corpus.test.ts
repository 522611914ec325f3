import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { type ParsedMail, type StructuredHeader, simpleParser } from 'mailparser'
import t, { type Test } from 'tap'
import { plainText, sanitizeBody } from '../src/chatter/body.ts'
import { addresses, brokenReason, headerText } from '../src/mail/inbound/parse.ts'
import { MailTokens } from '../src/mail/tokens.ts'
import {
  CORPUS_DIR,
  type CorpusEntry,
  type CorpusExpect,
  type CorpusThread,
  corpusFiles,
  fillPlaceholders,
  loadManifest,
  PLACEHOLDERS,
} from './fixtures/mail/corpus.ts'
import { GENERATORS } from './fixtures/mail/generated.ts'

/**
 * The corpus of incoming mail in fixtures/mail/, checked before there is an intake to feed it to:
 * every message parses (or is recognised as broken by the rules below), every HTML body comes out of
 * the node's sanitizer inert, and the messages made too big or too deep on purpose are parsed or
 * refused within a time and memory bound. The manifest says what the intake must do with each one;
 * the headers of each message must carry what that expectation rests on, in the intake's routing
 * order, so a fixture and its expectation cannot drift apart.
 */

const manifest = loadManifest()
type Expect = CorpusExpect

// Placeholders become what the node would have put in the mail it sent.
const tokens = MailTokens.withKey(randomBytes(32))
const OUR_MESSAGE_ID = 'ochat-7.test@acme.example'
const values = {
  replyToken: tokens.replyToken({ recordId: 42, messageId: 7, partnerId: 9 }),
  bounceToken: tokens.bounceToken({ source: 'record', notificationId: 11 }),
  messageId: OUR_MESSAGE_ID,
}

const MODEL_ALIASES: Record<string, 'lead' | 'ticket'> = {
  'sales@acme.example': 'lead',
  'support@acme.example': 'ticket',
}

function isBounce(mail: ParsedMail): boolean {
  const type = mail.headers.get('content-type')
  const params: Record<string, string> =
    typeof type === 'object' && type !== null && 'params' in type ? (type as StructuredHeader).params : {}
  const report =
    headerText(type).toLowerCase() === 'multipart/report' && params['report-type'] === 'delivery-status'
  const fromDaemon = addresses(mail.from).some((address) => address.split('@')[0] === 'mailer-daemon')
  const toBounce = addresses(mail.to)
    .concat(addresses(mail.cc))
    .some((address) => address.startsWith('bounce+') && address.endsWith('@acme.example'))
  return report || fromDaemon || toBounce
}

/** RFC 3834 Auto-Submitted (anything but "no"), Precedence bulk/junk/list, and X-Autoreply. */
function isAutomatic(mail: ParsedMail): boolean {
  const submitted = headerText(mail.headers.get('auto-submitted')).trim().toLowerCase()
  const precedence = headerText(mail.headers.get('precedence')).trim().toLowerCase()
  return (
    (submitted !== '' && submitted !== 'no') ||
    ['bulk', 'junk', 'list'].includes(precedence) ||
    mail.headers.has('x-autoreply')
  )
}

/** The ids a reply is matched on: In-Reply-To and the last 32 of References. */
function threadIds(mail: ParsedMail): string[] {
  const references = mail.references === undefined ? [] : [mail.references].flat()
  return [...references.slice(-32), ...(mail.inReplyTo ? [mail.inReplyTo] : [])]
}

/** What the headers alone say the intake must do, in its routing order. */
function routeByHeaders(mail: ParsedMail, seen: Set<string>, thread: CorpusThread | undefined): Expect {
  if (brokenReason(mail)) return 'error'
  if (mail.messageId && seen.has(mail.messageId)) return 'drop-duplicate'
  // A DSN carries Auto-Submitted too: bounces are recognised before the auto-reply guard drops it.
  if (isBounce(mail)) return 'bounce-notification'
  if (mail.headers.has('x-ochat-loop')) return 'drop-loop'
  if (isAutomatic(mail)) return 'drop-auto'
  const recipients = addresses(mail.to).concat(addresses(mail.cc))
  const models = recipients.flatMap((address) => MODEL_ALIASES[address] ?? [])
  const byToken = recipients.some(
    (address) =>
      address.startsWith('reply+') && tokens.readReplyToken(address.slice(6).split('@')[0] ?? '') !== null,
  )
  const byId = threadIds(mail).includes(`<${OUR_MESSAGE_ID}>`)
  if ((byToken || byId) && thread) {
    const otherModel = models.find((model) => model !== thread.model)
    if (otherModel) return otherModel === 'lead' ? 'create-lead' : 'create-ticket'
    return thread.subtype === 'note' ? 'post-internal' : 'post-to-record'
  }
  if (models[0]) return models[0] === 'lead' ? 'create-lead' : 'create-ticket'
  return 'refuse'
}

const ALLOWED_TAGS = new Set('p br strong b em i u s del ul ol li a code pre blockquote h3 h4 hr'.split(' '))

/** What is left after sanitizing that could run, load, submit or style anything. */
function activeParts(html: string): string[] {
  const problems: string[] = []
  for (const [, tag = '', attributes = ''] of html.matchAll(/<\/?([a-zA-Z0-9]+)([^>]*)>/g)) {
    if (!ALLOWED_TAGS.has(tag.toLowerCase())) problems.push(`<${tag}>`)
    for (const [, name = '', value = ''] of attributes
      .replace(/\/$/, '')
      .matchAll(/([^\s=]+)(?:="([^"]*)")?/g)) {
      if (!['href', 'rel', 'target'].includes(name)) problems.push(`attribute ${name}`)
      if (name === 'href' && !/^(https?:\/\/|mailto:)/i.test(value)) problems.push(`href ${value}`)
    }
  }
  return problems
}

/** The message and the messages attached to it, a few levels down, as a reader opening them would. */
async function withForwarded(mail: ParsedMail, depth = 0): Promise<ParsedMail[]> {
  const found = [mail]
  if (depth >= 3) return found
  for (const attachment of mail.attachments) {
    if (attachment.contentType !== 'message/rfc822') continue
    found.push(...(await withForwarded(await simpleParser(attachment.content), depth + 1)))
  }
  return found
}

type Parsed = { entry: CorpusEntry; raw: Buffer; mail: ParsedMail }
const parsed: Parsed[] = []
for (const entry of manifest.messages) {
  const raw = readFileSync(`${CORPUS_DIR}${entry.file}`)
  parsed.push({ entry, raw, mail: await simpleParser(fillPlaceholders(raw, values)) })
}
const byFile = (prefix: string): ParsedMail => {
  const found = parsed.find((item) => item.entry.file.startsWith(prefix))
  if (!found) throw new Error(`no fixture ${prefix}`)
  return found.mail
}

t.test('the manifest lists every stored message once, with its placeholders', async (t) => {
  const files = corpusFiles()
  t.same(
    manifest.messages.map((entry) => entry.file),
    files,
    'one entry per .eml file, in file order',
  )
  t.ok(files.length >= 60, `${files.length} messages`)
  for (const { entry, raw } of parsed) {
    const text = raw.toString('latin1')
    const present = PLACEHOLDERS.filter((placeholder) => text.includes(placeholder))
    t.same(entry.placeholders, present, `${entry.file}: placeholders`)
    t.notMatch(
      fillPlaceholders(raw, values).toString('latin1'),
      /TOKEN@|MSGID/,
      `${entry.file}: nothing left unreplaced`,
    )
    const threaded = entry.placeholders.some(
      (placeholder) => placeholder !== 'bounce+BOUNCETOKEN@acme.example',
    )
    if (entry.thread) t.ok(threaded, `${entry.file}: a thread only where TOKEN or MSGID stands for one`)
  }
})

t.test('every address in the corpus is on a reserved example domain', async (t) => {
  for (const { entry, mail } of parsed) {
    const all = [mail.from, mail.to, mail.cc, mail.replyTo].flatMap((value) => addresses(value))
    const real = all.filter((address) => !/@((.+\.)?example\.(com|net|org)|acme\.example)$/.test(address))
    t.same(real, [], `${entry.file}: no real address`)
  }
})

t.test('every message parses; the broken ones are recognised by a stated rule', async (t) => {
  for (const { entry, mail } of parsed) {
    const reason = brokenReason(mail)
    if (entry.expect === 'error') t.ok(reason, `${entry.file}: broken (${reason})`)
    else t.equal(reason, null, `${entry.file}: has a sender and something to read`)
  }
})

t.test('the headers carry what each expected route rests on, in routing order', async (t) => {
  const seen = new Set<string>()
  for (const { entry, mail } of parsed) {
    t.equal(routeByHeaders(mail, seen, entry.thread), entry.expect, `${entry.file}: ${entry.expect}`)
    if (mail.messageId) seen.add(mail.messageId)
  }
})

t.test('no script, handler, javascript: link, form or remote load survives sanitizing', async (t) => {
  for (const { entry, mail } of parsed) {
    for (const [index, message] of (await withForwarded(mail)).entries()) {
      const where = index === 0 ? entry.file : `${entry.file}, forwarded message ${index}`
      for (const source of [message.html, message.textAsHtml]) {
        if (typeof source !== 'string') continue
        const clean = sanitizeBody(source)
        t.same(activeParts(clean), [], `${where}: inert`)
        if (plainText(source).trim()) t.ok(plainText(clean), `${where}: the text is still there`)
      }
    }
  }
  const phishing = sanitizeBody(byFile('17-').html || '')
  t.match(
    plainText(phishing),
    'Dear customer, your support contract expires today.',
    'the words of a hostile mail stay',
  )
  t.notMatch(phishing, /evil\.example|tracker\.example|alert|document\.cookie/, 'none of its payloads')
  const obfuscated = sanitizeBody(byFile('18-').html || '')
  // A split tag (<scr<script>ipt>) leaves its pieces as escaped text, which is harmless; inside a tag
  // nothing of the payloads may remain.
  t.notMatch(obfuscated, /<[^>]*(alert|expression|evil\.example|script)/i, 'obfuscated payloads are gone too')
  t.match(plainText(obfuscated), 'Please send me your 2027 catalog.', 'and the request is still readable')
  const forwarded = await withForwarded(byFile('30-'))
  t.equal(forwarded.length, 2, 'a forwarded message opens')
  t.notMatch(sanitizeBody(forwarded[1]?.html || ''), /script|onclick|alert/, 'and its html is inert')
})

t.test('legacy charsets, encoded words and RFC 2231 names read as the sender wrote them', async (t) => {
  t.match(byFile('02-').text, 'We’d like a proposal', 'windows-1252 apostrophe')
  t.match(byFile('02-').text, '“Heavy duty”', 'windows-1252 quotes')
  t.equal(byFile('02-').subject, 'Request for proposal – warehouse shelving', 'windows-1252 Q word')
  t.equal(addresses(byFile('04-').from)[0], 'francois.berube@example.net')
  t.equal(byFile('04-').from?.value[0]?.name, 'François Bérubé', 'Q encoded name')
  t.match(byFile('04-').text, 'chaises de réunion empilables', 'latin-1 quoted-printable, flowed')
  t.match(byFile('07-').text, 'Quisiéramos pedir 15 lámparas', 'latin-1 8bit body')
  t.equal(byFile('08-').subject, 'Pricing for “Premium” plan', 'windows-1252 bytes under an iso-8859-1 label')
  t.match(byFile('08-').text, 'What’s the price', 'same, in the body')
  t.equal(byFile('09-').subject, 'Не работает сканер', 'koi8-r subject')
  t.match(byFile('09-').text, 'Серийный номер: SC-20931', 'koi8-r 8bit body')
  t.equal(byFile('10-').subject, '見積もりのお願い', 'Shift_JIS subject')
  t.match(byFile('10-').text, '会議用テーブルを3台', 'Shift_JIS body')
  t.equal(byFile('11-').subject, '发票有误', 'gb2312 subject')
  t.match(byFile('11-').text, '上个月的发票金额有误', 'gb2312 body')
  t.equal(
    byFile('12-').subject,
    'Anfrage: Möbel für unseren neuen Standort – bitte um Rückruf 📞',
    'B and Q words over three lines',
  )
  t.same(
    byFile('13-').attachments.map((attachment) => attachment.filename),
    ['Gwarancja – paragon zakupu nr 2026-07-14 żółta szafa.pdf', 'zdjęcie stare.png'],
    'RFC 2231 continued and charset-tagged filenames',
  )
  t.equal(byFile('14-').subject, 'Angebot für Bürostühle – dringend', 'raw UTF-8 header')
  t.equal(addresses(byFile('15-').from)[0], 'bjorn@example.net', 'raw latin-1 header: the address survives')
  t.match(byFile('15-').subject, /^Trasig leverans - k.+k$/, 'and the ASCII words of the subject')
  t.match(byFile('16-').text, 'discount for orders above 100 units', 'unknown charset: read, not refused')
  t.equal(
    byFile('74-').subject,
    'Réclamation : tiroir cassé – commande 2026-140',
    'character split over two words',
  )
})

t.test('bodies and attachments come through broken or odd MIME', async (t) => {
  t.match(byFile('19-').text, 'Could we visit your showroom', 'html-only: a text version is derived')
  t.same(
    byFile('33-').attachments.map((attachment) => [attachment.filename, attachment.contentId]),
    [
      ['image001.png', '<image001.png@01DB45A1.2B3C4D50>'],
      ['image002.png', '<image002.png@01DB45A1.2B3C4D50>'],
    ],
    'two cid: images of a multipart/related',
  )
  t.same(
    byFile('36-').attachments.map((attachment) => [attachment.filename, attachment.size]),
    [
      ['device.log', 0],
      ['empty.bin', 0],
    ],
    'zero-byte attachments are kept',
  )
  const copies = byFile('37-').attachments
  t.equal(copies.length, 3, 'the same file attached three times')
  t.equal(new Set(copies.map((attachment) => attachment.checksum)).size, 1, 'with one content to store')
  t.match(
    byFile('65-').text,
    'reception desk, 2.4 m wide',
    'no closing boundary: the parts before the cut read',
  )
  t.match(
    byFile('67-').text,
    /^The screen flickers when the lights are on\./,
    'bad base64: the valid part decodes',
  )
  t.match(
    byFile('38-').attachments.map((attachment) => attachment.contentType),
    ['text/calendar', 'application/ics'],
  )
  const report = byFile('41-').attachments.find(
    (attachment) => attachment.contentType === 'text/rfc822-headers',
  )
  t.match(
    report?.content.toString(),
    `Message-ID: <${OUR_MESSAGE_ID}>`,
    'a DSN quotes the Message-ID we sent',
  )
})

const BOUND_MS = 3000
const BOUND_BYTES = 256 * 1024 * 1024

async function parseBounded(t: Test, name: string, raw: Buffer, expect: Expect) {
  const rssBefore = process.memoryUsage().rss
  const started = performance.now()
  const outcome = await simpleParser(raw).then(
    (mail) => ({ mail, error: null }),
    (error: Error) => ({ mail: null, error }),
  )
  const elapsed = performance.now() - started
  t.ok(elapsed < BOUND_MS, `${name}: done in ${Math.round(elapsed)} ms`)
  t.ok(
    process.memoryUsage().rss - rssBefore < BOUND_BYTES,
    `${name}: within ${BOUND_BYTES / 2 ** 20} MiB more memory`,
  )
  if (expect === 'error') t.ok(outcome.error, `${name}: refused (${outcome.error?.message})`)
  else {
    t.equal(outcome.error, null, `${name}: parsed`)
    t.equal(outcome.mail && brokenReason(outcome.mail), null, `${name}: with its sender`)
  }
}

t.test('enormous headers and nested bombs are parsed or refused within bounds', async (t) => {
  t.same(
    Object.keys(GENERATORS).sort(),
    manifest.generated.map((entry) => entry.name).sort(),
    'one generator each',
  )
  for (const entry of manifest.generated) {
    const generate = GENERATORS[entry.name]
    if (!generate) continue
    const raw = Buffer.from(generate())
    if (entry.name.includes('header'))
      t.ok(raw.length >= 100_000, `${entry.name}: ${raw.length} bytes of header`)
    await parseBounded(t, entry.name, raw, entry.expect)
  }
})
