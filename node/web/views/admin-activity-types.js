import { api } from '../api.js'
import { h, replace } from '../dom.js'
import { icon } from '../icon.js'
import { activityTypeForm } from './activity-type-form.js'
import { ACTIVITY_TYPES_HASH } from './admin-users.js'
import { loadPeople } from './fields.js'
import { forbidden, isForbidden } from './mail-settings.js'

const CHAINING_LABELS = { none: '—', suggest: 'Suggests', trigger: 'Schedules' }

/** "2 days after the previous deadline", "no delay". */
export function delayLabel(delay) {
  if (delay.count === 0) return 'No delay'
  const unit = delay.count === 1 ? delay.unit.replace(/s$/, '') : delay.unit
  return `${delay.count} ${unit}`
}

/**
 * Settings → Activity types (administrators): each type with its icon, delay and chaining; create,
 * edit, archive (a type in use is kept for its activities, and offered no more) and bring back.
 */
export async function renderAdminActivityTypes(ctx, container) {
  ctx.highlight(ACTIVITY_TYPES_HASH)
  const title = h('h1', { text: 'Activity types' })
  if (ctx.user.role !== 'admin') return forbidden(container, title)
  let types
  let icons
  let users
  try {
    ;[types, icons, users] = await Promise.all([
      api('GET', '/api/v1/activity-types?archived=true').then((page) => page.items),
      api('GET', '/api/v1/activity-types/icons').then((page) => page.items),
      loadPeople({ fresh: true }).then((people) => people.users),
    ])
  } catch (error) {
    if (!isForbidden(error)) throw error
    return forbidden(container, title)
  }
  const formSlot = h('div')
  const rows = h('tbody')
  const nameOf = (key) => types.find((type) => type.key === key)?.name ?? key
  const userName = (id) => users.find((user) => user.id === id)?.name ?? `#${id}`

  function render() {
    rows.replaceChildren(...types.map(typeRow))
  }

  function saved(type) {
    const known = types.some((item) => item.id === type.id)
    types = known ? types.map((item) => (item.id === type.id ? type : item)) : [...types, type]
    formSlot.replaceChildren()
    render()
  }

  function openForm(type) {
    replace(
      formSlot,
      activityTypeForm(ctx, {
        type,
        types,
        icons,
        users,
        onSaved: saved,
        onClose: () => formSlot.replaceChildren(),
      }),
    )
  }

  async function setActive(type, active) {
    try {
      saved(await api('PATCH', `/api/v1/activity-types/${type.id}`, { active }))
      ctx.notify(active ? `${type.name} is offered again` : `${type.name} archived`)
    } catch (error) {
      ctx.report(error)
    }
  }

  function typeRow(type) {
    return h(
      'tr',
      { class: 'activity-type-row', dataset: { key: type.key, active: String(type.active) } },
      h(
        'td',
        { dataset: { label: 'Type' } },
        h('span', { class: 'type-name' }, icon(type.icon), ' ', h('strong', { text: type.name })),
        h('div', {}, h('code', { class: 'muted', text: type.key })),
      ),
      h('td', { dataset: { label: 'Delay' }, text: delayLabel(type.delay) }),
      h(
        'td',
        { dataset: { label: 'When done' } },
        type.chaining === 'none'
          ? '—'
          : `${CHAINING_LABELS[type.chaining]}: ${type.nextTypes.map(nameOf).join(', ')}`,
      ),
      h('td', {
        dataset: { label: 'Default assignee' },
        text: type.defaultUserId === null ? 'Whoever schedules' : userName(type.defaultUserId),
      }),
      h(
        'td',
        { dataset: { label: 'Status' } },
        h('span', {
          class: `tag outcome ${type.active ? 'outcome-ok' : 'outcome-info'}`,
          text: type.active ? 'Offered' : 'Archived',
        }),
      ),
      h(
        'td',
        { class: 'row-actions', dataset: { label: 'Actions' } },
        h('button', {
          type: 'button',
          class: 'secondary small',
          text: 'Edit',
          attrs: { 'aria-label': `Edit ${type.name}` },
          on: { click: () => openForm(type) },
        }),
        h('button', {
          type: 'button',
          class: 'link-button small',
          text: type.active ? 'Archive' : 'Bring back',
          attrs: { 'aria-label': `${type.active ? 'Archive' : 'Bring back'} ${type.name}` },
          on: { click: () => void setActive(type, !type.active) },
        }),
      ),
    )
  }

  render()
  replace(
    container,
    h(
      'div',
      { class: 'view-header' },
      title,
      h('button', {
        type: 'button',
        class: 'primary',
        text: 'New type',
        on: { click: () => openForm(null) },
      }),
    ),
    formSlot,
    h(
      'table',
      { class: 'list stack-table activity-types' },
      h('caption', { class: 'visually-hidden', text: 'Activity types' }),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Type', 'Delay', 'When done', 'Default assignee', 'Status'].map((label) =>
            h('th', { text: label, attrs: { scope: 'col' } }),
          ),
          h('th', { attrs: { scope: 'col' } }, h('span', { class: 'visually-hidden', text: 'Actions' })),
        ),
      ),
      rows,
    ),
  )
}
