import { ApiError, api } from '../api.js'
import { avatarClass, formatBytes, h, initials, replace, setSanitizedHtml } from '../dom.js'
import { icon } from '../icon.js'
import { notEncryptedBadge } from './ochat-email-contact.js'
import { fullTime, relativeTime, timeView } from './ochat-time.js'

/** The delivery statuses of the seed's table, in the order a message goes through them (icon: its name). */
export const STATUSES = {
  pending: { icon: 'clock', label: 'Pending', meaning: 'Being sent to the relay' },
  sent: { icon: 'check', label: 'Sent', meaning: 'The relay received it' },
  delivered: { icon: 'check-check', label: 'Delivered', meaning: "Delivered to the recipient's node" },
  read: { icon: 'check-check', label: 'Read', meaning: 'The recipient opened it' },
  retrying: { icon: 'refresh-cw', label: 'Retrying', meaning: 'Delivery failed, retrying automatically' },
  failed: { icon: 'triangle-alert', label: 'Failed', meaning: 'Delivery failed after all retry attempts' },
  bounced: {
    icon: 'triangle-alert',
    label: 'Bounced',
    meaning: 'The email came back: the address could not take it',
  },
}
const TIME_ORDER = ['pending', 'sent', 'delivered', 'read', 'retrying', 'failed']

/** What the statuses mean for a message of an email channel: its email, not a relay, moves it. */
const EMAIL_MEANINGS = {
  pending: 'Being emailed',
  sent: "The partner's mail server accepted it",
  retrying: "The partner's mail server asked to try again later; retrying automatically",
  failed: "The partner's mail server refused it, or did not take it for two days",
  bounced: 'The email came back: the address could not take it',
}

const clockFormat = new Intl.DateTimeFormat(undefined, {
  dateStyle: 'medium',
  timeStyle: 'medium',
})

/** Epoch ms → a date with seconds: statuses move within seconds of each other. */
export function formatMoment(ms) {
  return clockFormat.format(new Date(ms))
}

/** O'Chat is off or not registered yet: a state to explain, not a failure to report. */
export function isNotSetUp(error) {
  return (
    error instanceof ApiError && (error.code === 'E_OCHAT_OFF' || error.code === 'E_OCHAT_NOT_REGISTERED')
  )
}

/** Every status the message reached, with its time, one per line (the icon's tooltip). */
function statusTimes(message) {
  return TIME_ORDER.filter((status) => message.times[status])
    .map((status) => {
      // A bounce's time is kept where a failure's is.
      const label = status === 'failed' && message.status === 'bounced' ? 'Bounced' : STATUSES[status].label
      return `${label}: ${formatMoment(message.times[status])}`
    })
    .join('\n')
}

/**
 * An outgoing message's status: the icon (with every status time in its tooltip), a line with the
 * current one and its time; Retrying adds the next attempt, Failed and Bounced the reason, what to
 * check, and Retry.
 */
export function statusView(ctx, message, { onRetried } = {}) {
  const status = STATUSES[message.status]
  if (!status) return null
  const meaning = (message.transport === 'email' && EMAIL_MEANINGS[message.status]) || status.meaning
  const badge = h(
    'span',
    {
      class: `ochat-status status-${message.status}`,
      title: `${status.label} — ${meaning}\n${statusTimes(message)}`,
      dataset: { status: message.status, at: String(message.statusAt) },
      attrs: { role: 'img', 'aria-label': status.label },
    },
    icon(status.icon),
  )
  const line = h(
    'span',
    { class: 'status-line muted' },
    h('strong', { class: 'status-label', text: status.label }),
    ' ',
    timeView(message.statusAt, 'status-time'),
  )
  const parts = [badge, line]
  if (message.status === 'retrying')
    parts.push(
      h(
        'div',
        { class: 'status-detail status-detail-retrying' },
        message.nextAttemptAt
          ? h('span', {
              class: 'next-attempt',
              title: fullTime(message.nextAttemptAt),
              text: `Next attempt ${relativeTime(message.nextAttemptAt)}.`,
            })
          : null,
        message.reason ? h('span', { class: 'status-reason', text: ` ${message.reason}` }) : null,
      ),
    )
  if (message.status === 'failed' || message.status === 'bounced') {
    const retry = h('button', {
      type: 'button',
      class: 'secondary small retry-button',
      text: 'Retry',
      on: {
        click: async () => {
          retry.disabled = true
          try {
            const updated = await api('POST', `/api/v1/ochat/messages/${message.id}/retry`)
            onRetried?.(updated)
          } catch (error) {
            retry.disabled = false
            ctx.report(error)
          }
        },
      },
    })
    parts.push(
      h(
        'div',
        { class: 'status-detail status-detail-failed', attrs: { role: 'alert' } },
        h('div', { class: 'status-reason', text: message.reason ?? 'No reason was given.' }),
        message.nextStep
          ? h(
              'div',
              { class: 'next-step' },
              h('strong', { text: 'What to check: ' }),
              h('span', { text: message.nextStep }),
            )
          : null,
        retry,
      ),
    )
  }
  return h('div', { class: 'ochat-status-box' }, parts)
}

