import { api } from '../api.js'
import { coalesced } from '../coalesced.js'
import { h, replace } from '../dom.js'
import { icon } from '../icon.js'
import { mountOchatComposer } from './ochat-composer.js'
import { notEncryptedBadge } from './ochat-email-contact.js'
import { mountLinkForm } from './ochat-link.js'
import { keyedRender, messageView, showFileProgress } from './ochat-parts.js'
import { daySeparator, dayStart, fullTime, keepTimesFresh } from './ochat-time.js'

/** One page of a thread: the newest 50 messages; older ones on demand. */
const PAGE = 50
/** How close to the bottom (px) still counts as reading the newest messages: the thread then follows them. */
const FOLLOW_PX = 48

/**
 * Why a channel takes no message and what to do about it, or null when it takes them. A revoked or
 * rejected connection says who ended it and when; the next step depends on who is reading.
 */
function closedNotice(ctx, channel) {
  if (channel.state === 'accepted') return null
  const when = channel.closed ? new Date(channel.closed.at) : null
  const who = channel.closed?.byPeer ? channel.peer.name : 'your company'
  const what =
    channel.state === 'pending'
      ? `The connection with ${channel.peer.name} is not accepted yet: messages cannot be sent.`
      : `This connection was ${channel.state} by ${who}${when ? ` on ${when.toLocaleDateString(undefined, { dateStyle: 'long' })}` : ''}: messages can no longer be sent.`
  const next =
    ctx.user.role === 'admin'
      ? h(
          'span',
          {},
          ' To write to them again, ',
          h('a', { href: '#/ochat/connections', text: 'request a new connection' }),
          '. The messages below stay readable.',
        )
      : h('span', {
          text: ' To write to them again, ask an administrator to request a new connection. The messages below stay readable.',
        })
  return h(
    'div',
    {
      class: 'closed-banner',
      title: when ? fullTime(when.getTime()) : null,
      dataset: { state: channel.state },
      attrs: { role: 'status' },
    },
    h('strong', {}, icon('ban'), ` ${what}`),
    next,
  )
}

/**
 * The open channel: header, why it is paused or closed, messages (oldest first, one separator per
 * day), composer. `onRead` runs once the thread was marked read, so the channel list drops its count.
 */
