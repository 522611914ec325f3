import { api } from '../api.js'
import { h, replace } from '../dom.js'
import { icon } from '../icon.js'

const CATEGORIES = [
  ['default', 'To-do'],
  ['phonecall', 'Call (has a start time)'],
  ['meeting', 'Meeting (has a start time)'],
  ['upload', 'Upload a document'],
  ['signature', 'Signature'],
]
const UNITS = ['days', 'weeks', 'months']
const CHAINING = [
  ['none', 'Nothing'],
  ['suggest', 'Suggest next types'],
  ['trigger', 'Schedule the next type'],
]

const options = (pairs, selected) =>
  pairs.map(([value, text]) => h('option', { value, text, selected: value === selected }))

/**
 * The form to create or change an activity type: icon (picked from the allowed ones, each drawn),
 * default delay, chaining and next types, default assignee and summary. The node checks the whole
 * (unknown next type, "trigger" with other than one next type, an inactive user) and says why.
 */
export function activityTypeForm(ctx, { type, types, icons, users, onSaved, onClose }) {
  const id = (name) => `type-${name}`
  const name = h('input', { id: id('name'), required: true, maxLength: 100, value: type?.name ?? '' })
  let chosenIcon = type?.icon ?? icons[0]
  const iconPicker = h('div', {
    class: 'icon-picker',
    attrs: { role: 'radiogroup', 'aria-labelledby': id('icon-label') },
  })
  function renderIcons() {
    replace(
      iconPicker,
      icons.map((iconName) =>
        h(
          'button',
          {
            type: 'button',
            class: iconName === chosenIcon ? 'icon-choice chosen' : 'icon-choice',
            dataset: { icon: iconName },
            attrs: { role: 'radio', 'aria-checked': String(iconName === chosenIcon), title: iconName },
            on: {
              click: () => {
                chosenIcon = iconName
                renderIcons()
              },
            },
          },
          icon(iconName, { label: iconName }),
        ),
      ),
    )
  }
  renderIcons()
  const category = h('select', { id: id('category') }, options(CATEGORIES, type?.category ?? 'default'))
  const delayCount = h('input', {
    id: id('delay'),
    type: 'number',
    min: 0,
    max: 3650,
    value: String(type?.delay.count ?? 0),
    class: 'narrow',
  })
  const delayUnit = h(
    'select',
    { attrs: { 'aria-label': 'Delay unit' } },
    options(
      UNITS.map((unit) => [unit, unit]),
      type?.delay.unit ?? 'days',
    ),
  )
  const delayFrom = h(
    'select',
    { attrs: { 'aria-label': 'Delay counted from' } },
    options(
      [
        ['previous_activity', 'after the previous deadline'],
        ['current_date', 'after it is done'],
      ],
      type?.delay.from ?? 'previous_activity',
    ),
  )
  const chaining = h('select', { id: id('chaining') }, options(CHAINING, type?.chaining ?? 'none'))
  const others = types.filter((other) => other.key !== type?.key && other.active)
  const next = h(
    'select',
    { id: id('next'), multiple: true, size: Math.min(6, Math.max(2, others.length)) },
    others.map((other) =>
      h('option', { value: other.key, text: other.name, selected: type?.nextTypes.includes(other.key) }),
    ),
  )
  const defaultUser = h(
    'select',
    { id: id('user') },
    h('option', { value: '', text: 'Whoever schedules it' }),
    users
      .filter((user) => user.active || user.id === type?.defaultUserId)
      .map((user) =>
        h('option', { value: String(user.id), text: user.name, selected: user.id === type?.defaultUserId }),
      ),
  )
  const summary = h('input', { id: id('summary'), maxLength: 200, value: type?.defaultSummary ?? '' })

  async function submit(event) {
    event.preventDefault()
    const body = {
      name: name.value,
      icon: chosenIcon,
      category: category.value,
      delay: { count: Number(delayCount.value || 0), unit: delayUnit.value, from: delayFrom.value },
      chaining: chaining.value,
      nextTypes: chaining.value === 'none' ? [] : [...next.selectedOptions].map((option) => option.value),
      defaultUserId: defaultUser.value ? Number(defaultUser.value) : null,
      defaultSummary: summary.value.trim() || null,
    }
    try {
      const saved = type
        ? await api('PATCH', `/api/v1/activity-types/${type.id}`, body)
        : await api('POST', '/api/v1/activity-types', body)
      ctx.notify(type ? `${saved.name} saved` : `${saved.name} created`)
      onSaved(saved)
    } catch (error) {
      ctx.report(error)
    }
  }

  const form = h(
    'form',
    { class: 'activity-type-form', on: { submit } },
    h('h2', { text: type ? `Edit ${type.name}` : 'New activity type' }),
    h(
      'div',
      { class: 'field-grid' },
      h('label', { htmlFor: name.id, text: 'Name', class: 'required' }),
      name,
      h('span', { id: id('icon-label'), class: 'label', text: 'Icon' }),
      iconPicker,
      h('label', { htmlFor: category.id, text: 'Kind' }),
      category,
      h('label', { htmlFor: delayCount.id, text: 'Default delay' }),
      h('div', { class: 'inline-fields' }, delayCount, delayUnit, delayFrom),
      h('label', { htmlFor: chaining.id, text: 'When done' }),
      chaining,
      h('label', { htmlFor: next.id, text: 'Next types' }),
      h(
        'div',
        {},
        next,
        h('div', { class: 'muted hint', text: 'Suggest: one or more. Schedule: exactly one.' }),
      ),
      h('label', { htmlFor: defaultUser.id, text: 'Default assignee' }),
      defaultUser,
      h('label', { htmlFor: summary.id, text: 'Default summary' }),
      summary,
    ),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', text: type ? 'Save' : 'Create type' }),
      h('button', { type: 'button', class: 'secondary', text: 'Discard', on: { click: onClose } }),
    ),
  )
  queueMicrotask(() => name.focus())
  return form
}
