import { api } from '../api.js'
import { formatDate, formatTime, h } from '../dom.js'

/**
 * Inputs built from a model's field definitions (GET /api/v1/models), and the values read back from
 * them in the shapes the API validates: numbers as numbers, empty as null, dates as YYYY-MM-DD.
 */

let people = null

/** Users and partners for the user and partner fields (first 200 of each; enough for a first version). */
export async function loadPeople({ fresh = false } = {}) {
  if (!people || fresh) {
    const [users, partners] = await Promise.all([
      api('GET', '/api/v1/users?limit=200'),
      api('GET', '/api/v1/partners?limit=200'),
    ])
    people = { users: users.items, partners: partners.items }
  }
  return people
}

/** An input for one field, holding `value`. `data-field` names it for reading back. */
export function fieldInput(field, value, lookups) {
  const common = {
    name: field.name,
    id: `field-${field.name}`,
    dataset: { field: field.name, type: field.type },
  }
  switch (field.type) {
    case 'text':
      return h('textarea', { ...common, rows: 3, value: value ?? '' })
    case 'integer':
      return h('input', { ...common, type: 'number', step: '1', value: value ?? '' })
    case 'float':
    case 'monetary':
      return h('input', { ...common, type: 'number', step: 'any', value: value ?? '' })
    case 'boolean':
      return h('input', { ...common, type: 'checkbox', checked: value === true })
    case 'date':
      return h('input', { ...common, type: 'date', value: value ?? '' })
    case 'datetime':
      return h('input', { ...common, type: 'datetime-local', value: value ? toLocalInput(value) : '' })
    case 'selection':
      return select(
        common,
        field,
        (field.choices ?? []).map((choice) => [choice.value, choice.label]),
        value,
      )
    case 'user':
      return select(
        common,
        field,
        lookups.users.map((user) => [String(user.id), user.name]),
        value,
      )
    case 'partner':
      // Partner fields name customers and vendors: employees' own contacts are not offered, unless one
      // is already the value (kept, so saving the form does not drop it).
      return select(
        common,
        field,
        lookups.partners
          .filter((partner) => !partner.internal || partner.id === value)
          .map((partner) => [String(partner.id), partner.name]),
        value,
      )
    default:
      return h('input', { ...common, value: value ?? '', maxLength: 500 })
  }
}

function select(common, field, options, value) {
  const current = value === null || value === undefined ? '' : String(value)
  const known = options.some(([optionValue]) => optionValue === current)
  return h(
    'select',
    common,
    field.required && current !== '' ? null : h('option', { value: '', text: '—' }),
    options.map(([optionValue, label]) =>
      h('option', { value: optionValue, text: label, selected: optionValue === current }),
    ),
    // A value outside the first page of people still shows, by id.
    current !== '' && !known ? h('option', { value: current, text: `#${current}`, selected: true }) : null,
  )
}

/** The value of one input, as the API wants it. */
export function readInput(input) {
  const type = input.dataset.type
  if (type === 'boolean') return input.checked
  const raw = input.value
  if (raw === '') return null
  switch (type) {
    case 'integer':
      return Number.parseInt(raw, 10)
    case 'float':
    case 'monetary':
      return Number(raw)
    case 'user':
    case 'partner':
      return Number(raw)
    case 'datetime':
      return new Date(raw).toISOString()
    default:
      return raw
  }
}

/** Every field input under `root`, by field name. */
export function readForm(root) {
  const values = {}
  for (const input of root.querySelectorAll('[data-field]')) values[input.dataset.field] = readInput(input)
  return values
}

/** A value as text, for lists. */
export function displayValue(field, value, lookups) {
  if (value === null || value === undefined || value === '') return ''
  switch (field.type) {
    case 'boolean':
      return value ? 'Yes' : 'No'
    case 'selection':
      return field.choices?.find((choice) => choice.value === value)?.label ?? String(value)
    case 'user':
      return lookups.users.find((user) => user.id === value)?.name ?? `#${value}`
    case 'partner':
      return lookups.partners.find((partner) => partner.id === value)?.name ?? `#${value}`
    case 'monetary':
      return new Intl.NumberFormat(undefined, {
        style: 'currency',
        currency: field.currency ?? 'USD',
      }).format(Number(value))
    case 'date':
      return formatDate(String(value))
    case 'datetime':
      return formatTime(Date.parse(String(value)))
    default:
      return String(value)
  }
}

/** ISO instant → the value of a datetime-local input, in the browser's zone. */
function toLocalInput(iso) {
  const date = new Date(iso)
  const pad = (n) => String(n).padStart(2, '0')
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`
}
