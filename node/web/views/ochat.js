import { api } from '../api.js'
import { coalesced } from '../coalesced.js'
import { formatTime, h, replace } from '../dom.js'
import { icon } from '../icon.js'
import { mountOchatComposer } from './ochat-composer.js'
import { notEncryptedBadge } from './ochat-email-contact.js'
import { mountLinkForm } from './ochat-link.js'
import { isNotSetUp, keyedRender, messageView, STATUSES, showFileProgress } from './ochat-parts.js'

/** One page of a thread: the newest 50 messages; older ones on demand. */
const PAGE = 50

/**
 * O'Chat, as in Discuss: the channels (one per connected company) most recent first, with unread
 * counts and a loud mark on a paused one; the open channel's thread, oldest at the top and the
 * composer below. Opening a thread reads it (Read receipts go out), and what arrives while it is
 * open is read too. Statuses and new messages come live.
 */
export async function renderOchat(ctx, container, channelId) {
  ctx.highlight('#/ochat')
  const listEl = h('ul', { class: 'channel-list' })
  const threadSlot = h('section', { class: 'ochat-thread-pane' })
  const selected = new Set()
  const bulkButton = h('button', {
    type: 'button',
    class: 'secondary small bulk-button',
    text: 'Send bulk message',
    disabled: true,
    on: { click: () => (location.hash = `#/ochat/bulk/new?channels=${[...selected].join(',')}`) },
  })
  let channels = []

  replace(
    container,
    h(
      'div',
      { class: 'ochat-page' },
      h(
        'aside',
        { class: 'channel-pane' },
        h('div', { class: 'channel-pane-head' }, h('h1', { text: "O'Chat" }), bulkButton),
        listEl,
      ),
      // One pane at a time on a phone: the way back from a thread to the channels (hidden on a wide screen).
      h('a', { href: '#/ochat', class: 'pane-back', text: '← Channels' }),
      threadSlot,
    ),
  )

  function updateBulk() {
    bulkButton.disabled = selected.size === 0
    bulkButton.textContent = selected.size ? `Send bulk message (${selected.size})` : 'Send bulk message'
  }

  function channelItem(channel) {
    const usable = channel.state === 'accepted' && !channel.paused
    const check = h('input', {
      type: 'checkbox',
      class: 'bulk-check',
      checked: selected.has(channel.id),
      disabled: !usable,
      title: usable ? 'Select for a bulk message' : 'Only an active channel takes messages',
      attrs: { 'aria-label': `Select ${channel.peer.name}` },
      on: {
        change: () => {
          if (check.checked) selected.add(channel.id)
          else selected.delete(channel.id)
          updateBulk()
        },
      },
    })
    const last = channel.lastMessage
    return h(
      'li',
      {
        class: [
          'channel-item',
          channel.id === channelId ? 'active' : '',
          channel.unread ? 'unread' : '',
          channel.paused ? 'paused' : '',
        ],
        dataset: { channelId: String(channel.id) },
      },
      check,
      h(
        'a',
        { href: `#/ochat/channels/${channel.id}`, class: 'channel-link' },
        h(
          'div',
          { class: 'channel-line' },
          h('strong', { class: 'channel-peer', text: channel.peer.name }),
          channel.unread
            ? h('span', { class: 'counter channel-unread', text: String(channel.unread) })
            : null,
        ),
        h('div', {
          class: 'channel-contact muted',
          text: channel.contact ? channel.contact.name : 'No contact filed',
        }),
        channel.transport === 'email'
          ? h(
              'div',
              { class: 'channel-transport muted' },
              icon('mail', { label: 'Email' }),
              ` ${channel.email}`,
            )
          : null,
        channel.paused
          ? h('div', { class: 'channel-paused' }, icon('triangle-alert'), ' Paused: their keys changed')
          : channel.state !== 'accepted'
            ? h('div', { class: 'channel-state', text: `Connection ${channel.state}` })
            : null,
        last
          ? h(
              'div',
              { class: 'channel-preview muted' },
              last.direction === 'out'
                ? h(
                    'span',
                    { class: `status-${last.status}` },
                    STATUSES[last.status]
                      ? icon(STATUSES[last.status].icon, { label: STATUSES[last.status].label })
                      : null,
                    ' ',
                  )
                : null,
              h('span', { text: last.preview || '(files)' }),
              h('span', { class: 'channel-time', text: ` · ${formatTime(last.at)}` }),
            )
          : h('div', { class: 'channel-preview muted', text: 'No messages yet' }),
      ),
    )
  }

  async function loadChannels() {
    try {
      channels = (await api('GET', '/api/v1/ochat/channels')).items
    } catch (error) {
      if (!isNotSetUp(error)) throw error
      replace(
        listEl,
        h(
          'li',
          { class: 'empty' },
          error.message,
          ' ',
          h('a', { href: '#/ochat/registration', text: 'Registration' }),
        ),
      )
      return
    }
    for (const id of selected) if (!channels.some((c) => c.id === id)) selected.delete(id)
    updateBulk()
    replace(
      listEl,
      channels.length
        ? channels.map(channelItem)
        : h(
            'li',
            { class: 'empty' },
            'No channel yet: a channel opens when a connection with another company is accepted, or when an administrator adds a partner reached by email. ',
            ctx.user.role === 'admin' ? h('a', { href: '#/ochat/connections', text: 'Connections' }) : null,
          ),
    )
    thread?.channelChanged(channels.find((c) => c.id === channelId))
  }

  const refreshChannels = coalesced(loadChannels, ctx.report)
  let thread = null
  await loadChannels()
  if (channelId !== null) {
    const channel = channels.find((c) => c.id === channelId)
    if (!channel) replace(threadSlot, h('p', { class: 'empty', text: 'This channel does not exist.' }))
    else {
      thread = mountThread(ctx, threadSlot, channel)
      await thread.ready
    }
  } else
    replace(
      threadSlot,
      h('p', { class: 'empty ochat-pick', text: 'Pick a channel to read and write to another company.' }),
    )

  const stop = ctx.live.onEvent((event) => {
    if (
      event.type === 'ochat.channels' ||
      event.type === 'ochat.connections' ||
      event.type === 'resync' ||
      event.type === 'ochat.message'
    )
      void refreshChannels()
    thread?.onEvent(event)
  })
  return () => {
    stop()
    thread?.destroy()
  }
}

