import sanitizeHtml from 'sanitize-html'
import { escapeHtml, sanitizeBody } from '../../chatter/body.ts'

/**
 * The chatter body of an email: its HTML (else its text) without the quoted history mail programs
 * append to a reply (the thread already holds it), then through the chatter's sanitizer. cid: images
 * are dropped with every other <img> by the sanitizer; their parts stay attachments of the message.
 */
export function emailBody(mail: { html: string | null; text: string }): string {
  if (mail.html) {
    const body = sanitizeBody(withoutQuotedHtml(mail.html))
    if (body) return body
  }
  return sanitizeBody(textToHtml(withoutQuotedText(mail.text)))
}

/** Gmail's gmail_quote, Apple's blockquote type=cite, Thunderbird's moz-cite-prefix, Yahoo's yahoo_quoted. */
function isQuote(frame: sanitizeHtml.IFrame): boolean {
  // A forward carries what is forwarded in the same wrapper: that is the substance, not history.
  if (FORWARDED.test(frame.text)) return false
  const classes = (frame.attribs.class ?? '').split(/\s+/)
  if (frame.tag === 'blockquote' && (frame.attribs.type ?? '').toLowerCase() === 'cite') return true
  return classes.some((name) => ['gmail_quote', 'moz-cite-prefix', 'yahoo_quoted'].includes(name))
}

const FORWARDED = /-{3,}\s*Forwarded message|Begin forwarded message|-{3,}\s*Message transféré/i

/** Outlook puts no wrapper around the quote: everything from its reply header on is history. */
const OUTLOOK_QUOTE =
  /<div[^>]*\bid=["']?(divRplyFwdMsg|appendonsend)\b|<div[^>]*border-top:\s*solid\s+#E1E1E1/i

function withoutQuotedHtml(html: string): string {
  const outlook = html.search(OUTLOOK_QUOTE)
  const cut = outlook > 0 ? html.slice(0, outlook) : html
  return sanitizeHtml(cut, {
    allowedTags: false,
    allowedAttributes: false,
    allowVulnerableTags: true,
    exclusiveFilter: isQuote,
  })
}

/** The line mail programs put above a quote, in the languages the corpus has. */
const WROTE = /\b(wrote|a écrit|schrieb|escribió|ha scritto|schreef|skrev)\s*:\s*$/i

/** "On … wrote:" then > lines, and Outlook's plain "-----Original Message-----" / "From: … Sent:" block. */
function withoutQuotedText(text: string): string {
  const lines = text.replace(/\r\n?/g, '\n').split('\n')
  const kept: string[] = []
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] ?? ''
    if (/^-{2,}\s*Original Message\s*-{2,}/i.test(line.trim())) break
    if (
      /^From:\s/.test(line) &&
      lines.slice(index + 1, index + 4).some((next) => /^(Sent|Date):\s/.test(next))
    )
      break
    if (/^>/.test(line)) continue
    if (WROTE.test(line) && isQuoteFollowing(lines, index + 1)) continue
    kept.push(line)
  }
  return kept.join('\n').trim()
}

function isQuoteFollowing(lines: string[], from: number): boolean {
  for (let index = from; index < lines.length; index++) {
    const line = (lines[index] ?? '').trim()
    if (line === '') continue
    return line.startsWith('>')
  }
  return false
}

/** Paragraphs at blank lines, line breaks kept. */
export function textToHtml(text: string): string {
  return text
    .split(/\n\s*\n/)
    .map((paragraph) => paragraph.trim())
    .filter(Boolean)
    .map((paragraph) => `<p>${escapeHtml(paragraph).replace(/\n/g, '<br>')}</p>`)
    .join('')
}
