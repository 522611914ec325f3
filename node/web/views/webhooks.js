import { api } from '../api.js'
import { coalesced } from '../coalesced.js'
import { formatTime, h, replace } from '../dom.js'
import { forbidden, isForbidden } from './mail-settings.js'
import { endpointCreateForm, endpointState, logHash, WEBHOOKS_HASH } from './webhook-form.js'

/** The sidebar's entry, under Settings: only administrators get it. */
export function webhooksNav(user) {
  if (user.role !== 'admin') return []
  return [h('a', { href: WEBHOOKS_HASH, class: 'nav-link', text: 'Webhooks' })]
}

/**
 * Settings → Webhooks (administrators): the endpoints integrators receive the node's events at, each
 * with its state, its secret, and what can be done with it. States follow deliveries as they happen.
 */
export async function renderWebhooks(ctx, container) {
  ctx.highlight(WEBHOOKS_HASH)
  const title = h('h1', { text: 'Webhooks' })
  if (ctx.user.role !== 'admin') {
    forbidden(container, title)
    return
  }
  let endpoints
  let eventTypes
  try {
    ;[endpoints, eventTypes] = await Promise.all([
      api('GET', '/api/v1/webhooks/endpoints').then((page) => page.items),
      api('GET', '/api/v1/webhooks/event-types').then((page) => page.items),
    ])
  } catch (error) {
    // The role was taken away after the app loaded: the node refuses, and the page says what any user sees.
    if (!isForbidden(error)) throw error
    forbidden(container, title)
    return
  }

  const rows = h('tbody')
  const table = h(
    'table',
    { class: 'list stack-table webhook-endpoints' },
    h('caption', { class: 'visually-hidden', text: 'Webhook endpoints' }),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Endpoint', 'Events', 'State', 'Secret'].map((label) =>
          h('th', { text: label, attrs: { scope: 'col' } }),
        ),
        h('th', { attrs: { scope: 'col' } }, h('span', { class: 'visually-hidden', text: 'Actions' })),
      ),
    ),
    rows,
  )
  const empty = h(
    'div',
    { class: 'empty webhooks-empty', hidden: true },
    h('p', { text: 'No endpoints yet: the node tells nobody about its events.' }),
    h('p', {
      text: 'An endpoint is a URL of another system (a CRM, an automation tool) that receives each new record, message or activity as it happens, signed so it can check the node sent it.',
    }),
  )
  /** The endpoints whose secret is shown: it stays hidden unless asked for. */
  const revealed = new Set()

  function render() {
    rows.replaceChildren(...endpoints.map(endpointRow))
    table.hidden = endpoints.length === 0
    empty.hidden = endpoints.length > 0
  }

  function update(saved) {
    endpoints = endpoints.map((item) => (item.id === saved.id ? saved : item))
    render()
  }

  function endpointRow(endpoint) {
    const state = endpointState(endpoint)
    const name = endpoint.description || endpoint.url
    const button = (text, className, label, action) =>
      h('button', {
        type: 'button',
        class: `secondary small ${className}`,
        text,
        attrs: { 'aria-label': `${label} ${name}` },
        on: { click: () => void action(endpoint, name) },
      })
    return h(
      'tr',
      { class: 'webhook-endpoint', dataset: { id: String(endpoint.id), state: state.key } },
      h(
        'td',
        { class: 'webhook-target', dataset: { label: 'Endpoint' } },
        h('a', {
          href: logHash(endpoint.id),
          class: 'webhook-url',
          text: endpoint.url,
          title: 'Delivery log',
        }),
        endpoint.description
          ? h('div', { class: 'muted webhook-description', text: endpoint.description })
          : null,
      ),
      h(
        'td',
        { class: 'webhook-events-cell', dataset: { label: 'Events' } },
        endpoint.events.length === 0
          ? h('span', { class: 'muted', text: 'All events' })
          : endpoint.events.map((type) => h('code', { class: 'webhook-event-type', text: type })),
        endpoint.internal
          ? h('span', { class: 'tag tag-internal', text: 'Internal items', title: 'Also receives log notes' })
          : null,
      ),
      h(
        'td',
        { class: 'webhook-state', dataset: { label: 'State' } },
        h('span', { class: `tag outcome outcome-${state.tone}`, text: state.label }),
        h('div', { class: 'hint muted', text: state.text }),
      ),
      h('td', { class: 'webhook-secret', dataset: { label: 'Secret' } }, secretCell(endpoint)),
      h(
        'td',
        {},
        h(
          'div',
          { class: 'webhook-actions' },
          h('a', { href: logHash(endpoint.id), class: 'button-like secondary small', text: 'Delivery log' }),
          button(
            endpoint.enabled ? 'Pause' : 'Resume',
            'webhook-toggle',
            endpoint.enabled ? 'Pause' : 'Resume',
            toggle,
          ),
          button('Rotate secret', 'webhook-rotate', 'Rotate secret of', rotate),
          button('Delete', 'alias-delete webhook-delete', 'Delete', remove),
        ),
      ),
    )
  }

  function secretCell(endpoint) {
    const shown = revealed.has(endpoint.id)
    return [
      h('code', { class: 'webhook-secret-value', text: shown ? endpoint.secret : 'whsec_••••••••' }),
      h(
        'div',
        { class: 'webhook-secret-actions' },
        h('button', {
          type: 'button',
          class: 'link-button webhook-reveal',
          text: shown ? 'Hide' : 'Show',
          attrs: { 'aria-expanded': String(shown), 'aria-label': `${shown ? 'Hide' : 'Show'} the secret` },
          on: {
            click: () => {
              if (shown) revealed.delete(endpoint.id)
              else revealed.add(endpoint.id)
              render()
            },
          },
        }),
        h('button', {
          type: 'button',
          class: 'link-button webhook-copy',
          text: 'Copy',
          attrs: { 'aria-label': 'Copy the secret' },
          on: { click: () => void copy(endpoint) },
        }),
      ),
      endpoint.previousSecretUntil === null
        ? null
        : h('p', {
            class: 'hint muted webhook-previous',
            text: `The previous secret also signs until ${formatTime(endpoint.previousSecretUntil)}.`,
          }),
    ]
  }

  async function copy(endpoint) {
    try {
      await navigator.clipboard.writeText(endpoint.secret)
      ctx.notify('Secret copied')
    } catch {
      // No clipboard (an insecure origin, or permission refused): show it so it can be selected.
      revealed.add(endpoint.id)
      render()
      ctx.notify('The browser does not allow copying here: select the secret shown and copy it')
    }
  }

  async function toggle(endpoint, name) {
    try {
      const saved = await api('PATCH', `/api/v1/webhooks/endpoints/${endpoint.id}`, {
        enabled: !endpoint.enabled,
      })
      update(saved)
      ctx.notify(saved.enabled ? `${name} resumed: what waited is being sent` : `${name} paused`)
    } catch (error) {
      ctx.report(error)
    }
  }

  async function rotate(endpoint, name) {
    const sure = window.confirm(
      `Give ${name} a new secret? The old one keeps signing beside it for 24 hours more, while the receiver switches to the new one.`,
    )
    if (!sure) return
    try {
      const saved = await api('POST', `/api/v1/webhooks/endpoints/${endpoint.id}/rotate-secret`)
      revealed.add(saved.id)
      update(saved)
      ctx.notify('New secret made: the old one works 24 hours more')
    } catch (error) {
      ctx.report(error)
    }
  }

  async function remove(endpoint, name) {
    const sure = window.confirm(
      `Delete the endpoint ${name}? It receives nothing more, and its delivery log is deleted with it.`,
    )
    if (!sure) return
    try {
      await api('DELETE', `/api/v1/webhooks/endpoints/${endpoint.id}`)
      endpoints = endpoints.filter((item) => item.id !== endpoint.id)
      revealed.delete(endpoint.id)
      render()
      ctx.notify(`Endpoint ${name} deleted`)
    } catch (error) {
      ctx.report(error)
    }
  }

  const created = endpointCreateForm(ctx, {
    eventTypes,
    onCreated: (endpoint) => {
      endpoints = [...endpoints, endpoint]
      // Its secret is what the receiver needs next: show it at once.
      revealed.add(endpoint.id)
      render()
      ctx.notify(`Endpoint ${endpoint.url} added`)
    },
  })
  replace(
    container,
    h('div', { class: 'view-header' }, title),
    h('p', {
      class: 'muted',
      text: 'Other systems can receive the node’s events as they happen. Each delivery is signed with the endpoint’s secret (Standard Webhooks) and retried for about a day when the receiver fails.',
    }),
    table,
    empty,
    created,
  )
  render()

  // A burst of deliveries gives at most two reloads of the list.
  const reload = coalesced(async () => {
    const page = await api('GET', '/api/v1/webhooks/endpoints')
    endpoints = page.items
    render()
  }, ctx.report)
  return ctx.live.onEvent((event) => {
    if (event.type === 'webhooks.changed' || event.type === 'resync') void reload()
  })
}
