import { api } from '../api.js'
import { coalesced } from '../coalesced.js'
import { formatTime, h, replace } from '../dom.js'
import { icon } from '../icon.js'
import { startBulk } from './ochat-bulk.js'
import { contactPicker, loadContacts } from './ochat-contact.js'
import { emailContactForm, notEncryptedBadge } from './ochat-email-contact.js'
import { isNotSetUp, safetyCodeView } from './ochat-parts.js'
import { requestForm } from './ochat-request.js'

const GROUPS = [
  ['paused', 'Paused: keys changed', (c) => c.state === 'accepted' && c.paused],
  ['incoming', 'Incoming requests', (c) => c.state === 'pending' && c.direction === 'incoming'],
  ['accepted', 'Connected companies', (c) => c.state === 'accepted' && !c.paused],
  ['outgoing', 'Waiting for their answer', (c) => c.state === 'pending' && c.direction === 'outgoing'],
  ['closed', 'Rejected and revoked', (c) => c.state === 'rejected' || c.state === 'revoked'],
]

/**
 * Settings → O'Chat → Connections (administrators): this node's instance id to give to partners,
 * requesting a connection, adding a partner without a node (reached by email), deciding on requests
 * (a contact is required to accept), the safety code of each connection, the loud alert of a key
 * change with its verification, and bulk selection.
 */
