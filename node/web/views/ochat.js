import { api } from '../api.js'
import { coalesced } from '../coalesced.js'
import { h, replace } from '../dom.js'
import { icon } from '../icon.js'
import { startBulk } from './ochat-bulk.js'
import { notifyToggle } from './ochat-notify.js'
import { isNotSetUp, STATUSES } from './ochat-parts.js'
import { mountThread } from './ochat-thread.js'
import { keepTimesFresh, timeView } from './ochat-time.js'

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
    on: { click: () => startBulk([...selected]) },
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
        notifyToggle(ctx),
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
              h('span', { class: 'channel-time' }, ' · ', timeView(last.at, 'channel-when')),
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
  // Listening from the start: the list changes while the thread opens (reading it drops its count).
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
  const stopTimes = keepTimesFresh(listEl)
  const cleanup = () => {
    stop()
    stopTimes()
    thread?.destroy()
  }
  try {
    await loadChannels()
    if (channelId !== null) {
      const channel = channels.find((c) => c.id === channelId)
      if (!channel) replace(threadSlot, h('p', { class: 'empty', text: 'This channel does not exist.' }))
      else {
        thread = mountThread(ctx, threadSlot, channel, { onRead: () => void refreshChannels() })
        await thread.ready
      }
    } else
      replace(
        threadSlot,
        h('p', { class: 'empty ochat-pick', text: 'Pick a channel to read and write to another company.' }),
      )
  } catch (error) {
    cleanup()
    throw error
  }
  return cleanup
}
