import type { Readable } from 'node:stream'
import {
  type AddressObject,
  type AttachmentStream,
  type HeaderLines,
  type Headers,
  type HeaderValue,
  MailParser,
  type MessageText,
  type ParsedMail,
  type StructuredHeader,
} from 'mailparser'
import { discardPending, type PendingFile, writePending } from './files.ts'

/** HTML past this many characters is not turned into text (the sanitized HTML is what is posted). */
const MAX_HTML_TO_PARSE = 2_000_000

/** Ids of In-Reply-To and References looked up, from the end: older ones are history, not the parent. */
const THREAD_IDS = 32

/**
 * The first bytes of a message kept beside what is parsed: delivery reports are read from them, and
 * the first 256 KiB of refused mail are kept for the administrator. The rest of the message only
 * passes through.
 */
export const HEAD_BYTES = 1024 * 1024

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
  /** Written to temp files as they were parsed: whoever takes the mail in moves or discards them. */
  attachments: PendingFile[]
}

/** What arrived: the first HEAD_BYTES of the message and its whole size. */
export type RawHead = { head: Buffer; size: number }

export type ParseOutcome =
  | ({ ok: true; mail: InboundMail } & RawHead)
  | ({ ok: false; reason: string } & RawHead)
  /** The message itself failed to arrive (the connection broke, or it was cut off): nothing to file. */
  | { ok: false; reason: null; error: Error }

/** What brokenReason reads: a streamed parse and simpleParser's result both have it. */
type ParsedParts = Pick<ParsedMail, 'from' | 'headers' | 'text' | 'html'> & { attachments: unknown[] }

/** A streamed parse, in simpleParser's shape, its attachments in temp files. */
type Streamed = ParsedParts &
  Pick<ParsedMail, 'to' | 'cc' | 'subject' | 'messageId' | 'inReplyTo' | 'references'> & {
    headerLines: HeaderLines
    attachments: PendingFile[]
  }

/**
 * Parses a message as it arrives, writing each attachment to a temp file under `attachmentDir` on the
 * way, so that only the headers, the text parts and HEAD_BYTES are ever in memory. Never throws:
 * mailparser refuses enormous headers and part bombs with an error, which becomes the reason the mail
 * is filed as unreadable (its temp files are removed); mail with nobody to attribute it to, or a
 * multipart whose parts cannot be found, is unreadable too. The source is always read to its end.
 */
export async function parseMail(source: Readable, attachmentDir: string): Promise<ParseOutcome> {
  // Bounded: mailparser turns HTML into text and links text on the event loop, all of it by default;
  // a 25 MB HTML part would hold up every other request of the node.
  const parser = new MailParser({
    skipImageLinks: true,
    skipTextLinks: true,
    maxHtmlLengthToParse: MAX_HTML_TO_PARSE,
  })
  const kept = new HeadKeeper(HEAD_BYTES)
  const files: PendingFile[] = []
  const parts: { headers?: Headers; headerLines?: HeaderLines; text?: string; html?: string } = {}
  let failure: Error | null = null
  let attachmentCount = 0
  // The attachment being written, if any: a parse that stops ends its write (which removes its file).
  let current: AttachmentStream | null = null
  let writing: Promise<unknown> = Promise.resolve()
  const parsed = new Promise<void>((resolve) => {
    parser.on('error', (error: Error) => {
      failure ??= error
      resolve()
    })
    parser.on('headers', (headers: Headers) => {
      parts.headers = headers
      parts.headerLines = parser.headerLines || []
    })
    parser.on('end', () => resolve())
    parser.on('close', () => resolve())
    let reading = false
    const next = (): void => {
      reading = true
      const data = parser.read() as AttachmentStream | MessageText | null
      if (data === null) {
        reading = false
        return
      }
      if (data.type === 'text') {
        if (data.text !== undefined) parts.text = data.text
        if (data.html !== undefined) parts.html = data.html
        next()
        return
      }
      const index = attachmentCount++
      current = data
      writing = writePending(attachmentDir, data, index).then(
        (file) => {
          current = null
          files.push(file)
          data.release?.()
          next()
        },
        (error: Error) => {
          current = null
          failure ??= error
          // The rest of the part is read and dropped, so the parser reaches its end.
          data.content.resume()
          data.release?.()
          next()
        },
      )
    }
    parser.on('readable', () => {
      if (!reading) next()
    })
  })
  /** Ends the parse, and the write under way, and removes the files written. */
  const stopped = async () => {
    parser.destroy()
    ;(current as AttachmentStream | null)?.content.destroy()
    await writing
    await parsed
    await discardPending(files)
  }
  const fed = new HeaderFixer(parser)
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      kept.add(chunk)
      // After a parse error, the rest of the message is still read: the sender is owed an answer.
      if (failure === null) await fed.write(chunk, () => failure !== null)
    }
  } catch (error) {
    await stopped()
    return { ok: false, reason: null, error: error as Error }
  }
  if (failure === null) await fed.end()
  else parser.destroy()
  await parsed
  const raw = { head: kept.head(), size: kept.size }
  if (failure !== null) {
    await stopped()
    return { ok: false, reason: `unreadable: ${(failure as Error).message}`, ...raw }
  }
  const headers: Headers = parts.headers ?? new Map()
  // The fields simpleParser would have made of the headers.
  const mail: Streamed = {
    headers,
    headerLines: parts.headerLines ?? [],
    text: parts.text,
    html: parts.html ?? false,
    attachments: files,
    from: headers.get('from') as AddressObject | undefined,
    to: headers.get('to') as AddressObject | AddressObject[] | undefined,
    cc: headers.get('cc') as AddressObject | AddressObject[] | undefined,
    subject: headers.get('subject') as string | undefined,
    messageId: headers.get('message-id') as string | undefined,
    inReplyTo: headers.get('in-reply-to') as string | undefined,
    references: headers.get('references') as string | string[] | undefined,
  }
  const broken = brokenReason(mail)
  if (broken) {
    await discardPending(files)
    return { ok: false, reason: broken, ...raw }
  }
  return { ok: true, mail: toInbound(mail), ...raw }
}

