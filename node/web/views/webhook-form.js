import { ApiError, api } from '../api.js'
import { formatTime, h, replace } from '../dom.js'
import { field } from './mail-alias-form.js'

/** The webhook pages' addresses, for the sidebar link, its highlight, and each endpoint's log. */
export const WEBHOOKS_HASH = '#/settings/webhooks'
export const logHash = (id) => `${WEBHOOKS_HASH}/${id}`

/** The reason the node gives when an administrator pauses an endpoint (the API's own words). */
const PAUSED_REASON = 'paused by an administrator'

/**
 * Where an endpoint stands, in a person's words, with the tag's tone: working, failing since when,
 * paused by someone, or disabled by the node and why (it answered 410, or failed for days).
 */
export function endpointState(endpoint) {
  if (!endpoint.enabled) {
    if (endpoint.disabledReason === PAUSED_REASON)
      return { key: 'paused', label: 'Paused', tone: 'info', text: 'Deliveries wait until you resume it.' }
    return {
      key: 'disabled',
      label: 'Disabled',
      tone: 'bad',
      text: `Disabled by the node: ${endpoint.disabledReason ?? 'no reason given'}. Resume it once the receiver is fixed.`,
    }
  }
  if (endpoint.failingSince !== null)
    return {
      key: 'failing',
      label: `Failing since ${formatTime(endpoint.failingSince)}`,
      tone: 'warn',
      text: 'Every delivery since then failed; they are retried.',
    }
  return { key: 'working', label: 'Working', tone: 'ok', text: 'Deliveries are accepted.' }
}

/**
 * "Add endpoint": its URL, a description, the events it receives (none checked: every one), and
 * whether log notes go too. The node's refusal of a URL (not public, not http) shows beside the URL.
 */
export function endpointCreateForm(ctx, { eventTypes, onCreated }) {
  const url = h('input', {
    id: 'webhook-url',
    type: 'url',
    placeholder: 'https://example.com/hooks/ochat',
    autocomplete: 'off',
    spellcheck: false,
  })
  const description = h('input', { id: 'webhook-description', type: 'text', maxLength: 500 })
  const boxes = eventTypes.map((type) =>
    h('input', { type: 'checkbox', id: `webhook-event-${type}`, value: type }),
  )
  const events = h(
    'fieldset',
    { id: 'webhook-events', class: 'webhook-events', tabIndex: -1 },
    h('legend', { class: 'visually-hidden', text: 'Events' }),
    // The names integrators find in the payload's "type", as they are.
    boxes.map((box) => h('label', { class: 'webhook-event' }, box, h('code', { text: box.value }))),
  )
  const internal = h('input', { type: 'checkbox', id: 'webhook-internal' })
  const fields = {
    url: field({
      id: 'webhook-url',
      label: 'URL',
      required: true,
      control: url,
      hint: 'Each event is POSTed here as JSON, signed with the endpoint’s secret. It must be a public http(s) address.',
    }),
    description: field({ id: 'webhook-description', label: 'Description', control: description }),
    events: field({
      id: 'webhook-events',
      label: 'Events',
      control: events,
      hint: 'None checked: every event, including kinds added later.',
    }),
    internal: field({
      id: 'webhook-internal',
      label: 'Internal items',
      control: internal,
      cell: h('label', { class: 'webhook-event' }, internal, ' Also internal items (log notes)'),
      hint: 'Log notes are for the company only: send them only to a receiver you trust as much.',
    }),
  }
  const error = h('div', { class: 'form-error', hidden: true, attrs: { role: 'alert' } })
  const submit = h('button', { type: 'submit', class: 'primary', text: 'Add endpoint' })
  const form = h(
    'form',
    {
      class: 'sheet webhook-create-form',
      attrs: { novalidate: '' },
      on: {
        submit: async (event) => {
          event.preventDefault()
          error.hidden = true
          for (const item of Object.values(fields)) item.show(null)
          if (url.value.trim() === '') {
            fields.url.show('Enter the address deliveries go to.', true)
            return
          }
          submit.disabled = true
          try {
            const created = await api('POST', '/api/v1/webhooks/endpoints', {
              url: url.value.trim(),
              description: description.value.trim(),
              events: boxes.filter((box) => box.checked).map((box) => box.value),
              internal: internal.checked,
            })
            form.reset()
            onCreated(created)
          } catch (failure) {
            if (!(failure instanceof ApiError)) return ctx.report(failure)
            const named = refusedField(failure)
            if (named && fields[named.field]) fields[named.field].show(named.text, true)
            else {
              replace(
                error,
                h('strong', { text: failure.message }),
                failure.reason ? ` ${failure.reason}` : '',
              )
              error.hidden = false
            }
          } finally {
            submit.disabled = false
          }
        },
      },
    },
    h('h2', { text: 'Add endpoint' }),
    h(
      'div',
      { class: 'field-grid alias-grid' },
      Object.values(fields).map((item) => item.nodes),
    ),
    error,
    h('div', { class: 'actions' }, submit),
  )
  return form
}

/** The field a refusal is about: a refused URL says why beside it; a body error names its path. */
function refusedField(failure) {
  const detail = failure.reason.replace(/^[a-z-]+: /, '')
  if (failure.code === 'E_WEBHOOK_URL') return { field: 'url', text: `${detail}. ${failure.message}` }
  const path = failure.details?.[0]?.path ?? /^([A-Za-z]+)(?:[.:])/.exec(detail)?.[1]
  if (!path) return null
  const name = String(path).split('.')[0]
  return { field: name, text: detail.startsWith(`${name}: `) ? detail.slice(name.length + 2) : detail }
}
