import { api } from '../api.js'
import { formatTime, h, replace, setSanitizedHtml } from '../dom.js'

/**
 * "(edited)" on an edited message, as a button: it opens the message's earlier bodies (oldest
 * first, each with when it was replaced) above the current one. Esc, the Close button or a click
 * beside the panel closes it.
 */
export function editedButton(ctx, message) {
  return h('button', {
    type: 'button',
    class: 'edited link-button small muted',
    text: '(edited)',
    title: `Edited ${formatTime(message.editedAt)}: show earlier versions`,
    attrs: { 'aria-haspopup': 'dialog' },
    on: { click: () => openHistory(message).catch(ctx.report) },
  })
}

async function openHistory(message) {
  const { items } = await api('GET', `/api/v1/messages/${message.id}/versions`)
  const list = h('ol', { class: 'history-versions' })
  const close = h('button', { type: 'button', class: 'secondary', text: 'Close' })
  const dialog = h(
    'dialog',
    { class: 'history-dialog', attrs: { 'aria-label': 'Earlier versions' } },
    h('h3', { text: 'Earlier versions' }),
    list,
    h('div', { class: 'actions' }, close),
  )
  replace(
    list,
    items.length === 0 ? h('li', { class: 'muted', text: 'No earlier version is kept.' }) : null,
    items.map((version) =>
      h(
        'li',
        { class: 'history-version' },
        h('time', {
          class: 'muted',
          dateTime: new Date(version.replacedAt).toISOString(),
          text: `Replaced ${formatTime(version.replacedAt)}`,
        }),
        // Bodies are kept as the node sanitized them when they were posted.
        setSanitizedHtml(h('div', { class: 'body' }), version.body),
      ),
    ),
    h(
      'li',
      { class: 'history-version history-current' },
      h('span', { class: 'muted', text: `Now (edited ${formatTime(message.editedAt)})` }),
      setSanitizedHtml(h('div', { class: 'body' }), message.body),
    ),
  )
  close.addEventListener('click', () => dialog.close())
  // A click on the dimmed page around the panel lands on the dialog itself.
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog) dialog.close()
  })
  dialog.addEventListener('close', () => dialog.remove())
  document.body.append(dialog)
  dialog.showModal()
  close.focus()
}