/** The open channel: header, paused alert, messages (oldest first), composer. */
function mountThread(ctx, slot, initial) {
  let channel = initial
  const header = h('header', { class: 'thread-head' })
  const alert = h('div', { class: 'paused-alert', hidden: true, attrs: { role: 'alert' } })
  const list = h('ol', { class: 'ochat-thread' })
  const older = h('button', {
    type: 'button',
    class: 'link-button older',
    text: 'Load older messages',
    hidden: true,
  })
  const composerSlot = h('div')
  const linkSlot = h('div')
  const cache = new Map()
  const messages = []
  let cursor = null
  let destroyed = false

  replace(slot, header, alert, older, list, linkSlot, composerSlot)

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
    const reason = channel.paused
      ? 'The channel is paused until the new safety code is verified.'
      : channel.state !== 'accepted'
        ? `The connection is ${channel.state}: messages cannot be sent.`
        : null
    composer.block(reason)
  }

  function render() {
    const sorted = [...messages].sort((a, b) => a.id - b.id)
    keyedRender(
      list,
      cache,
      sorted.map((message) => ({
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
      })),
    )
    if (!sorted.length) list.append(h('li', { class: 'empty', text: 'No messages yet: say hello.' }))
  }

  function merge(items) {
    for (const item of items) {
      const index = messages.findIndex((m) => m.id === item.id)
      if (index >= 0) messages[index] = item
      else messages.push(item)
    }
    render()
  }

  function scrollToEnd() {
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
      document.removeEventListener('visibilitychange', onVisible)
    },
  }
}