/**
 * The rules that send a message to the incoming-mail-errors list instead of routing it: nobody to
 * answer or attribute it to, or a multipart whose parts cannot be found (no boundary parameter, or a
 * boundary that never occurs) so that nothing of what the sender wrote could be read.
 */
export function brokenReason(mail: ParsedParts): string | null {
  if (addresses(mail.from).length === 0) return 'no sender address'
  const type = mail.headers.get('content-type')
  const multipart = headerText(type).toLowerCase().startsWith('multipart/')
  if (multipart && !mail.text?.trim() && !mail.html && mail.attachments.length === 0)
    return 'no readable part'
  return null
}

/** The first bytes of what passed, up to a bound, and the count of all of them. */
class HeadKeeper {
  readonly #chunks: Buffer[] = []
  #kept = 0
  size = 0

  constructor(readonly max: number) {}

  add(chunk: Buffer): void {
    this.size += chunk.length
    if (this.#kept >= this.max) return
    // A copy: a slice would hold the whole chunk it came from.
    const part = Buffer.from(chunk.subarray(0, this.max - this.#kept))
    this.#chunks.push(part)
    this.#kept += part.length
  }

  head(): Buffer {
    return Buffer.concat(this.#chunks, this.#kept)
  }
}

/**
 * Feeds the parser, holding back the header block (up to HEAD_BYTES) until its end is seen: raw 8-bit
 * header bytes are meant as UTF-8 by SMTPUTF8 senders and as latin-1 by older ones; a header block that
 * is not valid UTF-8 is read as windows-1252 (a superset of latin-1, as browsers read it), so names and
 * subjects keep their letters instead of becoming U+FFFD.
 */
class HeaderFixer {
  #held: Buffer[] | null = []
  #heldBytes = 0

  constructor(readonly parser: MailParser) {}

  async write(chunk: Buffer, stopped: () => boolean): Promise<void> {
    if (this.#held === null) return this.#pass(chunk, stopped)
    this.#held.push(chunk)
    this.#heldBytes += chunk.length
    const held = Buffer.concat(this.#held, this.#heldBytes)
    this.#held = [held]
    let end = held.indexOf('\r\n\r\n')
    if (end < 0) end = held.indexOf('\n\n')
    if (end < 0 && this.#heldBytes < HEAD_BYTES) return
    this.#held = null
    await this.#pass(withReadableHeaders(held, end < 0 ? held.length : end), stopped)
  }

  async end(): Promise<void> {
    if (this.#held !== null) {
      const held = Buffer.concat(this.#held, this.#heldBytes)
      this.#held = null
      let end = held.indexOf('\r\n\r\n')
      if (end < 0) end = held.indexOf('\n\n')
      this.parser.write(withReadableHeaders(held, end < 0 ? held.length : end))
    }
    this.parser.end()
  }

  /** Waits for the parser to take more, unless it failed meanwhile. */
  async #pass(chunk: Buffer, stopped: () => boolean): Promise<void> {
    if (this.parser.write(chunk) || stopped()) return
    await new Promise<void>((resolve) => {
      const done = () => {
        this.parser.off('drain', done)
        this.parser.off('error', done)
        this.parser.off('close', done)
        resolve()
      }
      this.parser.on('drain', done)
      this.parser.on('error', done)
      this.parser.on('close', done)
    })
  }
}

function withReadableHeaders(raw: Buffer, end: number): Buffer {
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

function toInbound(parsed: Streamed): InboundMail {
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
