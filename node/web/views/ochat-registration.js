import { api } from '../api.js'
import { coalesced } from '../coalesced.js'
import { h, replace } from '../dom.js'
import { formatMoment } from './ochat-parts.js'

const STATUS_TEXT = {
  valid: ['Valid', 'The relay knows this node and accepts its messages.'],
  suspended: [
    'Suspended',
    "The relay's operator suspended this node: nothing is sent or received. Contact them.",
  ],
  unreachable: [
    'Relay unreachable',
    "The relay could not be reached: check its URL and this server's network. O'Chat keeps retrying.",
  ],
}

const SOCKET_TEXT = {
  ready: 'connected: messages arrive at once',
  connecting: 'connecting…',
  down: 'down: reconnecting with backoff; the relay falls back to the webhook',
  suspended: 'closed: the registration is suspended',
  off: 'off',
}

/**
 * Settings → O'Chat → Registration: how the relay sees this node (valid, suspended, unreachable,
 * with the last error and the last contact), its socket, and for an unregistered node the form to
 * register (relay URL, optional invite token). When O'Chat is off, what to set to turn it on.
 */
export async function renderRegistration(ctx, container) {
  ctx.highlight('#/ochat/registration')
  const body = h('div', { class: 'registration' })
  replace(container, h('div', { class: 'view-header' }, h('h1', { text: "O'Chat registration" })), body)

  function row(label, value, className) {
    return [h('dt', { text: label }), h('dd', { class: className, text: value ?? '—' })]
  }

  function renderOff(registration) {
    replace(
      body,
      h(
        'div',
        { class: 'paused-alert ochat-off', attrs: { role: 'alert' } },
        h('strong', {
          text:
            registration.state === 'off'
              ? "O'Chat is off on this node."
              : "O'Chat is locked: the operator secret does not open this node's keys.",
        }),
        registration.reason ? h('p', { class: 'reason', text: registration.reason }) : null,
        h('p', {
          text:
            registration.state === 'off'
              ? "To turn it on, the server's operator sets NODE_OCHAT_SECRET (or NODE_OCHAT_SECRET_FILE, a file holding it) to a long random secret that encrypts the node's keys at rest, then restarts the node. Keep the secret safe: without it the keys cannot be opened."
              : 'Start the node with the secret it was registered with (NODE_OCHAT_SECRET or NODE_OCHAT_SECRET_FILE), then restart it.',
        }),
      ),
    )
  }

  function renderForm() {
    const relayUrl = h('input', {
      type: 'url',
      id: 'relay-url',
      placeholder: 'https://relay.example.com',
      required: true,
    })
    const invite = h('input', {
      type: 'text',
      id: 'invite-token',
      placeholder: 'Only if the relay asks for one',
      autocomplete: 'off',
    })
    const error = h('div', { class: 'form-error', hidden: true, attrs: { role: 'alert' } })
    const submit = h('button', { type: 'submit', class: 'primary', text: 'Register' })
    const admin = ctx.user.role === 'admin'
    replace(
      body,
      h('p', {
        text: "This node is not registered with a relay yet. Registering creates this node's keys here (the relay only ever sees the public ones) and pins the relay's keys.",
      }),
      admin
        ? h(
            'form',
            {
              class: 'sheet register-form',
              on: {
                submit: async (event) => {
                  event.preventDefault()
                  error.hidden = true
                  submit.disabled = true
                  try {
                    await api('POST', '/api/v1/ochat/registration', {
                      relayUrl: relayUrl.value.trim(),
                      ...(invite.value.trim() ? { inviteToken: invite.value.trim() } : {}),
                    })
                    ctx.notify('Registered with the relay')
                    await refresh()
                  } catch (failure) {
                    ctx.report(failure)
                    replace(error, failure.message, failure.reason ? ` ${failure.reason}` : '')
                    error.hidden = false
                    submit.disabled = false
                  }
                },
              },
            },
            h(
              'div',
              { class: 'field-grid register-grid' },
              h('label', { htmlFor: 'relay-url', class: 'required', text: 'Relay URL' }),
              relayUrl,
              h('label', { htmlFor: 'invite-token', text: 'Invite token' }),
              invite,
            ),
            error,
            h('div', { class: 'actions' }, submit),
          )
        : h('p', { class: 'muted', text: 'An administrator registers it.' }),
    )
  }

  function renderRegistered(registration) {
    const [label, meaning] = STATUS_TEXT[registration.status] ?? [registration.status ?? 'Unknown', '']
    const check = h('button', {
      type: 'button',
      class: 'secondary check-button',
      text: 'Check now',
      on: {
        click: async () => {
          check.disabled = true
          try {
            show(await api('POST', '/api/v1/ochat/registration/check'))
          } catch (error) {
            ctx.report(error)
          } finally {
            check.disabled = false
          }
        },
      },
    })
    replace(
      body,
      h(
        'div',
        {
          class: `registration-status status-${registration.status}`,
          dataset: { status: registration.status ?? '' },
        },
        h('strong', { class: 'registration-label', text: label }),
        h('span', { text: ` — ${meaning}` }),
      ),
      h(
        'dl',
        { class: 'facts registration-facts' },
        row('Instance id', registration.instanceId, 'instance-id'),
        row('Name', registration.name),
        row(
          'Relay',
          registration.relayName
            ? `${registration.relayName} (${registration.relayUrl})`
            : registration.relayUrl,
        ),
        row(
          'Socket',
          SOCKET_TEXT[registration.socket] ?? registration.socket,
          `socket-state socket-${registration.socket}`,
        ),
        row('Webhook', registration.webhookUrl ?? 'none (WebSocket only)'),
        row(
          'Last contact',
          registration.lastContactAt ? formatMoment(registration.lastContactAt) : 'never',
          'last-contact',
        ),
        row('Last error', registration.lastError ?? 'none', 'last-error'),
        ...(registration.rotationPending
          ? [
              row(
                'Key rotation',
                'under way: the relay did not answer. This node asks it every 30 s which keys it holds and goes on with those.',
                'rotation-pending',
              ),
            ]
          : []),
        row('Registered', registration.registeredAt ? formatMoment(registration.registeredAt) : null),
      ),
      h('div', { class: 'actions' }, check),
    )
  }

  function show(registration) {
    if (registration.state === 'off' || registration.state === 'locked') renderOff(registration)
    else if (registration.state === 'unregistered') renderForm()
    else renderRegistered(registration)
  }

  async function load() {
    show(await api('GET', '/api/v1/ochat/registration'))
  }
  const refresh = coalesced(load, ctx.report)
  await load()
  return ctx.live.onEvent((event) => {
    if (event.type === 'ochat.registration' || event.type === 'resync') void refresh()
  })
}
