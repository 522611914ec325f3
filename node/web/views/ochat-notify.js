import { api } from '../api.js'
import { h, replace } from '../dom.js'
import { icon } from '../icon.js'

/** The choice, per browser: 'on' once the person asked for notifications (and the browser allowed them). */
const STORAGE_KEY = 'ochat.notifications'
/** Characters of a message shown in a notification: enough to recognise it, not to read it there. */
const PREVIEW_CHARS = 80

function supported() {
  return typeof Notification === 'function'
}

/** Whether notifications are wanted and allowed now. */
export function notificationsOn() {
  return supported() && Notification.permission === 'granted' && localStorage.getItem(STORAGE_KEY) === 'on'
}

/**
 * "Notify me of new messages": asks the browser's permission, then remembers the choice in this
 * browser. Shows what holds it back when the browser blocks them, and turns them off again.
 */
export function notifyToggle(ctx) {
  if (!supported()) return null
  const box = h('div', { class: 'notify-toggle' })
  function render() {
    if (Notification.permission === 'denied') {
      replace(
        box,
        h('span', {
          class: 'muted notify-blocked',
          text: 'Notifications are blocked for this site: allow them in the browser’s site settings.',
        }),
      )
      return
    }
    const on = notificationsOn()
    replace(
      box,
      h(
        'button',
        {
          type: 'button',
          class: ['secondary small notify-button', on ? 'on' : ''],
          attrs: { 'aria-pressed': String(on) },
          title: on
            ? 'You are notified of new messages while this tab is hidden or another channel is open'
            : 'Show a browser notification for new messages and mentions',
          on: { click: () => void toggle() },
        },
        icon(on ? 'bell-ring' : 'bell'),
        on ? ' Notifications on' : ' Notify me of new messages',
      ),
    )
  }
  async function toggle() {
    if (notificationsOn()) {
      localStorage.setItem(STORAGE_KEY, 'off')
      render()
      return
    }
    const permission = await Notification.requestPermission()
    if (permission === 'granted') {
      localStorage.setItem(STORAGE_KEY, 'on')
      ctx.notify('You will be notified of new messages')
    }
    render()
  }
  render()
  return box
}

/** Sanitized HTML → its text, through an inert document (nothing in it runs or loads). */
function plainText(html) {
  const text = new DOMParser().parseFromString(html, 'text/html').body.textContent ?? ''
  const flat = text.replace(/\s+/g, ' ').trim()
  return flat.length > PREVIEW_CHARS ? `${flat.slice(0, PREVIEW_CHARS - 1)}…` : flat
}

/** The channel open in this tab, or null. */
function openChannelId() {
  const match = /^#\/ochat\/channels\/(\d+)$/.exec(location.hash)
  return match ? Number(match[1]) : null
}

function show(title, body, hash, tag) {
  const notification = new Notification(title, { body, tag })
  notification.onclick = () => {
    window.focus()
    location.hash = hash
    notification.close()
  }
}

/**
 * Browser notifications for what arrives while the person looks elsewhere (the tab hidden, or another
 * channel or page open): a new incoming O'Chat message, or a mention in a record's chatter. Each says
 * who and where, with the start of the text; clicking it opens the channel or record.
 */
export function browserNotifier(report) {
  const seen = new Set()
  let lastInboxId = null

  async function onMessage(event) {
    const away = document.visibilityState === 'hidden' || openChannelId() !== event.channelId
    if (!away || seen.has(event.messageId)) return
    seen.add(event.messageId)
    const [channel, page] = await Promise.all([
      api('GET', `/api/v1/ochat/channels/${event.channelId}`),
      api('GET', `/api/v1/ochat/channels/${event.channelId}/messages?limit=20`),
    ])
    const message = page.items.find((item) => item.id === event.messageId)
    if (!message || !notificationsOn()) return
    show(
      `${message.author.name} (${channel.peer.name})`,
      plainText(message.html),
      `#/ochat/channels/${event.channelId}`,
      `ochat-message-${message.id}`,
    )
  }

  /** Mentions are inbox notifications: the ones newer than the newest seen so far are new. */
  async function onInbox() {
    const page = await api('GET', '/api/v1/inbox?unread=true&limit=10')
    const newest = page.items.reduce((max, item) => Math.max(max, item.id), lastInboxId ?? 0)
    const fresh = lastInboxId === null ? [] : page.items.filter((item) => item.id > lastInboxId)
    lastInboxId = newest
    if (document.visibilityState !== 'hidden' && location.hash === '#/inbox') return
    for (const item of fresh)
      if (item.reason === 'mention' && item.message && notificationsOn())
        show(
          `${item.message.author?.name ?? 'Someone'} mentioned you on ${item.record.name}`,
          plainText(item.message.body),
          `#/records/${item.record.id}`,
          `mention-${item.id}`,
        )
  }

  return {
    /** Where the inbox stands when the page opens: what is already there is not news. */
    async start() {
      if (!supported()) return
      const page = await api('GET', '/api/v1/inbox?limit=1')
      lastInboxId = page.items[0]?.id ?? 0
    },
    onEvent(event) {
      if (!notificationsOn()) return
      if (event.type === 'ochat.message' && event.status === 'received') onMessage(event).catch(report)
      else if (event.type === 'inbox.changed') onInbox().catch(report)
    },
  }
}
