import { api } from '../api.js'
import { h, replace } from '../dom.js'
import { displayValue, fieldInput, loadPeople, readForm } from './fields.js'
import {
  listQuery,
  listToolbar,
  loadListState,
  saveListState,
  sortable,
  sortHeader,
} from './records-toolbar.js'

const LIST_COLUMNS = 4
const STATE_LABELS = { overdue: 'Overdue', today: 'Due today', planned: 'Planned' }
/** Which records the list shows, as the API's `archived=` takes it, and what the list says when empty. */
const SHOWN = [
  ['false', 'Active', 'No records yet. Create one with “New”.'],
  ['true', 'Archived', 'Nothing is archived.'],
  ['all', 'All', 'No records yet. Create one with “New”.'],
]
/** The filter last chosen for a model, kept for the tab: back from a record, the list is as it was left. */
const filterKey = (modelName) => `records-archived:${modelName}`

/** "Active / Archived / All": buttons in a group, the one shown pressed. `onPick(value)`. */
function archiveFilter(initial, onPick) {
  const buttons = SHOWN.map(([value, label]) =>
    h('button', {
      type: 'button',
      class: 'secondary archive-filter-option',
      text: label,
      dataset: { value },
      attrs: { 'aria-pressed': String(value === initial) },
      on: { click: () => pick(value) },
    }),
  )
  function pick(value) {
    for (const button of buttons) button.setAttribute('aria-pressed', String(button.dataset.value === value))
    onPick(value)
  }
  return h('div', { class: 'archive-filter', attrs: { role: 'group', 'aria-label': 'Show' } }, buttons)
}

/**
 * A model's records, newest first or sorted by a column, searched and filtered on the node, with their
 * worst activity state and a "New" form built from the model's fields.
 */