export function mountThread(ctx, slot, initial, { onRead }) {
  let channel = initial
  const header = h('header', { class: 'thread-head' })
  const alert = h('div', { class: 'paused-alert', hidden: true, attrs: { role: 'alert' } })
  const closed = h('div', { class: 'closed-slot' })
  const list = h('ol', { class: 'ochat-thread' })
  const older = h('button', {
    type: 'button',
    class: 'link-button older',
    text: 'Load older messages',
    hidden: true,
  })
  const composerSlot = h('div', { class: 'thread-composer' })
  const linkSlot = h('div')
  const cache = new Map()
  const messages = []
  let cursor = null
  let destroyed = false

  replace(slot, header, alert, closed, older, list, linkSlot, composerSlot)
  const stopTimes = keepTimesFresh(list)

  const composer = mountOchatComposer(ctx, composerSlot, {
    send: async ({ body, attachmentIds }) => {
      const message = await api('POST', `/api/v1/ochat/channels/${channel.id}/messages`, {
        body,
        format: 'markdown',
        attachmentIds,
      })
      merge([message])
      scrollToEnd()
    },
  })

  function renderHeader() {
    const byEmail = channel.transport === 'email'
    replace(
      header,
      h('h2', { class: 'thread-title', text: channel.peer.name }),
      h(
        'div',
        { class: 'thread-meta muted' },
        channel.contact ? `Contact: ${channel.contact.name}` : 'No contact filed',
        ' · ',
        h('code', { text: byEmail ? channel.email : channel.peer.instanceId }),
      ),
      byEmail
        ? h(
            'div',
            { class: 'thread-transport', attrs: { role: 'note' } },
            notEncryptedBadge(),
            h('span', {
              class: 'muted',
              text: ` — ${channel.peer.name} has no O’Chat node: messages are emailed to ${channel.email}, and its replies come back here. Mail servers on the way can read them.`,
            }),
          )
        : null,
    )
    if (channel.paused) {
      replace(
        alert,
        h(
          'strong',
          {},
          icon('triangle-alert'),
          ` ${channel.peer.name}'s keys changed: this channel is paused.`,
        ),
        h('span', {
          text: ' Nothing is sent or received until an administrator compares the new safety code with them and verifies it.',
        }),
        ctx.user.role === 'admin'
          ? h('a', { href: '#/ochat/connections', text: ' Compare and verify…' })
          : null,
      )
      alert.hidden = false
    } else alert.hidden = true
    replace(closed, closedNotice(ctx, channel))
    const reason = channel.paused
      ? 'The channel is paused until the new safety code is verified.'
      : channel.state !== 'accepted'
        ? `The connection is ${channel.state}: messages cannot be sent.`
        : null
    composer.block(reason)
  }

  /** Whether the newest message is in view: only then does the thread follow what arrives or moves. */
  function atBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < FOLLOW_PX
  }

  function render() {
    const follow = atBottom()
    const sorted = [...messages].sort((a, b) => a.id - b.id)
    const rows = []
    let day = null
    for (const message of sorted) {
      const start = dayStart(message.createdAt)
      if (start !== day) {
        day = start
        rows.push({ key: `day:${start}`, value: { day: start }, render: () => daySeparator(start) })
      }
      rows.push({
        key: message.id,
        value: message,
        render: (value) =>
          messageView(ctx, value, {
            contact: channel.contact,
            onRetried: (updated) => merge([updated]),
            onFile: (target) =>
              mountLinkForm(ctx, linkSlot, target, {
                onLinked: (items) => merge(items),
                onClose: () => linkSlot.replaceChildren(),
              }),
          }),
      })
    }
    keyedRender(list, cache, rows)
    if (!sorted.length) list.append(h('li', { class: 'empty', text: 'No messages yet: say hello.' }))
    // A status that moved (Retrying and its explanation) must not end below the fold.
    if (follow) list.scrollTop = list.scrollHeight
  }

  function merge(items) {
    for (const item of items) {
      const index = messages.findIndex((m) => m.id === item.id)
      if (index >= 0) messages[index] = item
      else messages.push(item)
    }
    render()
  }

  /** The newest message, all of it (its status explanation too), in the thread and on the page. */
  function scrollToEnd() {
    list.scrollTop = list.scrollHeight
    list.lastElementChild?.scrollIntoView({ block: 'nearest' })
  }

  async function loadLatest() {
    const page = await api('GET', `/api/v1/ochat/channels/${channel.id}/messages?limit=${PAGE}`)
    if (destroyed) return
    if (cursor === null && messages.length === 0) cursor = page.nextCursor
    merge(page.items)
  }

  older.addEventListener('click', async () => {
    try {
      const page = await api(
        'GET',
        `/api/v1/ochat/channels/${channel.id}/messages?limit=${PAGE}&cursor=${encodeURIComponent(cursor)}`,
      )
      cursor = page.nextCursor
      older.hidden = !cursor
      merge(page.items)
    } catch (error) {
      ctx.report(error)
    }
  })

  /** Opening the thread reads it: notifications here, Read receipts to the sender (batched). */
  const markRead = coalesced(async () => {
    if (document.visibilityState === 'hidden') return
    await api('POST', `/api/v1/ochat/channels/${channel.id}/read`)
    if (!destroyed) onRead()
  }, ctx.report)
  const refresh = coalesced(loadLatest, ctx.report)

  renderHeader()
  const ready = (async () => {
    await loadLatest()
    older.hidden = !cursor
    scrollToEnd()
    await markRead()
    composer.focus()
  })()
  const onVisible = () => {
    if (document.visibilityState === 'visible') void markRead()
  }
  document.addEventListener('visibilitychange', onVisible)

  return {
    ready,
    channelChanged(next) {
      if (!next) return
      const changed =
        next.paused !== channel.paused ||
        next.email !== channel.email ||
        next.state !== channel.state ||
        next.contact?.id !== channel.contact?.id
      channel = next
      if (changed) renderHeader()
    },
    onEvent(event) {
      if (event.type === 'resync') {
        void refresh()
        void markRead()
      } else if (event.type === 'ochat.message' && event.channelId === channel.id) {
        void refresh().then(() => {
          if (event.status === 'received') {
            scrollToEnd()
            void markRead()
          }
        })
      } else if (event.type === 'ochat.file' && messages.some((m) => m.id === event.messageId)) {
        if (event.state !== 'pending' || !showFileProgress(list, event)) void refresh()
      }
    },
    destroy() {
      destroyed = true
      stopTimes()
      document.removeEventListener('visibilitychange', onVisible)
    },
  }
}
