import { readFileSync } from 'node:fs'
import type Mail from 'nodemailer/lib/mailer'
import sanitizeHtml from 'sanitize-html'
import { contentPath } from '../attachments/storage.ts'
import { escapeHtml } from '../chatter/body.ts'
import { headerText } from '../notifications/mail-content.ts'
import type { ChannelTokens } from '../ochat/email/channel-token.ts'
import type { EmailContext } from './load-email.ts'
import type { QueuedEmail } from './queue.ts'
import type { SmtpSettings } from './smtp-settings.ts'
import type { ThreadIds } from './thread-ids.ts'
import type { MailTokens } from './tokens.ts'

const DAY = 24 * 3600 * 1000
/** Display names longer than this are cut: some mail programs show nothing of a longer one. */
const REPLY_NAME_MAX = 68

export type RenderInput = {
  email: QueuedEmail
  context: EmailContext
  ids: ThreadIds
  settings: SmtpSettings
  site: { company: string; publicUrl: string }
  tokens: MailTokens
  /** The reply and bounce addresses of an email channel's emails. */
  channelTokens: ChannelTokens
  /** An email channel's earlier emails, oldest first (a record's thread names its parent only). */
  references?: string[]
  attachmentDir: string
  /** Attached up to this total; the files past it become links. */
  attachmentsMaxBytes: number
  linkDays: number
  now: number
}

/**
 * One recipient's email: the stored content (sanitized HTML, shared by the recipients of one
 * audience) wrapped with what is this recipient's own: the reply and bounce addresses, the unfollow
 * link, download links. Everything put into HTML is escaped; everything put into a header is one line.
 */
export function renderEmail(input: RenderInput): Mail.Options {
  const { email, context, ids, settings, site, tokens } = input
  const domain = settings.mailDomain
  // A template may have named the company already (a digest, an email channel's); it is not repeated.
  const suffix = ` · ${site.company}`
  const subject = headerText(
    context.partner || context.mail.subject.endsWith(suffix)
      ? context.mail.subject
      : `${context.mail.subject}${suffix}`,
  )

  const { attached, linked, expiresAt } = splitFiles(input)
  const unfollowUrl = context.unfollow
    ? `${site.publicUrl}/mail/unfollow/${tokens.unfollowToken(context.unfollow)}`
    : null
  const footer = [
    linked.length > 0
      ? `<p>Too large to attach, these files can be downloaded until ${escapeHtml(new Date(expiresAt).toISOString().slice(0, 10))}:</p><ul>${linked
          .map(
            (file) =>
              `<li><a href="${escapeHtml(file.url)}">${escapeHtml(file.fileName)}</a> (${escapeHtml(sizeText(file.size))})</li>`,
          )
          .join('')}</ul>`
      : '',
    unfollowUrl
      ? `<p style="color:#666;font-size:12px">You get this email because you follow ${escapeHtml(context.record?.name ?? '')}. <a href="${escapeHtml(unfollowUrl)}">Unfollow</a></p>`
      : '',
  ].join('')
  const html = `<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>${context.mail.body}${footer}</body></html>`
  const bounce =
    email.source === 'record'
      ? tokens.bounceToken({ source: 'record', notificationId: email.id })
      : email.source === 'partner'
        ? input.channelTokens.bounceToken({ messageId: email.messageId })
        : tokens.bounceToken({ source: 'ochat', messageId: email.messageId, userId: email.userId })
  const headers: Record<string, string> = {
    // A person wrote an email channel's message: it is not automatic (RFC 3834), and an answer is wanted.
    ...(context.partner ? {} : { 'Auto-Submitted': 'auto-generated', 'X-Auto-Response-Suppress': 'All' }),
    'X-OChat-Loop': domain,
    'X-OChat-Message-Id': `<${ids.own}>`,
  }
  if (unfollowUrl) {
    headers['List-Unsubscribe'] = `<${unfollowUrl}>`
    headers['List-Unsubscribe-Post'] = 'List-Unsubscribe=One-Click'
  }
  return {
    from: { name: headerText(site.company), address: settings.from },
    to: email.emailTo,
    ...(email.source === 'record' && context.record
      ? {
          replyTo: {
            name: shorten(headerText(`${site.company} ${context.record.name}`)),
            address: `reply+${tokens.replyToken({
              recordId: context.record.id,
              messageId: context.mail.messageId ?? 0,
              partnerId: email.partnerId,
            })}@${domain}`,
          },
        }
      : {}),
    ...(context.partner
      ? {
          replyTo: {
            name: shorten(headerText(`${site.company} – ${context.partner.peerName}`)),
            address: `reply+${input.channelTokens.replyToken({
              channelId: context.partner.channelId,
              messageId: context.partner.messageId,
            })}@${domain}`,
          },
        }
      : {}),
    subject,
    messageId: `<${ids.own}>`,
    ...(ids.parent
      ? {
          inReplyTo: `<${ids.parent}>`,
          references: input.references
            ? input.references.map((id) => `<${id}>`)
            : [`<${ids.parent}>`, `<${ids.own}>`],
        }
      : {}),
    // The envelope sender is where bounce reports go: one address per recipient row, so a report
    // names the row it is about without trusting anything else in it.
    envelope: { from: `bounce+${bounce}@${domain}`, to: email.emailTo },
    headers,
    html,
    text: textFromHtml(`${context.mail.body}${footer}`),
    attachments: attached,
  }
}