export async function renderRecordList(ctx, container, modelName) {
  const model = ctx.models.find((candidate) => candidate.name === modelName)
  if (!model) {
    replace(
      container,
      h('h1', { text: 'Unknown model' }),
      h('p', { text: `There is no model "${modelName}".` }),
    )
    return
  }
  const lookups = await loadPeople()
  const columns = model.fields
    .filter((field) => field.name !== 'name' && field.type !== 'text')
    .slice(0, LIST_COLUMNS)
  const body = h('tbody')
  const more = h('button', { type: 'button', class: 'secondary', text: 'Load more', hidden: true })
  const formSlot = h('div')
  const head = h('tr')
  let cursor = null
  let shown = sessionStorage.getItem(filterKey(model.name)) ?? 'false'
  if (!SHOWN.some(([value]) => value === shown)) shown = 'false'
  const view = loadListState(model.name)
  // A field sorted by before the model changed may be gone: the list falls back to newest first.
  if (
    view.sort &&
    view.sort !== 'name' &&
    !columns.some((field) => field.name === view.sort && sortable(field))
  )
    view.sort = null
  // Each load is numbered: rows of a filter the user has since left are not added to the new one.
  let loading = 0

  async function load(reset) {
    const token = ++loading
    const query = new URLSearchParams({ limit: '50', archived: shown, ...listQuery(view) })
    if (!reset && cursor) query.set('cursor', cursor)
    const page = await api('GET', `/api/v1/models/${model.name}/records?${query}`)
    if (token !== loading) return
    if (reset) body.replaceChildren()
    for (const record of page.items) body.append(row(record))
    if (reset && page.items.length === 0)
      body.append(
        h(
          'tr',
          {},
          h('td', {
            colSpan: columns.length + 2,
            class: 'empty',
            text: Object.keys(listQuery(view)).some((key) => key !== 'sort' && key !== 'order')
              ? 'No records match.'
              : SHOWN.find(([value]) => value === shown)?.[2],
          }),
        ),
      )
    cursor = page.nextCursor
    more.hidden = !cursor
  }

  function row(record) {
    return h(
      'tr',
      {
        class: 'record-row',
        dataset: { id: String(record.id) },
        on: { click: () => (location.hash = `#/records/${record.id}`) },
      },
      h(
        'td',
        {},
        h('a', { href: `#/records/${record.id}`, text: record.name }),
        // Only "All" mixes both kinds: there the archived ones need telling apart.
        shown === 'all' && record.archivedAt !== null
          ? h('span', { class: 'archived-badge', text: 'Archived' })
          : null,
      ),
      columns.map((field) => h('td', { text: displayValue(field, record.values[field.name], lookups) })),
      h(
        'td',
        { class: 'activity-cell' },
        record.activityState
          ? h(
              'span',
              { class: `activity-state state-text-${record.activityState}` },
              h('span', { class: `state-dot list-state-dot state-${record.activityState}` }),
              STATE_LABELS[record.activityState],
            )
          : null,
      ),
    )
  }

  /** The header row, redrawn when the sorted column changes. */
  function drawHead() {
    const refresh = () => {
      saveListState(model.name, view)
      drawHead()
      // The header was redrawn: the keyboard stays on the column just sorted.
      head.querySelector(`[data-sort="${view.sort}"]`)?.focus()
      reload()
    }
    replace(
      head,
      sortHeader(model.fields.find((f) => f.name === 'name')?.label ?? 'Name', 'name', view, refresh),
      columns.map((field) =>
        sortable(field) ? sortHeader(field.label, field.name, view, refresh) : h('th', { text: field.label }),
      ),
      h('th', { text: 'Activity' }),
    )
  }

  function reload() {
    cursor = null
    load(true).catch(ctx.report)
  }

  function openNewForm() {
    const error = h('div', { class: 'form-error', hidden: true })
    const form = h(
      'form',
      {
        class: 'sheet new-record',
        on: {
          submit: async (event) => {
            event.preventDefault()
            const values = Object.fromEntries(
              Object.entries(readForm(form)).filter(([, value]) => value !== null),
            )
            try {
              const record = await api('POST', `/api/v1/models/${model.name}/records`, { values })
              location.hash = `#/records/${record.id}`
            } catch (failure) {
              ctx.report(failure)
              replace(error, failure.message, failure.reason ? ` ${failure.reason}` : '')
              error.hidden = false
            }
          },
        },
      },
      h('h2', { text: `New ${model.label}` }),
      h(
        'div',
        { class: 'field-grid' },
        model.fields.map((field) => [
          h('label', {
            htmlFor: `field-${field.name}`,
            class: [field.required ? 'required' : '', field.type === 'text' ? 'wide' : ''],
            text: field.label,
          }),
          fieldInput(field, null, lookups),
        ]),
      ),
      error,
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'submit', class: 'primary', text: 'Save' }),
        h('button', {
          type: 'button',
          class: 'secondary',
          text: 'Discard',
          on: { click: () => formSlot.replaceChildren() },
        }),
      ),
    )
    replace(formSlot, form)
    form.querySelector('[data-field]')?.focus()
  }

  more.addEventListener('click', () => load(false).catch(ctx.report))
  drawHead()
  replace(
    container,
    h(
      'div',
      { class: 'view-header' },
      h('h1', { text: `${model.label}s` }),
      h('button', { type: 'button', class: 'primary', text: 'New', on: { click: openNewForm } }),
    ),
    formSlot,
    listToolbar(model, view, () => {
      saveListState(model.name, view)
      reload()
    }),
    archiveFilter(shown, (value) => {
      shown = value
      sessionStorage.setItem(filterKey(model.name), value)
      reload()
    }),
    h('table', { class: 'list' }, h('thead', {}, head), body),
    more,
  )
  await load(true)
  // My activities' states show in the Activity column: when one changes, the list follows.
  return ctx.live.onEvent((event) => {
    if ((event.scope === 'user' && event.type === 'activities.changed') || event.type === 'resync') reload()
  })
}
