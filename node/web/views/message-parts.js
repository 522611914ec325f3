import { formatBytes, formatTime, h, setSanitizedHtml } from '../dom.js'

/** A message's body: the sanitized HTML, or a tombstone once deleted. */
export function messageBody(message, className = 'body') {
  const body = h('div', { class: className })
  if (message.deleted) body.append(h('em', { class: 'tombstone', text: 'This message was deleted.' }))
  else setSanitizedHtml(body, message.body)
  return body
}

/** Tracked changes, "Stage: New → Qualified", one per line. */
export function trackingList(message) {
  if (!message.tracking.length) return null
  return h(
    'ul',
    { class: 'tracking' },
    message.tracking.map((change) =>
      h(
        'li',
        {},
        h('span', { class: 'tracking-field', text: `${change.label}: ` }),
        h('span', { class: 'tracking-old', text: change.old ?? 'None' }),
        h('span', { class: 'tracking-arrow', text: ' → ' }),
        h('span', { class: 'tracking-new', text: change.new ?? 'None' }),
      ),
    ),
  )
}

/** Pictures a browser shows in an `<img>` (never run as a page: an image cannot run scripts). */
const PICTURES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif', 'image/bmp'])

/**
 * The files of a message: pictures as thumbnails (a click downloads the full file), PDFs with a
 * button that opens them in a new tab, every file with its download link. `ctx` reports a PDF that
 * failed to open.
 */
export function attachmentList(message, ctx) {
  if (!message.attachments.length) return null
  return h(
    'ul',
    { class: 'attachments' },
    message.attachments.map((file) =>
      h(
        'li',
        { class: PICTURES.has(file.mimeType) ? 'attachment-item has-thumb' : 'attachment-item' },
        PICTURES.has(file.mimeType)
          ? h(
              'a',
              { href: file.url, download: file.fileName, class: 'attachment-thumb-link' },
              h('img', { src: file.url, alt: file.fileName, class: 'attachment-thumb', loading: 'lazy' }),
            )
          : null,
        h(
          'span',
          { class: 'attachment-line' },
          h('a', { href: file.url, download: file.fileName, class: 'attachment', text: file.fileName }),
          h('span', { class: 'muted', text: ` ${formatBytes(file.size)}` }),
          file.mimeType === 'application/pdf'
            ? h('button', {
                type: 'button',
                class: 'link-button small pdf-open',
                text: 'Open PDF',
                attrs: { 'aria-label': `Open ${file.fileName} in a new tab` },
                on: { click: () => openPdf(file, ctx) },
              })
            : null,
        ),
      ),
    ),
  )
}

/**
 * The node sends every file as a download; the browser's PDF viewer shows it from a copy typed as a
 * PDF, whatever its bytes say. The tab opens at the click, before the wait: a tab opened later is
 * taken for a pop-up and blocked.
 */
async function openPdf(file, ctx) {
  const tab = window.open('', '_blank')
  try {
    const response = await fetch(file.url, { credentials: 'same-origin' })
    if (!response.ok) throw new Error(`the file could not be read (HTTP ${response.status})`)
    const pdf = new Blob([await response.arrayBuffer()], { type: 'application/pdf' })
    const url = URL.createObjectURL(pdf)
    if (tab) tab.location.href = url
    else h('a', { href: url, target: '_blank', rel: 'noopener' }).click()
    // The tab keeps what it loaded; the copy is let go once it had time to.
    setTimeout(() => URL.revokeObjectURL(url), 60_000)
  } catch (error) {
    tab?.close()
    ctx?.report(error)
  }
}

/** An email recipient's status as people read it. */
const EMAIL_STATUSES = {
  queued: 'Waiting to be sent',
  sent: 'Sent',
  failed: 'Failed',
  bounced: 'Bounced',
  canceled: 'Canceled',
}

/**
 * The one state the envelope shows for all of a message's recipients: red when any failed or bounced
 * (someone must act), grey while any waits, green once all were sent; canceled only when nothing else.
 */
export function envelopeState(recipients) {
  const statuses = new Set(recipients.map((recipient) => recipient.status))
  if (statuses.has('failed') || statuses.has('bounced')) return 'failed'
  if (statuses.has('queued')) return 'queued'
  if (statuses.has('sent')) return 'sent'
  return 'canceled'
}

