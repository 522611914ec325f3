import { api } from '../api.js'
import { avatar } from '../avatar.js'
import { formatDate, formatTime, h, replace } from '../dom.js'
import { attachmentList, messageBody, trackingList } from './message-parts.js'

const REASONS = {
  message: 'You follow this record',
  mention: 'You were mentioned',
  assigned: 'Assigned to you',
  activity: 'Activity',
}

const ACTIVITY_STATUS = { done: 'done', canceled: 'canceled' }

/** What an activity notification is about: "Call: Ask for the PO · due Dec 9, 2026 · assigned by Ann". */
function activityLine(activity) {
  return h(
    'div',
    { class: 'inbox-activity' },
    h('strong', { class: 'activity-type', text: activity.type.name }),
    activity.summary ? h('span', { class: 'activity-summary', text: `: ${activity.summary}` }) : null,
    h('span', { class: 'muted', text: ` · due ${formatDate(activity.deadline)}` }),
    ACTIVITY_STATUS[activity.status]
      ? h('span', { class: 'muted', text: ` (${ACTIVITY_STATUS[activity.status]})` })
      : null,
    activity.assignedBy ? h('span', { class: 'muted', text: ` · assigned by ${activity.assignedBy}` }) : null,
  )
}

/** Who an entry comes from: the message's author, whoever scheduled the activity, else the system. */
function senderName(item) {
  return item.message?.author?.name ?? item.activity?.assignedBy ?? 'System'
}

/** The inbox: notifications newest first, unread in bold, mark one or all read. */
export async function renderInbox(ctx, container) {
  const list = h('ul', { class: 'inbox' })
  const unreadOnly = h('input', { type: 'checkbox', id: 'unread-only' })
  const more = h('button', { type: 'button', class: 'secondary', text: 'Load more', hidden: true })
  let cursor = null

  async function load(reset) {
    const query = new URLSearchParams({ limit: '30' })
    if (unreadOnly.checked) query.set('unread', 'true')
    if (!reset && cursor) query.set('cursor', cursor)
    const page = await api('GET', `/api/v1/inbox?${query}`)
    if (reset) list.replaceChildren()
    for (const item of page.items) list.append(entry(item))
    if (reset && page.items.length === 0)
      list.append(h('li', { class: 'empty', text: 'Your inbox is empty.' }))
    cursor = page.nextCursor
    more.hidden = !cursor
  }

  function entry(item) {
    const message = item.message
    const markRead = h('button', {
      type: 'button',
      class: 'link-button small',
      text: 'Mark read',
      hidden: item.read,
      on: {
        click: async (event) => {
          event.stopPropagation()
          try {
            await api('POST', `/api/v1/inbox/${item.id}/read`)
            row.classList.remove('unread')
            markRead.hidden = true
          } catch (error) {
            ctx.report(error)
          }
        },
      },
    })
    const body = message
      ? messageBody(message, 'body inbox-preview')
      : item.activity
        ? activityLine(item.activity)
        : null
    const row = h(
      'li',
      {
        class: item.read ? 'inbox-item' : 'inbox-item unread',
        dataset: { id: String(item.id) },
        // The whole entry leads to its record; its own links and buttons keep their meaning.
        on: {
          click: (event) => {
            if (!event.target.closest('a, button')) location.hash = `#/records/${item.record.id}`
          },
        },
      },
      avatar(message?.author),
      h(
        'div',
        { class: 'message-main' },
        h(
          'div',
          { class: 'message-head' },
          h('a', { href: `#/records/${item.record.id}`, class: 'inbox-record', text: item.record.name }),
          h('span', {
            class: 'muted',
            text: `${senderName(item)} · ${formatTime(item.createdAt)}`,
          }),
          h('span', { class: 'kind', text: REASONS[item.reason] ?? item.reason }),
          h('span', { class: 'spacer' }),
          markRead,
        ),
        body,
        message ? trackingList(message) : null,
        message ? attachmentList(message) : null,
      ),
    )
    return row
  }

  unreadOnly.addEventListener('change', () => load(true).catch(ctx.report))
  more.addEventListener('click', () => load(false).catch(ctx.report))
  replace(
    container,
    h(
      'div',
      { class: 'view-header' },
      h('h1', { text: 'Inbox' }),
      h('label', { class: 'inline-check' }, unreadOnly, ' Unread only'),
      h('button', {
        type: 'button',
        class: 'secondary',
        text: 'Mark all read',
        on: {
          click: async () => {
            try {
              const { marked } = await api('POST', '/api/v1/inbox/read-all', {})
              ctx.notify(`${marked} marked read`)
              await load(true)
            } catch (error) {
              ctx.report(error)
            }
          },
        },
      }),
    ),
    list,
    more,
  )
  await load(true)
  return ctx.live.onEvent((event) => {
    if (event.type === 'inbox.changed' || event.type === 'resync') load(true).catch(ctx.report)
  })
}