/** Files in the order attached, while they fit the total; the rest as links that expire. */
function splitFiles(input: RenderInput) {
  const expiresAt = input.now + input.linkDays * DAY
  const attached: Mail.Attachment[] = []
  const linked: { fileName: string; size: number; url: string }[] = []
  let total = 0
  for (const file of input.context.files) {
    if (total + file.size <= input.attachmentsMaxBytes) {
      total += file.size
      // Read now, so a missing file fails this email with the reason instead of mid-send.
      attached.push({
        filename: file.fileName,
        contentType: file.mimeType,
        content: readAttachment(input.attachmentDir, file),
      })
    } else {
      const token = input.tokens.fileLinkToken({ attachmentId: file.id, expiresAt })
      linked.push({
        fileName: file.fileName,
        size: file.size,
        url: `${input.site.publicUrl}/mail/files/${token}`,
      })
    }
  }
  return { attached, linked, expiresAt }
}

/** The reason says which file, not where the server keeps it. */
function readAttachment(dir: string, file: { fileName: string; sha256: string }): Buffer {
  try {
    return readFileSync(contentPath(dir, file.sha256))
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new Error(
      `the attached file ${file.fileName} ${code === 'ENOENT' ? 'is missing' : `cannot be read (${code})`}`,
    )
  }
}

function shorten(name: string): string {
  return name.length > REPLY_NAME_MAX ? `${name.slice(0, REPLY_NAME_MAX - 1).trimEnd()}…` : name
}

function sizeText(bytes: number): string {
  if (bytes >= 1_000_000) return `${(bytes / 1_000_000).toFixed(1)} MB`
  if (bytes >= 1000) return `${Math.round(bytes / 1000)} kB`
  return `${bytes} bytes`
}

/**
 * The text part, for mail programs that show no HTML: paragraphs and list items on their own lines,
 * links followed by their address (the button "View record" is only useful with its URL).
 */
export function textFromHtml(html: string): string {
  const marked = html
    .replace(
      /<a\s[^>]*?href="([^"]*)"[^>]*>([\s\S]*?)<\/a>/gi,
      (_all, href: string, inner: string) => `${inner} (${href})`,
    )
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<li[^>]*>/gi, '\n- ')
    .replace(/<\/(p|div|li|ul|ol|h[1-6]|blockquote|pre|tr|table)>/gi, '\n\n')
  const text = sanitizeHtml(marked, { allowedTags: [], allowedAttributes: {} })
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&#x27;/g, "'")
    .replace(/&nbsp;/g, ' ')
    .replace(/&amp;/g, '&')
  return `${text
    .split('\n')
    .map((line) => line.replace(/[ \t]+/g, ' ').trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim()}\n`
}
