import { ApiError, api } from '../api.js'
import { h, replace, setSanitizedHtml } from '../dom.js'

/**
 * The global search: a button in the top bar, and Ctrl+K (⌘K on a Mac) anywhere, open a box that
 * searches records, chatter and O'Chat messages as one types. Hits come grouped by kind with the
 * number of each; arrow keys move through them, Enter (or a click) opens the record or channel, and
 * Escape closes the box. The node decides what the person may see: the box shows what it answers.
 */

const GROUPS = { record: 'Records', message: 'Messages', ochat: "O'Chat" }
/** Wait this long after the last key before asking (ms): one request per pause, not per letter. */
const TYPING_PAUSE_MS = 150

let opener = null

/** The top bar's search button. The shortcut is listened for once, and opens the newest box. */
export function searchButton() {
  const box = searchBox()
  const button = h(
    'button',
    {
      type: 'button',
      class: 'search-button',
      attrs: { 'aria-keyshortcuts': 'Control+K Meta+K', 'aria-haspopup': 'dialog' },
      on: { click: () => box.open() },
    },
    h('span', { text: 'Search' }),
    h('kbd', { class: 'search-shortcut', text: 'Ctrl K' }),
  )
  if (!opener)
    document.addEventListener('keydown', (event) => {
      if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === 'k') {
        if (!opener?.isConnected()) return
        event.preventDefault()
        opener.open()
      }
    })
  opener = { open: box.open, isConnected: () => button.isConnected }
  return h('span', { class: 'search-anchor' }, button, box.dialog)
}

function searchBox() {
  const input = h('input', {
    type: 'search',
    class: 'search-input',
    placeholder: "Search records, messages and O'Chat…",
    autocomplete: 'off',
    attrs: {
      role: 'combobox',
      'aria-label': 'Search',
      'aria-controls': 'search-results',
      'aria-expanded': 'false',
      'aria-autocomplete': 'list',
    },
    on: { input: () => schedule(), keydown: (event) => onKey(event) },
  })
  const archived = h('input', { type: 'checkbox', on: { change: () => schedule(0) } })
  const results = h('div', { id: 'search-results', class: 'search-results', attrs: { role: 'listbox' } })
  const status = h('div', { class: 'search-status muted', attrs: { role: 'status' } })
  const dialog = h(
    'dialog',
    { class: 'search-dialog', attrs: { 'aria-label': 'Search' }, on: { click: onBackdrop } },
    h(
      'div',
      { class: 'search-panel' },
      input,
      h('label', { class: 'search-archived' }, archived, ' Include archived records'),
      status,
      results,
    ),
  )
  /** The hits shown, in screen order, and which one Enter opens. */
  let options = []
  let active = -1
  let timer = null
  let asked = 0

  function open() {
    if (!dialog.open) dialog.showModal()
    input.focus()
    input.select()
    // What was found last time may have changed since: the same words are asked again.
    if (input.value) schedule(0)
  }

  function close() {
    clearTimeout(timer)
    if (dialog.open) dialog.close()
  }

  // A click on the dimmed page around the panel lands on the dialog itself.
  function onBackdrop(event) {
    if (event.target === dialog) close()
  }

  function schedule(delay = TYPING_PAUSE_MS) {
    clearTimeout(timer)
    timer = setTimeout(() => void run(), delay)
  }

  async function run() {
    const q = input.value
    const token = ++asked
    if (!/[\p{L}\p{N}]/u.test(q)) {
      show(null, q.trim() ? 'Type a word to search for.' : '')
      return
    }
    const params = new URLSearchParams({ q, limit: '8', archived: archived.checked ? 'all' : 'false' })
    try {
      const answer = await api('GET', `/api/v1/search?${params}`)
      if (token === asked) show(answer, null)
    } catch (error) {
      if (token === asked) show(null, error instanceof ApiError ? error.message : String(error))
    }
  }

  function show(answer, message) {
    options = []
    active = -1
    replace(results)
    const total = answer ? answer.groups.reduce((sum, group) => sum + group.items.length, 0) : 0
    status.textContent = message ?? (answer && total === 0 ? 'Nothing found.' : '')
    input.setAttribute('aria-expanded', String(total > 0))
    if (!answer) return
    for (const group of answer.groups) {
      if (group.items.length === 0) continue
      const count = answer.counts[group.kind]
      const titleId = `search-group-${group.kind}`
      results.append(
        h(
          'div',
          { class: 'search-group', attrs: { role: 'group', 'aria-labelledby': titleId } },
          h(
            'div',
            { id: titleId, class: 'search-group-title' },
            GROUPS[group.kind],
            h('span', {
              class: 'search-count',
              text: count >= answer.countLimit ? `${answer.countLimit}+` : String(count),
            }),
          ),
          group.items.map((hit) => option(hit)),
        ),
      )
    }
    select(0)
  }

  function option(hit) {
    const index = options.length
    const el = h(
      'div',
      {
        id: `search-hit-${index}`,
        class: 'search-hit',
        attrs: { role: 'option', 'aria-selected': 'false' },
        dataset: { kind: hit.kind },
        on: { click: () => go(hit), mousemove: () => select(index) },
      },
      h('div', { class: 'search-hit-title', text: titleOf(hit) }),
      setSanitizedHtml(h('div', { class: 'search-hit-snippet' }), hit.snippet),
    )
    options.push({ el, hit })
    return el
  }

  function select(index) {
    if (options.length === 0) {
      input.removeAttribute('aria-activedescendant')
      return
    }
    options[active]?.el.setAttribute('aria-selected', 'false')
    active = (index + options.length) % options.length
    const { el } = options[active]
    el.setAttribute('aria-selected', 'true')
    input.setAttribute('aria-activedescendant', el.id)
    el.scrollIntoView({ block: 'nearest' })
  }

  function onKey(event) {
    // A search field's own Escape would only empty it: here it closes the box, as everywhere else.
    if (event.key === 'Escape') {
      event.preventDefault()
      close()
    } else if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault()
      select(active + (event.key === 'ArrowDown' ? 1 : -1))
    } else if (event.key === 'Enter') {
      event.preventDefault()
      const chosen = options[active]
      if (chosen) go(chosen.hit)
      else schedule(0)
    }
  }

  function go(hit) {
    close()
    location.hash = hit.channel ? `#/ochat/channels/${hit.channel.id}` : `#/records/${hit.record.id}`
  }

  return { dialog, open }
}

/** What a hit is: the record's name, or where the message was written. */
function titleOf(hit) {
  if (hit.kind === 'record') return hit.record.name
  if (hit.kind === 'message') return `On ${hit.record.name}`
  return `In ${hit.channel.name}`
}
