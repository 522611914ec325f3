import { ApiError, api } from '../api.js'
import { h, replace } from '../dom.js'
import { actionList, NO_ACTIONS } from './automation-actions.js'
import { hookPanel } from './automation-hook.js'
import { triggerControls } from './automation-trigger.js'
import { field } from './mail-alias-form.js'

/** The automation pages' addresses, for the sidebar link, its highlight, and each rule's runs. */
export const AUTOMATION_HASH = '#/settings/automation'
export const ruleHash = (id) => `${AUTOMATION_HASH}/${id}`

/** What a new rule's actions start with: the action most rules begin with, a note on the record. */
const EXAMPLE_ACTIONS = [{ type: 'post_message', kind: 'note', body: 'Stage reached on {{name}}' }]

/**
 * "New rule" (or, given `rule`, its edit): name, model, trigger, the conditions before and after the
 * change (JSON), the actions, each with its own controls, and whether it is active. The node checks
 * the rule against its model; its reasons show beside the form, each by the part of the rule it is
 * about. A webhook rule being edited shows its secret URL; `onRotated` gets the rule with a new one.
 */
export function ruleForm(ctx, { models, rule = null, onSaved, onCancel = null, onRotated }) {
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
  const modelOf = () => models.find((item) => item.name === model.value)
  const trigger = triggerControls({
    id,
    modelOf,
    initial: rule?.trigger ?? null,
    hooked: Boolean(rule?.hookUrl),
  })
  const actions = actionList(ctx, { id, models, modelOf, initial: rule?.actions ?? EXAMPLE_ACTIONS })
  model.addEventListener('change', () => {
    trigger.refresh()
    actions.modelChanged()
  })
  const json = (part, text, placeholder) =>
    h('textarea', {
      id: id(part),
      class: 'automation-json',
      rows: 3,
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
  const active = h('input', { id: id('active'), type: 'checkbox', checked: rule?.active ?? true })

  const fields = {
    name: field({ id: id('name'), label: 'Name', required: true, control: name }),
    model: field({ id: id('model'), label: 'Model', control: model }),
    trigger: field({ id: id('kind'), label: 'Trigger', control: trigger.control, cell: trigger.cell }),
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
      control: actions.control,
      cell: actions.nodes,
      hint: 'Run in order. {{field}} in a text is the record’s value.',
    }),
    active: field({
      id: id('active'),
      label: 'Active',
      control: active,
      cell: h('label', { class: 'webhook-event' }, active, ' Runs on every matching change'),
    }),
  }
  const hook =
    rule?.hookUrl && rule.trigger.kind === 'webhook'
      ? [
          h('label', { htmlFor: id('hook-url'), text: 'Secret URL' }),
          hookPanel(ctx, { rule, id: id('hook-url'), onRotated }),
        ]
      : null
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

  function showRefusal(failure) {
    const reason = failure.reason.replace(/^[a-z-]+: /, '')
    const problems = failure.details.length
      ? failure.details.map((item) => `${item.path}: ${item.message}`)
      : reason.split('; ').filter(Boolean)
    for (const problem of problems) {
      const text = problem.slice(problem.indexOf(':') + 1).trim()
      // "actions[2].subject: …" goes beside the third action's subject.
      const action = /^actions\[(\d+)\](?:\.([A-Za-z]+))?/.exec(problem)
      if (action && actions.show(Number(action[1]), action[2], text)) continue
      const part = /^([a-z]+)/i.exec(problem)?.[1]
      if (part && fields[part]) fields[part].show(text)
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

  /** The rule as the API takes it, or undefined after saying beside the form what is missing. */
  function read() {
    if (name.value.trim() === '') {
      fields.name.show('Give the rule a name.', true)
      return undefined
    }
    const when = trigger.read()
    if (when.problem) {
      fields.trigger.show(when.problem)
      when.control.focus()
      return undefined
    }
    const body = {
      name: name.value.trim(),
      trigger: when.trigger,
      after: parsed(after, 'after', null),
      before: parsed(before, 'before', null),
      actions: actions.read(),
      active: active.checked,
    }
    if (body.actions?.length === 0) fields.actions.show(NO_ACTIONS, true)
    if ([body.after, body.before, body.actions].includes(undefined) || body.actions.length === 0)
      return undefined
    return body
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
          actions.clear()
          const body = read()
          if (!body) return
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
      // The secret URL of a webhook rule goes right under its trigger, which it belongs to.
      Object.entries(fields).map(([key, item]) => (key === 'trigger' ? [item.nodes, hook] : item.nodes)),
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
