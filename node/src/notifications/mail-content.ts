import { escapeHtml } from '../chatter/body.ts'
import type { MailContent } from './notify.ts'

/**
 * The email for one message. Restricted fields never go into an email, for any recipient: a mailbox
 * is outside the node's access rules. Internal users get a link to the record, customers get none.
 */
export function messageMail(input: {
  company: string
  publicUrl: string
  record: { id: number; name: string }
  modelLabel: string
  authorName: string | null
  /** Sanitized HTML of the message, or empty. */
  html: string
  tracking: { label: string; old: string | null; new: string | null; restricted: boolean }[]
}): MailContent {
  const lines = input.tracking
    .filter((change) => !change.restricted)
    .map(
      (change) =>
        `<li>${escapeHtml(change.label)}: ${escapeHtml(change.old ?? '—')} → ${escapeHtml(change.new ?? '—')}</li>`,
    )
  if (!input.html && lines.length === 0) return () => null
  const subject = headerText(`Re: ${input.record.name}`)
  const intro = input.authorName
    ? `<p><strong>${escapeHtml(input.authorName)}</strong> on ${escapeHtml(input.modelLabel)} ${escapeHtml(input.record.name)}:</p>`
    : `<p>${escapeHtml(input.modelLabel)} ${escapeHtml(input.record.name)}:</p>`
  const changes = lines.length ? `<ul>${lines.join('')}</ul>` : ''
  return (audience) => {
    const link =
      audience === 'user'
        ? `<p><a href="${escapeHtml(`${input.publicUrl}/#/records/${input.record.id}`)}">View ${escapeHtml(input.modelLabel)}</a></p>`
        : ''
    return { subject, body: `${intro}${input.html}${changes}${link}<p>— ${escapeHtml(input.company)}</p>` }
  }
}

/**
 * An email header value (the subject) made of text people typed: a record name may hold line breaks
 * ("Deal\r\nBcc: someone@else"), which in a header would start a new one. Runs of control
 * characters and line separators become one space.
 */
export function headerText(text: string): string {
  return text.replace(/[\p{Cc}\u2028\u2029]+/gu, ' ').trim()
}
