import { api } from '../api.js'
import { coalesced } from '../coalesced.js'
import { h, replace } from '../dom.js'
import { mountOchatComposer } from './ochat-composer.js'
import { isNotSetUp, keyedRender, messageView, showFileProgress } from './ochat-parts.js'

/**
 * The O'Chat panel beside a record's chatter: the messages exchanged with other companies about this
 * record (both ways, newest first) and a small composer that sends to a chosen channel; the other
 * company's replies come back here.
 */
export function mountRecordOchat(ctx, slot, { record }) {
  const list = h('ol', { class: 'ochat-thread record-ochat-thread' })
  const channelSelect = h('select', {
    class: 'record-ochat-channel',
    id: 'record-ochat-channel',
    attrs: { 'aria-label': 'Channel' },
  })
  const composerSlot = h('div')
  const cache = new Map()
  let ids = new Set()
  let enabled = true

  replace(
    slot,
    h(
      'section',
      { class: 'record-ochat', attrs: { 'aria-label': "O'Chat" } },
      h('h2', { text: "O'Chat" }),
      h(
        'div',
        { class: 'record-ochat-to' },
        h('label', { htmlFor: 'record-ochat-channel', text: 'To' }),
        channelSelect,
      ),
      composerSlot,
      list,
    ),
  )

  const composer = mountOchatComposer(ctx, composerSlot, {
    recordId: record.id,
    placeholder: `Write to the other company about “${record.name}”…`,
    send: async ({ body, attachmentIds }) => {
      if (!channelSelect.value) throw new Error('Choose the company to write to.')
      await api('POST', `/api/v1/records/${record.id}/ochat`, {
        channelId: Number(channelSelect.value),
        body,
        format: 'markdown',
        attachmentIds,
      })
      await refresh()
    },
  })

  async function loadChannels() {
    let channels
    try {
      channels = (await api('GET', '/api/v1/ochat/channels')).items
    } catch (error) {
      if (!isNotSetUp(error)) throw error
      // Not set up on this node: the chatter takes the whole width (O'Chat's own pages say why).
      enabled = false
      slot.replaceChildren()
      slot.hidden = true
      return
    }
    const usable = channels.filter((channel) => channel.state === 'accepted' && !channel.paused)
    const current = channelSelect.value
    replace(
      channelSelect,
      usable.length ? null : h('option', { value: '', text: 'No connected company' }),
      usable.map((channel) =>
        h('option', {
          value: String(channel.id),
          text: channel.contact ? `${channel.peer.name} — ${channel.contact.name}` : channel.peer.name,
        }),
      ),
    )
    if (current && usable.some((channel) => String(channel.id) === current)) channelSelect.value = current
    composer.block(usable.length ? null : 'No connected company to write to.')
  }

  async function loadMessages() {
    if (!enabled) return
    const { items } = await api('GET', `/api/v1/records/${record.id}/ochat`)
    ids = new Set(items.map((message) => message.id))
    keyedRender(
      list,
      cache,
      items.map((message) => ({
        key: message.id,
        value: message,
        render: (value) =>
          messageView(ctx, value, {
            onRetried: () => void refresh(),
            showChannel: value.direction === 'in' ? 'Received' : 'Sent',
          }),
      })),
    )
    if (!items.length)
      list.append(h('li', { class: 'empty', text: 'No O\u2019Chat message about this record yet.' }))
  }

  const refresh = coalesced(loadMessages, ctx.report)
  const refreshChannels = coalesced(loadChannels, ctx.report)
  const ready = (async () => {
    await refreshChannels()
    await refresh()
  })()
  const stop = ctx.live.onEvent((event) => {
    if (!enabled) return
    if (event.type === 'ochat.message' || event.type === 'resync') void refresh()
    if (event.type === 'ochat.channels' || event.type === 'ochat.connections') void refreshChannels()
    if (event.type === 'ochat.file' && ids.has(event.messageId)) {
      if (event.state !== 'pending' || !showFileProgress(list, event)) void refresh()
    }
  })
  return { ready, destroy: stop }
}
