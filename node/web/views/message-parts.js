import { formatBytes, h, setSanitizedHtml } from '../dom.js'

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

/** The files of a message, as download links. */
export function attachmentList(message) {
  if (!message.attachments.length) return null
  return h(
    'ul',
    { class: 'attachments' },
    message.attachments.map((file) =>
      h(
        'li',
        {},
        h('a', { href: file.url, download: file.fileName, class: 'attachment', text: file.fileName }),
        h('span', { class: 'muted', text: ` ${formatBytes(file.size)}` }),
      ),
    ),
  )
}
