import {
  type AddressObject,
  type Attachment,
  type HeaderValue,
  type ParsedMail,
  type StructuredHeader,
  simpleParser,
} from 'mailparser'

/** HTML past this many characters is not turned into text (the sanitized HTML is what is posted). */
const MAX_HTML_TO_PARSE = 2_000_000

/** Ids of In-Reply-To and References looked up, from the end: older ones are history, not the parent. */
const THREAD_IDS = 32

/** One mail as the intake reads it: everything routing, posting and the admin's list need. */
export type InboundMail = {
  /** The Message-ID without angle brackets; null when the mail had none. */
  messageId: string | null
  from: { address: string; name: string } | null
  subject: string
  /** To, Cc and Delivered-To, lower case. */
  recipients: string[]
  /** In-Reply-To first, then the last 32 References, newest first, without angle brackets. */
  threadIds: string[]
  contentType: string
  reportType: string | null
  /** Outer headers only, lower-case names. */
  header(name: string): string
  /** The outer header lines top to bottom (the newest hop first), lower-case names, values unfolded. */
  headerLines: { key: string; value: string }[]
  hasHeader(name: string): boolean
  html: string | null
  text: string
  attachments: Attachment[]
}

export type ParseOutcome = { ok: true; mail: InboundMail } | { ok: false; reason: string }

/**
 * Parses a raw message; never throws. mailparser refuses enormous headers and part bombs with an
 * error, which becomes the reason the mail is filed as unreadable. Mail with nobody to attribute it
 * to, or a multipart whose parts cannot be found, is unreadable too.
 */
export async function parseMail(raw: Buffer): Promise<ParseOutcome> {
  let parsed: ParsedMail
  try {
    // Bounded: mailparser turns HTML into text and links text on the event loop, all of it by default;
    // a 25 MB HTML part would hold up every other request of the node.
    parsed = await simpleParser(withReadableHeaders(raw), {
      skipImageLinks: true,
      skipTextLinks: true,
      maxHtmlLengthToParse: MAX_HTML_TO_PARSE,
    })
  } catch (error) {
    return { ok: false, reason: `unreadable: ${(error as Error).message}` }
  }
  const broken = brokenReason(parsed)
  if (broken) return { ok: false, reason: broken }
  return { ok: true, mail: toInbound(parsed) }
}

/**
 * The rules that send a message to the incoming-mail-errors list instead of routing it: nobody to
 * answer or attribute it to, or a multipart whose parts cannot be found (no boundary parameter, or a
 * boundary that never occurs) so that nothing of what the sender wrote could be read.
 */
export function brokenReason(mail: ParsedMail): string | null {
  if (addresses(mail.from).length === 0) return 'no sender address'
  const type = mail.headers.get('content-type')
  const multipart = headerText(type).toLowerCase().startsWith('multipart/')
  if (multipart && !mail.text?.trim() && !mail.html && mail.attachments.length === 0)
    return 'no readable part'
  return null
}

/**
 * Raw 8-bit header bytes are meant as UTF-8 by SMTPUTF8 senders and as latin-1 by older ones; a header
 * block that is not valid UTF-8 is read as windows-1252 (a superset of latin-1, as browsers read it),
 * so names and subjects keep their letters instead of becoming U+FFFD.
 */
function withReadableHeaders(raw: Buffer): Buffer {
  let end = raw.indexOf('\r\n\r\n')
  if (end < 0) end = raw.indexOf('\n\n')
  if (end < 0) end = raw.length
  const head = raw.subarray(0, end)
  if (!head.some((byte) => byte >= 0x80)) return raw
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head)
    return raw
  } catch {
    const text = new TextDecoder('windows-1252').decode(head)
    return Buffer.concat([Buffer.from(text, 'utf8'), raw.subarray(end)])
  }
}

function toInbound(parsed: ParsedMail): InboundMail {
  const sender = firstAddress(parsed.from)
  const references = parsed.references === undefined ? [] : [parsed.references].flat()
  const threadIds = [
    ...(parsed.inReplyTo ? splitIds(parsed.inReplyTo) : []),
    ...references.flatMap(splitIds).slice(-THREAD_IDS).reverse(),
  ]
  const type = parsed.headers.get('content-type')
  const params: Record<string, string> =
    typeof type === 'object' && type !== null && 'params' in type ? (type as StructuredHeader).params : {}
  const delivered = parsed.headerLines
    .filter((line) => line.key === 'delivered-to')
    .map((line) =>
      line.line
        .slice(line.line.indexOf(':') + 1)
        .trim()
        .toLowerCase(),
    )
  return {
    messageId: parsed.messageId ? stripBrackets(parsed.messageId) : null,
    from: sender,
    subject: (parsed.subject ?? '').replace(/[\p{Cc}\u2028\u2029]+/gu, ' ').trim(),
    recipients: [...addresses(parsed.to), ...addresses(parsed.cc), ...delivered],
    threadIds: [...new Set(threadIds)],
    contentType: headerText(type).toLowerCase(),
    reportType: params['report-type']?.toLowerCase() ?? null,
    header: (name) => headerText(parsed.headers.get(name)),
    hasHeader: (name) => parsed.headers.has(name),
    headerLines: parsed.headerLines.map((line) => ({
      key: line.key,
      value: line.line
        .slice(line.line.indexOf(':') + 1)
        .replace(/\r?\n[ \t]+/g, ' ')
        .trim(),
    })),
    html: typeof parsed.html === 'string' && parsed.html.trim() ? parsed.html : null,
    text: parsed.text ?? '',
    attachments: parsed.attachments,
  }
}

function splitIds(value: string): string[] {
  const found = value.match(/<[^<>\s]+>/g)
  return (found ?? value.split(/\s+/)).map(stripBrackets).filter(Boolean)
}

function stripBrackets(id: string): string {
  return id.trim().replace(/^<|>$/g, '')
}

function firstAddress(value: AddressObject | AddressObject[] | undefined) {
  for (const object of value === undefined ? [] : [value].flat())
    for (const entry of object.value) {
      const found = entry.address?.includes('@')
        ? entry
        : entry.group?.find((member) => member.address?.includes('@'))
      if (found?.address) return { address: found.address.toLowerCase(), name: found.name?.trim() ?? '' }
    }
  return null
}

export function addresses(value: AddressObject | AddressObject[] | undefined): string[] {
  const objects = value === undefined ? [] : Array.isArray(value) ? value : [value]
  const found: string[] = []
  const walk = (entries: AddressObject['value']) => {
    for (const entry of entries) {
      if (entry.address?.includes('@')) found.push(entry.address.toLowerCase())
      if (entry.group) walk(entry.group)
    }
  }
  for (const object of objects) walk(object.value)
  return found
}

/** A header's value as text, whatever shape mailparser gave it. */
export function headerText(value: HeaderValue | undefined): string {
  if (value === undefined) return ''
  if (typeof value === 'string') return value
  if (typeof value === 'object' && 'value' in value && typeof value.value === 'string') return value.value
  if (Array.isArray(value)) return value.map((item) => headerText(item as HeaderValue)).join(', ')
  return String(value)
}
