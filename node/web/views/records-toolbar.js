import { h } from '../dom.js'
import { icon } from '../icon.js'

/** Typing pauses this long (ms) before the list asks the node: one request per word, not per key. */
const SEARCH_DELAY_MS = 300

const ACTIVITY_FILTERS = [
  ['', 'Any activity'],
  ['overdue', 'Overdue'],
  ['today', 'Due today'],
  ['planned', 'Planned'],
]

/** Field types the node sorts by (records/list-query.ts): not long text, not restricted fields. */
export const sortable = (field) => field.type !== 'text' && !field.restricted

/**
 * How a list is searched, filtered and sorted, kept for the tab: back from a record, the list is as it
 * was left. `archived` is kept under its own older key.
 */
export function loadListState(modelName) {
  const stored = JSON.parse(sessionStorage.getItem(`records-view:${modelName}`) ?? '{}')
  return {
    q: typeof stored.q === 'string' ? stored.q : '',
    mine: stored.mine === true,
    activity: ACTIVITY_FILTERS.some(([value]) => value === stored.activity) ? stored.activity : '',
    sort: typeof stored.sort === 'string' ? stored.sort : null,
    order: stored.order === 'desc' ? 'desc' : 'asc',
  }
}

export function saveListState(modelName, state) {
  const { q, mine, activity, sort, order } = state
  sessionStorage.setItem(`records-view:${modelName}`, JSON.stringify({ q, mine, activity, sort, order }))
}

/** The list's query string parameters for `state`. */
export function listQuery(state) {
  const query = {}
  if (state.q.trim()) query.q = state.q.trim()
  if (state.mine) query.mine = 'true'
  if (state.activity) query.activity = state.activity
  if (state.sort) Object.assign(query, { sort: state.sort, order: state.order })
  return query
}

/** Search box, "My records" and the activity filter; `onChange()` after `state` changed. */
export function listToolbar(model, state, onChange) {
  let timer = null
  const search = h('input', {
    type: 'search',
    class: 'list-search-input',
    value: state.q,
    placeholder: 'Search',
    maxLength: 100,
    attrs: { 'aria-label': `Search ${model.label.toLowerCase()}s` },
    on: {
      input: () => {
        clearTimeout(timer)
        timer = setTimeout(() => {
          state.q = search.value
          onChange()
        }, SEARCH_DELAY_MS)
      },
    },
  })
  const mine = h('button', {
    type: 'button',
    class: 'secondary list-mine',
    text: 'My records',
    attrs: { 'aria-pressed': String(state.mine) },
    on: {
      click: () => {
        state.mine = !state.mine
        mine.setAttribute('aria-pressed', String(state.mine))
        onChange()
      },
    },
  })
  const activity = h(
    'select',
    {
      class: 'list-activity-filter',
      attrs: { 'aria-label': 'Activity' },
      on: {
        change: () => {
          state.activity = activity.value
          onChange()
        },
      },
    },
    ACTIVITY_FILTERS.map(([value, label]) => h('option', { value, text: label })),
  )
  activity.value = state.activity
  return h(
    'div',
    { class: 'list-toolbar' },
    h('label', { class: 'list-search' }, icon('search'), search),
    mine,
    activity,
  )
}

/**
 * A column header: a button that sorts by the column, ascending first, then descending. `aria-sort`
 * tells screen readers which column orders the list.
 */
export function sortHeader(label, name, state, onChange) {
  const active = state.sort === name
  const th = h('th', {
    attrs: { 'aria-sort': active ? (state.order === 'asc' ? 'ascending' : 'descending') : 'none' },
  })
  th.append(
    h(
      'button',
      {
        type: 'button',
        class: 'sort-button',
        dataset: { sort: name },
        on: {
          click: () => {
            state.order = active && state.order === 'asc' ? 'desc' : 'asc'
            state.sort = name
            onChange()
          },
        },
      },
      label,
      active ? icon(state.order === 'asc' ? 'arrow-up' : 'arrow-down') : null,
    ),
  )
  return th
}
