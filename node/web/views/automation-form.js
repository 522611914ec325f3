import { ApiError, api } from '../api.js'
import { h, replace } from '../dom.js'
import { field } from './mail-alias-form.js'

/** The automation pages' addresses, for the sidebar link, its highlight, and each rule's runs. */
export const AUTOMATION_HASH = '#/settings/automation'
export const ruleHash = (id) => `${AUTOMATION_HASH}/${id}`

/** Field types whose values are numbers on the wire (ids included). */
const NUMERIC = new Set(['integer', 'float', 'monetary', 'user', 'partner'])

/** What the actions box starts with: the action most rules begin with, a note on the record. */
const EXAMPLE_ACTIONS = [{ type: 'post_message', kind: 'note', body: 'Stage reached on {{name}}' }]

/** When a rule fires, in a person's words: "when created", "when stage is set to Won", "when updated (Stage)". */
export function triggerInWords(trigger, model) {
  const fieldOf = (name) => model?.fields.find((item) => item.name === name)
  if (trigger.kind === 'create') return 'when created'
  if (trigger.kind === 'update') {
    const labels = trigger.fields.map((name) => fieldOf(name)?.label.toLowerCase() ?? name)
    return labels.length === 0 ? 'when updated' : `when updated (${labels.join(', ')})`
  }
  const watched = fieldOf(trigger.field)
  const choice = watched?.choices?.find((item) => item.value === trigger.value)
  const value = choice?.label ?? (trigger.value === null ? 'nothing' : String(trigger.value))
  return `when ${watched?.label.toLowerCase() ?? trigger.field} is set to ${value}`
}

/**
 * "New rule" (or, given `rule`, its edit): name, model, trigger, the conditions before and after the
 * change and the actions as JSON, and whether it is active. The node checks the rule against its model;
 * its reasons show beside the form, each by the part of the rule it is about.
 */
