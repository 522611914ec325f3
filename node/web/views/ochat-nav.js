import { api } from '../api.js'
import { coalesced } from '../coalesced.js'
import { h } from '../dom.js'
import { renderOchat } from './ochat.js'
import { renderBulkCompose, renderBulkSummary } from './ochat-bulk.js'
import { renderConnections } from './ochat-connections.js'
import { isNotSetUp } from './ochat-parts.js'
import { renderRegistration } from './ochat-registration.js'

/** O'Chat's pages, for the app's router. */
export const OCHAT_ROUTES = [
  [/^#\/ochat$/, (ctx, el) => renderOchat(ctx, el, null)],
  [/^#\/ochat\/channels\/(\d+)$/, (ctx, el, [id]) => renderOchat(ctx, el, Number(id))],
  [/^#\/ochat\/connections$/, (ctx, el) => renderConnections(ctx, el)],
  [/^#\/ochat\/registration$/, (ctx, el) => renderRegistration(ctx, el)],
  [
    /^#\/ochat\/bulk\/new\?channels=([\d,]*)$/,
    (ctx, el, [ids]) => renderBulkCompose(ctx, el, ids.split(',').filter(Boolean).map(Number)),
  ],
  [
    /^#\/ochat\/bulk\/([A-Za-z0-9_-]+)$/,
    (ctx, el, [id]) => renderBulkSummary(ctx, el, decodeURIComponent(id)),
  ],
]

/** The sidebar's O'Chat entry, with the total of unread messages over every channel. */
export function ochatNav(user, report) {
  const counter = h('span', { class: 'counter ochat-counter', hidden: true })
  const links = [
    h('a', { href: '#/ochat', class: 'nav-link ochat-link' }, h('span', { text: "O'Chat" }), counter),
  ]
  const settings =
    user.role === 'admin'
      ? [
          h('div', { class: 'nav-title', text: "O'Chat settings" }),
          h('a', { href: '#/ochat/connections', class: 'nav-link', text: 'Connections' }),
          h('a', { href: '#/ochat/registration', class: 'nav-link', text: 'Registration' }),
        ]
      : []

  const refresh = coalesced(async () => {
    try {
      const { items } = await api('GET', '/api/v1/ochat/channels')
      const unread = items.reduce((sum, channel) => sum + channel.unread, 0)
      counter.textContent = String(unread)
      counter.hidden = unread === 0
    } catch (error) {
      // Not set up yet: nothing unread, and the O'Chat pages explain why.
      if (!isNotSetUp(error)) throw error
      counter.hidden = true
    }
  }, report)

  /** Live events that can change the total. */
  function onEvent(event) {
    if (event.type === 'ochat.channels' || event.type === 'resync' || event.type === 'ochat.registration')
      void refresh()
  }

  return { links, settings, refresh, onEvent }
}
