import { api } from '../api.js'
import { avatar } from '../avatar.js'
import { coalesced } from '../coalesced.js'
import { h, replace } from '../dom.js'
import { mountActivities } from './activities.js'
import { dayOf, daySeparator, messageTime, refreshTimes } from './chatter-time.js'
import { mountComposer } from './composer.js'
import { mountFollowers } from './followers.js'
import { editedButton } from './message-history.js'
import { attachmentList, emailEnvelope, messageBody, trackingList } from './message-parts.js'

const FILTERS = [
  ['all', 'All', null],
  ['message', 'Messages', 'message'],
  ['note', 'Notes', 'note'],
  ['activity', 'Activities', 'activity'],
  ['tracking', 'Tracking', 'tracking'],
]
const KIND_LABELS = { message: 'Message', note: 'Internal note', tracking: 'Change', activity: 'Activity' }
/** The emails endpoint takes at most this many message ids at once. */
const EMAIL_IDS_PER_REQUEST = 200
/** How often "5 min ago" is brought up to date, in ms. */
const TIMES_EVERY_MS = 60_000

/** A record's chatter: toolbar, composer, followers, activities, filter chips and the thread. */
export function mountChatter(ctx, slot, { record }) {
  const toolbar = h('div', { class: 'chatter-toolbar' })
  const composerSlot = h('div')
  const followersPanel = h('div', { class: 'followers-panel' })
  const scheduleSlot = h('div')
  const activitiesPanel = h('div', { class: 'activities-panel' })
  const chips = h('div', { class: 'chips', attrs: { role: 'group', 'aria-label': 'Show' } })
  const thread = h('ol', { class: 'thread' })
  const older = h('button', { type: 'button', class: 'secondary', text: 'Load older messages', hidden: true })
  let filter = 'all'
  let cursor = null
  /** The day of the oldest message shown: older ones of another day start with a separator. */
  let lastDay = null
  let composerKind = null
  /** Shown messages → where their envelope goes; their email recipients; the open popover's message. */
  const emailSlots = new Map()
  let emails = new Map()
  let openEmailsOf = null
  const failedBadge = h('button', {
    type: 'button',
    class: 'failed-emails',
    hidden: true,
    on: { click: showFirstFailed },
  })

  const activities = mountActivities(ctx, {
    recordId: record.id,
    panel: activitiesPanel,
    formSlot: scheduleSlot,
    onChanged: () => {
      refreshActivities()
      refreshMessages()
    },
  })

  const sendButton = h('button', {
    type: 'button',
    class: 'chatter-tool',
    text: 'Send message',
    on: { click: () => openComposer('message') },
  })
  const noteButton = h('button', {
    type: 'button',
    class: 'chatter-tool',
    text: 'Log note',
    on: { click: () => openComposer('note') },
  })
  const scheduleButton = h('button', {
    type: 'button',
    class: 'chatter-tool',
    text: 'Activities',
    on: { click: activities.openForm },
  })
  const followersTools = h('span', { class: 'chatter-tools-end' })
  const followersInstance = mountFollowers(ctx, {
    recordId: record.id,
    toolbar: followersTools,
    panel: followersPanel,
  })
  replace(
    toolbar,
    sendButton,
    noteButton,
    scheduleButton,
    failedBadge,
    h('span', { class: 'spacer' }),
    followersTools,
  )

  function openComposer(kind) {
    if (composerKind === kind) return closeComposer()
    composerKind = kind
    sendButton.classList.toggle('active', kind === 'message')
    noteButton.classList.toggle('active', kind === 'note')
    mountComposer(ctx, composerSlot, {
      record,
      kind,
      followers: followersInstance.list,
      onPosted: () => {
        closeComposer()
        refreshMessages()
        refreshFollowers()
      },
      onClose: closeComposer,
    })
  }

  function closeComposer() {
    composerKind = null
    sendButton.classList.remove('active')
    noteButton.classList.remove('active')
    composerSlot.replaceChildren()
  }

  function renderChips() {
    replace(
      chips,
      FILTERS.map(([key, label]) =>
        h('button', {
          type: 'button',
          class: key === filter ? 'chip active' : 'chip',
          text: label,
          dataset: { filter: key },
          attrs: { 'aria-pressed': String(key === filter) },
          on: {
            click: () => {
              filter = key
              renderChips()
              refreshMessages()
            },
          },
        }),
      ),
    )
  }

  async function loadMessages(more) {
    const kind = FILTERS.find(([key]) => key === filter)?.[2]
    const query = new URLSearchParams({ limit: '30' })
    if (kind) query.set('kind', kind)
    if (more && cursor) query.set('cursor', cursor)
    const page = await api('GET', `/api/v1/records/${record.id}/messages?${query}`)
    if (!more) {
      thread.replaceChildren()
      emailSlots.clear()
      lastDay = null
    }
    for (const message of page.items) {
      // Newest first: a separator heads each day's messages.
      const day = dayOf(message.createdAt)
      if (day !== lastDay) thread.append(daySeparator(day))
      lastDay = day
      thread.append(messageItem(message))
    }
    if (!more && page.items.length === 0)
      thread.append(h('li', { class: 'empty', text: 'Nothing here yet.' }))
    cursor = page.nextCursor
    older.hidden = !cursor
    await refreshEmails()
  }

  /** The email recipients of the shown messages, and the record's failed count, read again. */
  async function loadEmails() {
    const ids = [...emailSlots.keys()]
    const next = new Map()
    let failed = 0
    for (let start = 0; start === 0 || start < ids.length; start += EMAIL_IDS_PER_REQUEST) {
      const chunk = ids.slice(start, start + EMAIL_IDS_PER_REQUEST)
      const query = new URLSearchParams({ messages: chunk.join(',') })
      const answer = await api('GET', `/api/v1/records/${record.id}/emails?${query}`)
      failed = answer.failed
      for (const recipient of answer.items) {
        const list = next.get(recipient.messageId)
        if (list) list.push(recipient)
        else next.set(recipient.messageId, [recipient])
      }
    }
    emails = next
    for (const messageId of emailSlots.keys()) renderEnvelope(messageId)
    failedBadge.hidden = failed === 0
    failedBadge.textContent = `${failed} failed email${failed === 1 ? '' : 's'}`
  }

  function renderEnvelope(messageId) {
    const slot = emailSlots.get(messageId)
    if (!slot) return
    const recipients = [...(emails.get(messageId) ?? [])].sort((a, b) => a.id - b.id)
    replace(
      slot,
      emailEnvelope(recipients, {
        open: openEmailsOf === messageId,
        onToggle: () => {
          const previous = openEmailsOf
          openEmailsOf = previous === messageId ? null : messageId
          if (previous !== null) renderEnvelope(previous)
          renderEnvelope(messageId)
        },
        onRetry: (recipient) => act('retry', recipient),
        onCancel: (recipient) => act('cancel', recipient),
      }),
    )
  }

  async function act(action, recipient) {
    try {
      await api('POST', `/api/v1/notifications/${recipient.id}/${action}`)
    } catch (error) {
      ctx.report(error)
    }
    refreshEmails()
  }

  function showFirstFailed() {
    const envelope = thread.querySelector('.email-envelope.email-failed')
    if (!envelope) return
    envelope.scrollIntoView({ block: 'center' })
    if (envelope.getAttribute('aria-expanded') !== 'true') envelope.click()
  }

  function messageItem(message) {
    const mine = message.author?.partnerId === ctx.user.partnerId
    const editable = mine && !message.deleted && (message.kind === 'message' || message.kind === 'note')
    const body = messageBody(message)
    const emailSlot = h('span', { class: 'email-slot' })
    emailSlots.set(message.id, emailSlot)
    const item = h(
      'li',
      {
        class: [
          'message',
          `message-${message.kind}`,
          message.internal ? 'internal' : '',
          message.deleted ? 'deleted' : '',
        ],
        dataset: { id: String(message.id), kind: message.kind },
      },
      avatar(message.author),
      h(
        'div',
        { class: 'message-main' },
        h(
          'div',
          { class: 'message-head' },
          h('strong', { class: 'author', text: message.author?.name ?? 'System' }),
          messageTime(message.createdAt),
          h('span', { class: `kind kind-${message.kind}`, text: KIND_LABELS[message.kind] ?? message.kind }),
          // A message that came in by email says so, with the address it came from.
          message.emailFrom
            ? h('span', { class: 'via-email muted', text: `by email from ${message.emailFrom}` })
            : null,
          emailSlot,
          message.editedAt && !message.deleted ? editedButton(ctx, message) : null,
          editable
            ? h(
                'span',
                { class: 'message-actions' },
                h('button', {
                  type: 'button',
                  class: 'link-button small',
                  text: 'Edit',
                  on: { click: () => edit(message, body) },
                }),
                h('button', {
                  type: 'button',
                  class: 'link-button small',
                  text: 'Delete',
                  on: { click: () => remove(message) },
                }),
              )
            : null,
        ),
        body,
        trackingList(message),
        attachmentList(message, ctx),
      ),
    )
    return item
  }

  function edit(message, body) {
    // The API keeps sanitized HTML, not the Markdown typed: editing starts from the plain text.
    const source = new DOMParser().parseFromString(message.body, 'text/html').body.textContent ?? ''
    const text = h('textarea', { rows: 3, value: source, class: 'composer-text' })
    replace(
      body,
      text,
      h(
        'div',
        { class: 'actions' },
        h('button', {
          type: 'button',
          class: 'primary small',
          text: 'Save',
          on: {
            click: async () => {
              try {
                await api('PATCH', `/api/v1/messages/${message.id}`, { body: text.value })
                refreshMessages()
              } catch (error) {
                ctx.report(error)
              }
            },
          },
        }),
        h('button', {
          type: 'button',
          class: 'link-button small',
          text: 'Discard',
          on: { click: () => refreshMessages() },
        }),
      ),
    )
    text.focus()
  }

  async function remove(message) {
    if (!confirm('Delete this message? Followers will see that it was deleted.')) return
    try {
      await api('DELETE', `/api/v1/messages/${message.id}`)
      refreshMessages()
    } catch (error) {
      ctx.report(error)
    }
  }

  const refreshMessages = coalesced(() => loadMessages(false), ctx.report)
  const refreshFollowers = coalesced(() => followersInstance.refresh(), ctx.report)
  const refreshActivities = coalesced(() => activities.refresh(), ctx.report)
  const refreshEmails = coalesced(loadEmails, ctx.report)
  // The sender moves statuses after the page loaded: each change is pushed for the record.
  const stopLive = ctx.live.onEvent((event) => {
    if (event.type === 'email.status' && event.scope === 'record' && event.recordId === record.id)
      refreshEmails()
  })
  older.addEventListener('click', () => loadMessages(true).catch(ctx.report))
  const timesTimer = setInterval(() => refreshTimes(thread), TIMES_EVERY_MS)

  renderChips()
  replace(
    slot,
    h(
      'section',
      { class: 'chatter', attrs: { 'aria-label': 'Chatter' } },
      toolbar,
      followersPanel,
      composerSlot,
      scheduleSlot,
      activitiesPanel,
      chips,
      thread,
      older,
    ),
  )

  return {
    ready: Promise.all([refreshMessages(), refreshFollowers(), refreshActivities()]),
    refresh(part) {
      if (part === 'messages' || part === 'all') refreshMessages()
      if (part === 'followers' || part === 'all') refreshFollowers()
      if (part === 'activities' || part === 'all') refreshActivities()
      if (part === 'emails') refreshEmails()
    },
    /** How many emails of the record failed or bounced, in red; the record header may show it. */
    failedBadge,
    destroy() {
      stopLive()
      clearInterval(timesTimer)
    },
  }
}
