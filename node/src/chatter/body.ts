import MarkdownIt from 'markdown-it'
import sanitizeHtml from 'sanitize-html'

/**
 * Message bodies: Markdown or HTML in, sanitized HTML out, whoever wrote them. The allowlist is
 * strict: text formatting, lists, quotes, code and links; links only to http(s) and mailto, opened in
 * a new tab without referrer or opener. Everything else (scripts, styles, images, event handlers,
 * iframes, forms) is dropped, and unknown tags keep only their text.
 */
const SANITIZE: sanitizeHtml.IOptions = {
  allowedTags: [
    'p',
    'br',
    'strong',
    'b',
    'em',
    'i',
    'u',
    's',
    'del',
    'ul',
    'ol',
    'li',
    'a',
    'code',
    'pre',
    'blockquote',
    'h3',
    'h4',
    'hr',
  ],
  allowedAttributes: { a: ['href', 'rel', 'target'] },
  allowedSchemes: ['http', 'https', 'mailto'],
  allowedSchemesAppliedToAttributes: ['href'],
  allowProtocolRelative: false,
  disallowedTagsMode: 'discard',
  // Headings from Markdown's # and ## are shown at chatter size.
  transformTags: {
    h1: 'h3',
    h2: 'h3',
    h5: 'h4',
    h6: 'h4',
    a: (tagName, attribs) => ({
      tagName,
      attribs: {
        ...(attribs.href ? { href: attribs.href } : {}),
        rel: 'noopener noreferrer nofollow',
        target: '_blank',
      },
    }),
  },
}

const markdown = new MarkdownIt({ html: false, linkify: true, breaks: true, typographer: false })

export type BodyFormat = 'markdown' | 'html'

export function sanitizeBody(html: string): string {
  return sanitizeHtml(html, SANITIZE).trim()
}

/** Renders Markdown shortcuts (**bold**, _italic_, lists, `code`, links) then sanitizes. */
export function renderBody(text: string, format: BodyFormat): string {
  return sanitizeBody(format === 'markdown' ? markdown.render(text) : text)
}

/** Plain text of a sanitized body (for email subjects, previews and mention search). */
export function plainText(html: string): string {
  return sanitizeHtml(html, { allowedTags: [], allowedAttributes: {} })
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/\s+/g, ' ')
    .trim()
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}