export function ruleForm(ctx, { models, rule = null, onSaved, onCancel = null }) {
  const prefix = rule ? `automation-edit-${rule.id}` : 'automation-new'
  const id = (part) => `${prefix}-${part}`
  const name = h('input', { id: id('name'), type: 'text', maxLength: 200, value: rule?.name ?? '' })
  const model = h(
    'select',
    { id: id('model'), disabled: rule !== null },
    models.map((item) =>
      h('option', { value: item.name, text: item.label, selected: item.name === (rule?.model ?? 'lead') }),
    ),
  )
  const kind = h(
    'select',
    { id: id('kind') },
    [
      ['create', 'When a record is created'],
      ['update', 'When a record is updated'],
      ['set', 'When a field is set to a value'],
    ].map(([value, text]) => h('option', { value, text, selected: value === (rule?.trigger.kind ?? 'set') })),
  )
  const watched = h('select', { id: id('field'), attrs: { 'aria-label': 'Field' } })
  const valueCell = h('span', { class: 'automation-value' })
  let value = null
  const changed = h('input', {
    id: id('fields'),
    type: 'text',
    placeholder: 'stage, user_id (empty: any change)',
    value: rule?.trigger.kind === 'update' ? rule.trigger.fields.join(', ') : '',
    attrs: { 'aria-label': 'Changed fields' },
  })
  const json = (part, text, placeholder) =>
    h('textarea', {
      id: id(part),
      class: 'automation-json',
      rows: part === 'actions' ? 6 : 3,
      spellcheck: false,
      placeholder,
      value: text,
    })
  const pretty = (item) => (item === null || item === undefined ? '' : JSON.stringify(item, null, 2))
  const after = json(
    'after',
    pretty(rule?.after),
    '{ "field": "expected_revenue", "op": "gte", "value": 1000 }',
  )
  const before = json('before', pretty(rule?.before), '{ "field": "stage", "op": "ne", "value": "won" }')
  const actions = json('actions', pretty(rule?.actions ?? EXAMPLE_ACTIONS), '')
  const active = h('input', { id: id('active'), type: 'checkbox', checked: rule?.active ?? true })

  const modelOf = () => models.find((item) => item.name === model.value)
  /** The field choices of the model chosen, and a value input that fits the field watched. */
  function renderTrigger(initial) {
    const fields = modelOf()?.fields ?? []
    const chosen = initial?.field ?? watched.value ?? 'stage'
    replace(
      watched,
      fields.map((item) =>
        h('option', { value: item.name, text: item.label, selected: item.name === chosen }),
      ),
    )
    const target = fields.find((item) => item.name === watched.value)
    value = target?.choices
      ? h(
          'select',
          { id: id('value'), attrs: { 'aria-label': 'Value' } },
          target.choices.map((choice) =>
            h('option', {
              value: choice.value,
              text: choice.label,
              selected: choice.value === initial?.value,
            }),
          ),
        )
      : h('input', {
          id: id('value'),
          type: 'text',
          value: initial?.value === undefined || initial.value === null ? '' : String(initial.value),
          attrs: { 'aria-label': 'Value' },
        })
    replace(valueCell, value)
    const shown = kind.value
    watched.hidden = shown !== 'set'
    valueCell.hidden = shown !== 'set'
    changed.hidden = shown !== 'update'
  }
  model.addEventListener('change', () => renderTrigger(null))
  watched.addEventListener('change', () => renderTrigger(null))
  kind.addEventListener('change', () => renderTrigger({ field: watched.value }))
  renderTrigger(rule?.trigger.kind === 'set' ? rule.trigger : null)

  const fields = {
    name: field({ id: id('name'), label: 'Name', required: true, control: name }),
    model: field({ id: id('model'), label: 'Model', control: model }),
    trigger: field({
      id: id('kind'),
      label: 'Trigger',
      control: kind,
      cell: h('div', { class: 'automation-trigger' }, kind, watched, valueCell, changed),
    }),
    after: field({
      id: id('after'),
      label: 'Condition after',
      control: after,
      hint: 'Optional: the record must meet it after the change. JSON: field/op/value, joined with and / or / not.',
    }),
    before: field({
      id: id('before'),
      label: 'Condition before',
      control: before,
      hint: 'Optional, for updates: the record must have met it before the change.',
    }),
    actions: field({
      id: id('actions'),
      label: 'Actions',
      required: true,
      control: actions,
      hint: 'JSON list, run in order: post_message, set_values, schedule_activity, add_followers, remove_followers. {{field}} in a text is the record’s value.',
    }),
    active: field({
      id: id('active'),
      label: 'Active',
      control: active,
      cell: h('label', { class: 'webhook-event' }, active, ' Runs on every matching change'),
    }),
  }
  const error = h('div', { class: 'form-error automation-error', hidden: true, attrs: { role: 'alert' } })
  const submit = h('button', { type: 'submit', class: 'primary', text: rule ? 'Save rule' : 'Create rule' })

  /** A JSON box's value, or undefined after saying beside it why it does not read. */
  function parsed(box, key, empty) {
    const text = box.value.trim()
    if (text === '') return empty
    try {
      return JSON.parse(text)
    } catch (failure) {
      fields[key].show(`This is not JSON: ${failure.message}`, true)
      return undefined
    }
  }

  function triggerValue() {
    if (kind.value === 'create') return { kind: 'create' }
    if (kind.value === 'update') {
      const names = changed.value.split(',').map((item) => item.trim())
      return { kind: 'update', fields: names.filter(Boolean) }
    }
    const type = modelOf()?.fields.find((item) => item.name === watched.value)?.type
    const text = value.value.trim()
    let typed = text
    if (text === '') typed = null
    else if (NUMERIC.has(type)) typed = Number(text)
    else if (type === 'boolean') typed = text === 'true'
    return { kind: 'set', field: watched.value, value: typed }
  }

  function showRefusal(failure) {
    const reason = failure.reason.replace(/^[a-z-]+: /, '')
    const problems = failure.details.length
      ? failure.details.map((item) => `${item.path}: ${item.message}`)
      : reason.split('; ').filter(Boolean)
    for (const problem of problems) {
      const part = /^([a-z]+)/i.exec(problem)?.[1]
      if (part && fields[part]) fields[part].show(problem.slice(problem.indexOf(':') + 1).trim())
    }
    replace(
      error,
      h('strong', { text: failure.message }),
      h(
        'ul',
        { class: 'automation-problems' },
        problems.map((text) => h('li', { text })),
      ),
    )
    error.hidden = false
  }

  const form = h(
    'form',
    {
      class: 'sheet automation-form',
      attrs: { novalidate: '' },
      on: {
        submit: async (event) => {
          event.preventDefault()
          error.hidden = true
          for (const item of Object.values(fields)) item.show(null)
          if (name.value.trim() === '') return fields.name.show('Give the rule a name.', true)
          const body = {
            name: name.value.trim(),
            trigger: triggerValue(),
            after: parsed(after, 'after', null),
            before: parsed(before, 'before', null),
            actions: parsed(actions, 'actions', []),
            active: active.checked,
          }
          if ([body.after, body.before, body.actions].includes(undefined)) return
          submit.disabled = true
          try {
            const saved = rule
              ? await api('PATCH', `/api/v1/automation-rules/${rule.id}`, body)
              : await api('POST', '/api/v1/automation-rules', { ...body, model: model.value })
            onSaved(saved)
          } catch (failure) {
            if (!(failure instanceof ApiError) || failure.status >= 500) return ctx.report(failure)
            showRefusal(failure)
          } finally {
            submit.disabled = false
          }
        },
      },
    },
    h('h2', { text: rule ? `Edit ${rule.name}` : 'New rule' }),
    h(
      'div',
      { class: 'field-grid alias-grid' },
      Object.values(fields).map((item) => item.nodes),
    ),
    error,
    h(
      'div',
      { class: 'actions' },
      submit,
      onCancel
        ? h('button', { type: 'button', class: 'secondary', text: 'Cancel', on: { click: onCancel } })
        : null,
    ),
  )
  return form
}