export async function renderConnections(ctx, container) {
  ctx.highlight('#/ochat/connections')
  if (ctx.user.role !== 'admin') {
    replace(
      container,
      h('h1', { text: 'Connections' }),
      h('p', { class: 'empty', text: 'Only administrators manage connections.' }),
    )
    return
  }
  const selfSlot = h('div')
  const requestSlot = h('div')
  const emailSlot = h('div')
  const groupsSlot = h('div', { class: 'connection-groups' })
  const selected = new Set()
  let contacts = []
  let connections = []
  let ownInstanceId = null

  const bulkButton = h('button', {
    type: 'button',
    class: 'secondary bulk-button',
    text: 'Send bulk message',
    disabled: true,
    on: { click: () => startBulk([...selected]) },
  })
  const refreshButton = h('button', {
    type: 'button',
    class: 'secondary refresh-button',
    text: 'Refresh',
    title: 'Ask the relay now for new requests, answers and key changes',
    on: {
      click: async () => {
        refreshButton.disabled = true
        try {
          connections = (await api('POST', '/api/v1/ochat/connections/sync')).items
          renderGroups()
          ctx.notify('Connections are up to date')
        } catch (error) {
          ctx.report(error)
        } finally {
          refreshButton.disabled = false
        }
      },
    },
  })

  replace(
    container,
    h('div', { class: 'view-header' }, h('h1', { text: 'Connections' }), bulkButton, refreshButton),
    selfSlot,
    requestSlot,
    emailSlot,
    groupsSlot,
  )

  function updateBulk() {
    bulkButton.disabled = selected.size === 0
    bulkButton.textContent = selected.size ? `Send bulk message (${selected.size})` : 'Send bulk message'
  }

  async function loadSelf() {
    const registration = await api('GET', '/api/v1/ochat/registration')
    if (registration.state !== 'registered') {
      replace(
        selfSlot,
        h(
          'div',
          { class: 'notice' },
          'This node is not registered with a relay yet, so it cannot connect. ',
          h('a', { href: '#/ochat/registration', text: 'Register it' }),
        ),
      )
      return false
    }
    const copy = h('button', {
      type: 'button',
      class: 'secondary small',
      text: 'Copy',
      on: {
        click: async () => {
          try {
            await navigator.clipboard.writeText(registration.instanceId)
            ctx.notify('Instance id copied')
          } catch {
            // Some browsers refuse the clipboard to plain-HTTP pages: select it for Ctrl+C instead.
            getSelection()?.selectAllChildren(idEl)
          }
        },
      },
    })
    ownInstanceId = registration.instanceId
    const idEl = h('code', { class: 'instance-id', text: registration.instanceId })
    replace(
      selfSlot,
      h(
        'div',
        { class: 'self-card' },
        h('div', {
          class: 'muted',
          text: `${registration.name}'s O'Chat instance id — give it to companies that want to connect:`,
        }),
        h('div', { class: 'instance-id-line' }, idEl, copy),
      ),
    )
    return true
  }

  async function decide(connection, action, body = {}) {
    const updated = await api('POST', `/api/v1/ochat/connections/${connection.id}/${action}`, body)
    connections = connections.map((c) => (c.id === updated.id ? updated : c))
    renderGroups()
    return updated
  }

  function confirmButton(label, className, question, action, connection) {
    return h('button', {
      type: 'button',
      class: className,
      text: label,
      on: {
        click: async () => {
          if (!confirm(question)) return
          try {
            await decide(connection, action)
            ctx.notify(`${label}: ${connection.peer.name}`)
          } catch (error) {
            ctx.report(error)
          }
        },
      },
    })
  }

  function incomingActions(connection) {
    const picker = contactPicker({
      contacts,
      id: `accept-contact-${connection.id}`,
      suggestedName: connection.peer.name,
    })
    const why = h('div', { class: 'accept-why form-error', hidden: true, attrs: { role: 'alert' } })
    const accept = h('button', {
      type: 'button',
      class: 'primary accept-button',
      text: 'Accept',
      on: {
        click: async () => {
          why.hidden = true
          if (!picker.chosen()) {
            why.textContent =
              'Choose the contact this company is filed under first: their messages appear under that contact.'
            why.hidden = false
            picker.select.focus()
            return
          }
          accept.disabled = true
          try {
            const contactPartnerId = await picker.resolve()
            await decide(connection, 'accept', { contactPartnerId })
            ctx.notify(`Connected with ${connection.peer.name}`)
          } catch (error) {
            accept.disabled = false
            ctx.report(error)
          }
        },
      },
    })
    return h(
      'div',
      { class: 'decision' },
      h('label', { htmlFor: `accept-contact-${connection.id}`, text: 'File under contact' }),
      picker.el,
      h(
        'div',
        { class: 'actions' },
        accept,
        confirmButton(
          'Reject',
          'secondary reject-button',
          `Reject ${connection.peer.name}'s request?`,
          'reject',
          connection,
        ),
      ),
      why,
    )
  }

  function pausedAlert(connection) {
    const code = connection.keyChange?.newSafetyCode
    const verify = h('button', {
      type: 'button',
      class: 'primary verify-button',
      text: 'The codes match: verify and resume',
      on: {
        click: async () => {
          if (!code) return
          verify.disabled = true
          try {
            const updated = await api('POST', `/api/v1/ochat/connections/${connection.id}/verify`, {
              safetyCode: code.groups.join(' '),
            })
            connections = connections.map((c) => (c.id === updated.id ? updated : c))
            renderGroups()
            ctx.notify(`${connection.peer.name}'s new keys are verified; the channel resumes`)
          } catch (error) {
            verify.disabled = false
            ctx.report(error)
          }
        },
      },
    })
    return h(
      'div',
      { class: 'paused-alert', attrs: { role: 'alert' } },
      h(
        'strong',
        {},
        icon('triangle-alert'),
        ` ${connection.peer.name}'s keys changed${connection.keyChange ? ` on ${formatTime(connection.keyChange.at)}` : ''}. The channel is paused.`,
      ),
      h('p', {
        text: 'Call them (not over O\u2019Chat) and compare this NEW safety code with the one their administrator sees. Verify only if every digit matches: otherwise someone may be impersonating them.',
      }),
      code ? safetyCodeView(code, 'safety-code new-safety-code') : null,
      verify,
    )
  }

  /** What the partner has yet to receive from us, and since when: their queue, as the sender sees it. */
  function waitingLine(connection) {
    const { count, oldestAt } = connection.waiting
    if (count === 0) return null
    return h('div', {
      class: 'connection-waiting',
      text: `${count} ${count === 1 ? 'message' : 'messages'} not yet received by ${connection.peer.name}, the oldest written ${formatTime(oldestAt)}`,
    })
  }

  function connectionCard(connection) {
    const usable = connection.state === 'accepted' && !connection.paused && connection.channelId
    const check = usable
      ? h('input', {
          type: 'checkbox',
          class: 'bulk-check',
          checked: selected.has(connection.channelId),
          attrs: { 'aria-label': `Select ${connection.peer.name}` },
          on: {
            change: (event) => {
              if (event.target.checked) selected.add(connection.channelId)
              else selected.delete(connection.channelId)
              updateBulk()
            },
          },
        })
      : null
    const pending = connection.state === 'pending'
    return h(
      'li',
      {
        class: ['connection', `connection-${connection.state}`, connection.paused ? 'paused' : ''],
        dataset: { id: connection.id, state: connection.state, direction: connection.direction },
      },
      h(
        'div',
        { class: 'connection-head' },
        check,
        h('strong', { class: 'connection-peer', text: connection.peer.name }),
        pending
          ? h('span', {
              class: `tag direction-tag tag-${connection.direction}`,
              text: connection.direction === 'incoming' ? 'Incoming' : 'Outgoing',
            })
          : h('span', { class: `tag state-tag tag-${connection.state}`, text: connection.state }),
        connection.transport === 'email'
          ? h(
              'span',
              { class: 'peer-email' },
              h('code', { text: connection.email }),
              ' ',
              notEncryptedBadge(),
            )
          : h('code', { class: 'muted peer-instance', text: connection.peer.instanceId }),
        h('span', { class: 'spacer' }),
        connection.channelId && connection.state === 'accepted'
          ? h('a', { href: `#/ochat/channels/${connection.channelId}`, text: 'Open channel' })
          : null,
      ),
      connection.message ? h('blockquote', { class: 'connection-message', text: connection.message }) : null,
      h('div', {
        class: 'connection-contact muted',
        text: connection.contact ? `Contact: ${connection.contact.name}` : 'No contact filed yet',
      }),
      connection.paused ? pausedAlert(connection) : null,
      waitingLine(connection),
      connection.state === 'accepted' && connection.safetyCode
        ? h(
            'div',
            { class: 'safety' },
            h('div', {
              class: 'muted',
              text: connection.paused
                ? 'The safety code you verified before:'
                : 'Safety code — compare it with their administrator, out of band:',
            }),
            safetyCodeView(connection.safetyCode),
          )
        : null,
      connection.state === 'pending' && connection.direction === 'incoming'
        ? incomingActions(connection)
        : null,
      h(
        'div',
        { class: 'actions' },
        connection.state === 'pending' && connection.direction === 'outgoing'
          ? confirmButton(
              'Withdraw',
              'secondary withdraw-button',
              `Withdraw your request to ${connection.peer.name}?`,
              'revoke',
              connection,
            )
          : null,
        connection.state === 'accepted'
          ? confirmButton(
              'Revoke',
              'secondary danger revoke-button',
              connection.transport === 'email'
                ? `Stop emailing ${connection.peer.name}? Nothing more is sent or taken in, and emails still waiting fail.`
                : `Revoke the connection with ${connection.peer.name}? Nothing will flow any more, and messages still queued are dropped.`,
              'revoke',
              connection,
            )
          : null,
        h('span', { class: 'muted small-text', text: `Updated ${formatTime(connection.updatedAt)}` }),
      ),
    )
  }

  /**
   * The card drawn last time when its connection has not changed since: a contact being chosen or a
   * refusal being read on one card survives another card's update.
   */
  let drawn = new Map()
  let drawing = new Map()
  function keptCard(connection) {
    const key = JSON.stringify(connection)
    const before = drawn.get(connection.id)
    const card = before && before.key === key ? before.card : connectionCard(connection)
    drawing.set(connection.id, { key, card })
    return card
  }

  function renderGroups() {
    drawing = new Map()
    for (const id of selected)
      if (!connections.some((c) => c.channelId === id && c.state === 'accepted' && !c.paused))
        selected.delete(id)
    updateBulk()
    replace(
      groupsSlot,
      connections.length === 0
        ? h('p', {
            class: 'empty',
            text: 'No connection yet. Request one above, or give your instance id to a partner.',
          })
        : GROUPS.map(([key, title, matches]) => {
            const items = connections.filter(matches)
            if (!items.length) return null
            return h(
              'section',
              { class: `connection-group group-${key}` },
              h('h2', {}, title, h('span', { class: 'count', text: ` (${items.length})` })),
              h('ul', { class: 'connections' }, items.map(keptCard)),
            )
          }),
    )
    drawn = drawing
  }

  async function loadConnections() {
    const next = (await api('GET', '/api/v1/ochat/connections')).items
    // Nothing moved: the cards stay as they are, with a contact being chosen or a refusal being read.
    if (JSON.stringify(next) === JSON.stringify(connections) && groupsSlot.childElementCount > 0) return
    connections = next
    renderGroups()
  }

  const refresh = coalesced(loadConnections, ctx.report)
  try {
    const registered = await loadSelf()
    if (!registered) return
  } catch (error) {
    if (!isNotSetUp(error)) throw error
  }
  contacts = await loadContacts()
  replace(requestSlot, requestForm(ctx, { contacts, ownInstanceId, onSent: () => refresh() }))
  replace(emailSlot, emailContactForm(ctx, { contacts, onAdded: () => refresh() }))
  await loadConnections()
  return ctx.live.onEvent((event) => {
    // A message's status moves its partner's queue.
    if (event.type === 'ochat.connections' || event.type === 'ochat.message' || event.type === 'resync')
      void refresh()
  })
}
