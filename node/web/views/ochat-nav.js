import { api } from '../api.js'
import { coalesced } from '../coalesced.js'
import { h } from '../dom.js'
import { renderOchat } from './ochat.js'
import { renderBulkCompose, renderBulkSummary } from './ochat-bulk.js'
import { renderConnections } from './ochat-connections.js'
import { browserNotifier } from './ochat-notify.js'
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

function showCount(counter, count, label) {
  counter.textContent = String(count)
  counter.hidden = count === 0
  counter.title = count ? label(count) : ''
}

/**
 * The sidebar's O'Chat entries: O'Chat with the total of unread messages over every channel, and for
 * administrators Connections with the number of requests from other companies waiting for an answer.
 * Browser notifications (when the person turned them on) hear the same live events.
 */
export function ochatNav(user, report) {
  const admin = user.role === 'admin'
  const counter = h('span', { class: 'counter ochat-counter', hidden: true })
  const requests = h('span', { class: 'counter requests-counter', hidden: true })
  const links = [
    h('a', { href: '#/ochat', class: 'nav-link ochat-link' }, h('span', { text: "O'Chat" }), counter),
  ]
  const settings = admin
    ? [
        h('div', { class: 'nav-title', text: "O'Chat settings" }),
        h(
          'a',
          { href: '#/ochat/connections', class: 'nav-link connections-link' },
          h('span', { text: 'Connections' }),
          requests,
        ),
        h('a', { href: '#/ochat/registration', class: 'nav-link', text: 'Registration' }),
      ]
    : []
  const notifier = browserNotifier(report)

  const refreshUnread = coalesced(async () => {
    try {
      const { items } = await api('GET', '/api/v1/ochat/channels')
      const unread = items.reduce((sum, channel) => sum + channel.unread, 0)
      showCount(counter, unread, (n) => `${n} unread message${n === 1 ? '' : 's'}`)
    } catch (error) {
      // Not set up yet: nothing unread, and the O'Chat pages explain why.
      if (!isNotSetUp(error)) throw error
      counter.hidden = true
    }
  }, report)

  const refreshRequests = coalesced(async () => {
    if (!admin) return
    try {
      const { items } = await api('GET', '/api/v1/ochat/connections')
      const waiting = items.filter((c) => c.state === 'pending' && c.direction === 'incoming').length
      showCount(requests, waiting, (n) => `${n} connection request${n === 1 ? '' : 's'} to answer`)
    } catch (error) {
      if (!isNotSetUp(error)) throw error
      requests.hidden = true
    }
  }, report)

  const refresh = () => Promise.all([refreshUnread(), refreshRequests(), notifier.start().catch(report)])

  /** Live events that can change the counts, or that a notification tells of. */
  function onEvent(event) {
    if (event.type === 'ochat.channels' || event.type === 'resync' || event.type === 'ochat.registration')
      void refreshUnread()
    if (event.type === 'ochat.connections' || event.type === 'resync' || event.type === 'ochat.registration')
      void refreshRequests()
    notifier.onEvent(event)
  }

  return { links, settings, refresh, onEvent }
}