/** A message's files: progress while they move, a download link once ready, the error if they failed. */
export function fileList(message) {
  if (!message.files.length) return null
  return h(
    'ul',
    { class: 'attachments ochat-files' },
    message.files.map((file) => {
      const item = h('li', { class: `ochat-file file-${file.state}`, dataset: { fileId: String(file.id) } })
      if (file.state === 'ready' && file.attachmentId)
        item.append(
          h('a', {
            href: `/api/v1/attachments/${file.attachmentId}/content`,
            download: file.name,
            class: 'attachment',
            text: file.name,
          }),
          h('span', { class: 'muted', text: ` ${formatBytes(file.size)}` }),
        )
      else if (file.state === 'failed')
        item.append(
          h('span', { class: 'attachment', text: file.name }),
          h('span', { class: 'file-error', text: ` Not transferred: ${file.error ?? 'unknown error'}` }),
        )
      else
        item.append(
          h('span', { class: 'attachment', text: file.name }),
          h('span', { class: 'muted', text: ` ${formatBytes(file.size)} ` }),
          h('progress', { class: 'upload-progress', max: file.size || 1, value: 0 }),
          h('span', {
            class: 'file-progress muted',
            text: message.direction === 'out' ? ' encrypting and uploading…' : ' downloading…',
          }),
        )
      return item
    }),
  )
}

/** Moves a file's progress bar on an `ochat.file` event; answers false when the file is not shown. */
export function showFileProgress(root, event) {
  const item = root.querySelector(`.ochat-file[data-file-id="${event.fileId}"]`)
  if (!item) return false
  const bar = item.querySelector('progress')
  const label = item.querySelector('.file-progress')
  if (bar) {
    bar.max = event.size || 1
    bar.value = event.done
  }
  if (label && event.size) label.textContent = ` ${Math.floor((event.done / event.size) * 100)}%`
  return true
}

/**
 * One O'Chat message: who wrote it (their name, and their company or our contact for them), when, the
 * sanitized body, files, the record it is about, and for ours the delivery status.
 */
export function messageView(ctx, message, { contact, onRetried, onFile, showChannel } = {}) {
  const incoming = message.direction === 'in'
  const about = []
  if (message.record)
    about.push(
      h(
        'div',
        { class: 'ochat-about' },
        'On ',
        h('a', {
          href: `#/records/${message.record.id}`,
          text: message.record.name ?? `record ${message.record.id}`,
        }),
      ),
    )
  else if (incoming && message.peerRecord)
    about.push(
      h(
        'div',
        { class: 'ochat-about peer-record' },
        h('span', { text: `About their ${message.peerRecord.name}` }),
        onFile
          ? h('button', {
              type: 'button',
              class: 'link-button small file-on-record',
              text: 'File on a record…',
              on: { click: () => onFile(message) },
            })
          : null,
      ),
    )
  const body = h('div', { class: 'body' })
  setSanitizedHtml(body, message.html)
  return h(
    'li',
    {
      class: ['ochat-message', incoming ? 'incoming' : 'outgoing'],
      dataset: { id: String(message.id), direction: message.direction, status: message.status },
    },
    h('span', { class: avatarClass(incoming ? 7 : 1), text: initials(message.author.name) }),
    h(
      'div',
      { class: 'message-main' },
      h(
        'div',
        { class: 'message-head' },
        h('strong', { class: 'author', text: message.author.name }),
        h('span', { class: 'author-company', text: message.author.company }),
        incoming && contact
          ? h('span', { class: 'author-contact muted', text: `contact: ${contact.name}` })
          : null,
        showChannel ? h('span', { class: 'kind', text: showChannel }) : null,
        message.transport === 'email' ? notEncryptedBadge('message-transport') : null,
        timeView(message.createdAt),
      ),
      about,
      body,
      fileList(message),
      incoming ? null : statusView(ctx, message, { onRetried }),
    ),
  )
}

/** The safety code, as people compare it: three lines of four groups of five digits. */
export function safetyCodeView(code, className = 'safety-code') {
  const lines = [0, 4, 8].map((start) => code.groups.slice(start, start + 4).join(' '))
  return h(
    'pre',
    { class: className, attrs: { 'aria-label': 'Safety code' } },
    lines.map((line, index) => h('span', { class: 'safety-line', text: index < 2 ? `${line}\n` : line })),
  )
}

/**
 * Keeps a list's rows in place when their data did not change (a progress bar keeps its value while
 * other rows update). `rows`: [{ key, value, render(value) }].
 */
export function keyedRender(list, cache, rows) {
  const next = new Map()
  const elements = rows.map(({ key, value, render }) => {
    const signature = JSON.stringify(value)
    const cached = cache.get(key)
    const el = cached && cached.signature === signature ? cached.el : render(value)
    next.set(key, { signature, el })
    return el
  })
  cache.clear()
  for (const [key, entry] of next) cache.set(key, entry)
  replace(list, elements)
}
