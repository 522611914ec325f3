import { api } from '../api.js'
import { coalesced } from '../coalesced.js'
import { formatTime, h, replace } from '../dom.js'
import { forbidden, isForbidden } from './mail-settings.js'
import { deliveryDetail, replaySinceForm, statusOf } from './webhook-delivery.js'
import { endpointState, WEBHOOKS_HASH } from './webhook-form.js'

const PAGE_SIZE = 50

/** The filters an administrator looks at most: what went wrong, then everything. */
const FILTERS = [
  [null, 'All', 'Nothing was sent to this endpoint yet.'],
  ['failed', 'Failed', 'No delivery gave up.'],
  ['pending', 'Waiting', 'Nothing waits to be sent.'],
  ['delivered', 'Delivered', 'Nothing was delivered yet.'],
]

/**
 * Settings → Webhooks → one endpoint's delivery log: every message, newest first, with its state,
 * its attempts and payload on demand, and replay, one or every failed one since a time. States change
 * on the page as the node delivers, from its live events.
 */
export async function renderWebhookLog(ctx, container, endpointId) {
  ctx.highlight(WEBHOOKS_HASH)
  const title = h('h1', { text: 'Delivery log' })
  if (ctx.user.role !== 'admin') {
    forbidden(container, title)
    return
  }
  let endpoint
  try {
    endpoint = await api('GET', `/api/v1/webhooks/endpoints/${endpointId}`)
  } catch (error) {
    if (!isForbidden(error)) throw error
    // The role was taken away after the app loaded (403), or the endpoint was deleted (404).
    if (error.status === 403) return forbidden(container, title)
    replace(
      container,
      title,
      h('p', { class: 'empty', text: 'There is no such endpoint: it may have been deleted.' }),
      h('a', { href: WEBHOOKS_HASH, text: 'All endpoints' }),
    )
    return
  }

  const heading = h('div', { class: 'webhook-log-endpoint' })
  const rows = h('tbody')
  const table = h(
    'table',
    { class: 'list stack-table webhook-messages' },
    h('caption', { class: 'visually-hidden', text: 'Deliveries, newest first' }),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Time', 'Event', 'Status', 'Attempts', 'Last error'].map((label) =>
          h('th', { text: label, attrs: { scope: 'col' } }),
        ),
        h('th', { attrs: { scope: 'col' } }, h('span', { class: 'visually-hidden', text: 'Actions' })),
      ),
    ),
    rows,
  )
  const empty = h('p', { class: 'empty', hidden: true })
  const more = h('button', { type: 'button', class: 'secondary', text: 'Load more', hidden: true })
  let status = null
  let cursor = null
  let messages = []
  /** The message whose attempts and payload are shown, and them once loaded. */
  let open = null
  let detail = null

  const chips = FILTERS.map(([value, label]) =>
    h('button', {
      type: 'button',
      class: 'chip',
      text: label,
      dataset: { status: value ?? 'all' },
      on: {
        click: () => {
          status = value
          void reload()
        },
      },
    }),
  )

  function renderHeading() {
    const state = endpointState(endpoint)
    replace(
      heading,
      h('code', { class: 'webhook-url', text: endpoint.url }),
      endpoint.description ? h('span', { class: 'muted', text: ` ${endpoint.description}` }) : null,
      ' ',
      h('span', { class: `tag outcome outcome-${state.tone} webhook-state`, text: state.label }),
      h('p', { class: 'hint muted', text: state.text }),
    )
  }

  function render() {
    rows.replaceChildren()
    for (const message of messages) {
      rows.append(messageRow(message))
      if (open === message.id) rows.append(detailRow(message))
    }
    const none = messages.length === 0
    table.hidden = none
    empty.hidden = !none
    empty.textContent = FILTERS.find(([value]) => value === status)?.[2] ?? ''
    more.hidden = !cursor
    for (const chip of chips) {
      const on = chip.dataset.status === (status ?? 'all')
      chip.classList.toggle('active', on)
      chip.setAttribute('aria-pressed', String(on))
    }
  }

  function messageRow(message) {
    const [label, tone, next] = statusOf(message)
    const expanded = open === message.id
    return h(
      'tr',
      { class: 'webhook-message', dataset: { id: String(message.id), status: message.status } },
      h(
        'td',
        { dataset: { label: 'Time' } },
        h('time', {
          text: formatTime(message.createdAt),
          attrs: { datetime: new Date(message.createdAt).toISOString() },
        }),
      ),
      h('td', { dataset: { label: 'Event' } }, h('code', { text: message.type })),
      h(
        'td',
        { class: 'webhook-message-status', dataset: { label: 'Status' } },
        h('span', { class: `tag outcome outcome-${tone}`, text: label }),
        next ? h('div', { class: 'hint muted', text: next }) : null,
      ),
      h('td', {
        class: 'webhook-message-attempts',
        dataset: { label: 'Attempts' },
        text: String(message.attempts),
      }),
      h(
        'td',
        { class: 'webhook-message-error', dataset: { label: 'Last error' } },
        message.lastError ?? h('span', { class: 'muted', text: '—' }),
      ),
      h(
        'td',
        {},
        h(
          'div',
          { class: 'webhook-actions' },
          h('button', {
            type: 'button',
            class: 'secondary small webhook-details',
            text: expanded ? 'Hide' : 'Details',
            attrs: { 'aria-expanded': String(expanded), 'aria-label': `Details of delivery ${message.id}` },
            on: { click: () => void toggle(message.id) },
          }),
          message.status === 'delivering'
            ? null
            : h('button', {
                type: 'button',
                class: 'secondary small webhook-replay',
                text: 'Replay',
                attrs: { 'aria-label': `Replay delivery ${message.id}` },
                on: { click: () => void replayOne(message) },
              }),
        ),
      ),
    )
  }

  function detailRow(message) {
    const cell = h('td', { colSpan: 6 })
    if (!detail || detail.id !== message.id) replace(cell, h('p', { class: 'muted', text: 'Loading…' }))
    else replace(cell, deliveryDetail(message, detail))
    return h('tr', { class: 'webhook-detail', dataset: { id: String(message.id) } }, cell)
  }

  async function toggle(id) {
    open = open === id ? null : id
    detail = null
    render()
    if (open !== null) await loadDetail()
  }

  async function loadDetail() {
    const id = open
    if (id === null) return
    const loaded = await api('GET', `/api/v1/webhooks/messages/${id}`).catch((error) => ctx.report(error))
    if (!loaded || open !== id) return
    detail = loaded
    render()
  }

  async function replayOne(message) {
    try {
      const sent = await api('POST', `/api/v1/webhooks/messages/${message.id}/replay`)
      messages = messages.map((item) => (item.id === sent.id ? sent : item))
      render()
      ctx.notify(`Delivery ${message.id} is being sent again`)
    } catch (error) {
      ctx.report(error)
    }
  }

  async function load(reset) {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) })
    if (status) query.set('status', status)
    if (!reset && cursor) query.set('cursor', cursor)
    const [page, shown] = await Promise.all([
      api('GET', `/api/v1/webhooks/endpoints/${endpointId}/messages?${query}`),
      reset ? api('GET', `/api/v1/webhooks/endpoints/${endpointId}`) : endpoint,
    ])
    endpoint = shown
    messages = reset ? page.items : [...messages, ...page.items]
    cursor = page.nextCursor
    renderHeading()
    render()
    if (reset && open !== null) await loadDetail()
  }

  // One load at a time, and a burst of deliveries gives at most two reloads of the first page.
  const reload = coalesced(() => load(true), ctx.report)
  more.addEventListener('click', async () => {
    more.disabled = true
    await load(false).catch(ctx.report)
    more.disabled = false
  })

  replace(
    container,
    h('div', { class: 'view-header' }, title, h('a', { href: WEBHOOKS_HASH, text: 'All endpoints' })),
    heading,
    replaySinceForm(ctx, endpointId, () => void reload()),
    h('div', { class: 'chips', attrs: { role: 'group', 'aria-label': 'Show' } }, chips),
    table,
    empty,
    more,
  )
  await load(true)
  return ctx.live.onEvent((event) => {
    if ((event.type === 'webhooks.changed' && event.endpointId === endpointId) || event.type === 'resync')
      void reload()
  })
}