const SVG = 'http://www.w3.org/2000/svg'

/** An envelope drawn in SVG: emoji need a font that many machines lack. */
function envelopeIcon() {
  const svg = document.createElementNS(SVG, 'svg')
  svg.setAttribute('viewBox', '0 0 20 14')
  svg.setAttribute('width', '18')
  svg.setAttribute('height', '13')
  svg.setAttribute('aria-hidden', 'true')
  svg.setAttribute('class', 'envelope-icon')
  const box = document.createElementNS(SVG, 'rect')
  for (const [name, value] of Object.entries({ x: 1, y: 1, width: 18, height: 12, rx: 1.5 }))
    box.setAttribute(name, String(value))
  const flap = document.createElementNS(SVG, 'path')
  flap.setAttribute('d', 'M1.5 1.8 L10 8 L18.5 1.8')
  svg.append(box, flap)
  return svg
}

/** The reason with the SMTP code, unless the server's answer already starts with it. */
function reasonText(recipient) {
  if (!recipient.reason) return ''
  const code = recipient.code ? String(recipient.code) : ''
  return code && !recipient.reason.startsWith(code) ? `${recipient.reason} (${code})` : recipient.reason
}

function recipientLine(recipient) {
  const status = EMAIL_STATUSES[recipient.status] ?? recipient.status
  const reason = reasonText(recipient)
  return `${recipient.partner.name} <${recipient.address || 'no address'}>: ${status}${reason ? ` — ${reason}` : ''}`
}

/**
 * A message's email recipients: an envelope coloured by their state, whose tooltip lists each one
 * with the reason it failed, and a popover (opened by clicking it) with Retry and Cancel for the
 * failed ones. `open` keeps the popover open across a refresh; the actions answer through callbacks.
 */
export function emailEnvelope(recipients, { open, onToggle, onRetry, onCancel }) {
  if (!recipients.length) return null
  const state = envelopeState(recipients)
  const failed = recipients.filter((r) => r.status === 'failed' || r.status === 'bounced').length
  const label =
    state === 'failed'
      ? `Email: ${failed} of ${recipients.length} failed`
      : state === 'queued'
        ? 'Email: waiting to be sent'
        : state === 'sent'
          ? 'Email: sent'
          : 'Email: canceled'
  const button = h(
    'button',
    {
      type: 'button',
      class: ['email-envelope', `email-${state}`],
      title: [label, ...recipients.map(recipientLine)].join('\n'),
      dataset: { state },
      attrs: { 'aria-label': label, 'aria-expanded': String(Boolean(open)) },
      on: { click: onToggle },
    },
    envelopeIcon(),
    failed ? h('span', { class: 'email-failed-count', text: String(failed) }) : null,
  )
  const popover = open
    ? h(
        'div',
        { class: 'email-popover', attrs: { role: 'dialog', 'aria-label': 'Email recipients' } },
        h(
          'ul',
          { class: 'email-recipients' },
          recipients.map((recipient) =>
            h(
              'li',
              {
                class: ['email-recipient', `email-${recipient.status}`],
                dataset: { id: String(recipient.id) },
              },
              h('strong', { text: recipient.partner.name }),
              h('span', { class: 'muted', text: ` ${recipient.address || 'no address'}` }),
              h('span', {
                class: 'email-status',
                text: ` ${EMAIL_STATUSES[recipient.status] ?? recipient.status}`,
              }),
              recipient.status === 'sent' && recipient.sentAt
                ? h('span', { class: 'muted', text: ` ${formatTime(recipient.sentAt)}` })
                : null,
              recipient.reason ? h('div', { class: 'email-reason', text: reasonText(recipient) }) : null,
              recipient.status === 'failed' ||
                recipient.status === 'bounced' ||
                recipient.status === 'canceled'
                ? h('button', {
                    type: 'button',
                    class: 'link-button small email-retry',
                    text: 'Retry',
                    on: { click: () => onRetry(recipient) },
                  })
                : null,
              recipient.status === 'failed' || recipient.status === 'queued'
                ? h('button', {
                    type: 'button',
                    class: 'link-button small email-cancel',
                    text: 'Cancel',
                    on: { click: () => onCancel(recipient) },
                  })
                : null,
            ),
          ),
        ),
      )
    : null
  return h('span', { class: 'email-state' }, button, popover)
}
