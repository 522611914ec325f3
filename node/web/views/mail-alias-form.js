import { ApiError, api } from '../api.js'
import { h, replace } from '../dom.js'

/**
 * The mail alias forms' parts: a field with its own error, a form that puts each refusal beside the
 * field it names, the "New alias" form, and reading the defaults typed as JSON.
 */

/** Who may write to an alias, as the node checks it (its contact policy), in a person's words. */
const POLICIES = [
  ['everyone', 'Everyone', 'Anyone may write, known or not.'],
  ['partners', 'Known contacts', 'Only addresses of contacts and users the node knows.'],
  [
    'followers',
    'Followers',
    'Only followers of its record, and the company’s users: on an alias that creates records, users only.',
  ],
  ['internal', 'Company users', 'Only the company’s users.'],
]
export const POLICY_LABEL = Object.fromEntries(POLICIES.map(([value, label]) => [value, label]))
const DEFAULTS_EXAMPLE = '{"priority": "high"}'

/** "New alias": its address, what it makes or where it posts, who may write, and the defaults. */
export function aliasCreateForm(ctx, { domain, onCreated }) {
  const name = h('input', {
    id: 'alias-name',
    type: 'text',
    placeholder: 'help',
    autocomplete: 'off',
    autocapitalize: 'none',
    spellcheck: false,
  })
  const kind = h(
    'select',
    { id: 'alias-kind' },
    h('option', { value: 'model', text: 'A new record for each new mail' }),
    h('option', { value: 'record', text: 'Posts into one record' }),
  )
  const model = h(
    'select',
    { id: 'alias-model' },
    ctx.models.map((item) => h('option', { value: item.name, text: item.label })),
  )
  const record = h('input', { id: 'alias-record', type: 'number', min: 1, step: 1, placeholder: '42' })
  const policy = policySelect('alias-policy', 'partners')
  const defaults = defaultsInput('alias-defaults', {})
  const fields = {
    name: field({
      id: 'alias-name',
      label: 'Address',
      required: true,
      control: name,
      cell: h(
        'span',
        { class: 'alias-address-input' },
        name,
        h('span', { class: 'alias-domain', text: domain ? `@${domain}` : '@ your mail domain' }),
      ),
      hint: domain ? null : 'No mail domain is set yet: set one under Outgoing mail.',
    }),
    kind: field({ id: 'alias-kind', label: 'Mail goes to', control: kind }),
    model: field({ id: 'alias-model', label: 'Model', required: true, control: model }),
    recordId: field({
      id: 'alias-record',
      label: 'Record number',
      required: true,
      control: record,
      hint: 'The number in the record’s address (#/records/42); it must be a record of the model.',
    }),
    contactPolicy: field({
      id: 'alias-policy',
      label: 'Who may write',
      control: policy.select,
      hint: policy.hint,
    }),
    defaults: field({ id: 'alias-defaults', label: 'Defaults', control: defaults, hint: defaultsHint() }),
  }
  const showKind = () => {
    const toRecord = kind.value === 'record'
    for (const node of fields.recordId.nodes) node.hidden = !toRecord
    for (const node of fields.defaults.nodes) node.hidden = toRecord
  }
  kind.addEventListener('change', showKind)
  showKind()

  const form = aliasForm({
    ctx,
    fields,
    className: 'sheet alias-create-form',
    heading: h('h2', { text: 'New alias' }),
    submitText: 'Create alias',
    body: () => {
      const toRecord = kind.value === 'record'
      const recordId = record.value.trim()
      if (toRecord && !/^[1-9]\d*$/.test(recordId))
        throw new FieldError('recordId', 'Enter the number of the record mail should be posted into.')
      return {
        name: name.value.trim(),
        model: model.value,
        recordId: toRecord ? Number(recordId) : null,
        contactPolicy: policy.select.value,
        defaults: toRecord ? {} : parseDefaults(defaults.value),
      }
    },
    send: async (body) => {
      onCreated(await api('POST', '/api/v1/mail/aliases', body))
      form.reset()
      policy.select.dispatchEvent(new Event('change'))
      showKind()
    },
  })
  return form
}

/** A problem with one field, found before sending. */
class FieldError extends Error {
  constructor(field, message) {
    super(message)
    this.field = field
  }
}

/**
 * A form whose fields each show their own error: what the page found before sending, or what the node
 * refused, beside the field its answer names; any other refusal under the form, in the node's words.
 */
export function aliasForm({
  ctx,
  fields,
  className,
  heading = null,
  submitText,
  extraActions = [],
  body,
  send,
}) {
  const error = h('div', { class: 'form-error', hidden: true, attrs: { role: 'alert' } })
  const submit = h('button', { type: 'submit', class: 'primary', text: submitText })
  const clear = () => {
    error.hidden = true
    for (const item of Object.values(fields)) item.show(null)
  }
  const form = h(
    'form',
    {
      class: className,
      attrs: { novalidate: '' },
      on: {
        submit: async (event) => {
          event.preventDefault()
          clear()
          let payload
          try {
            payload = body()
          } catch (failure) {
            if (!(failure instanceof FieldError)) throw failure
            fields[failure.field].show(failure.message, true)
            return
          }
          submit.disabled = true
          try {
            await send(payload)
          } catch (failure) {
            if (!(failure instanceof ApiError)) return ctx.report(failure)
            const named = refusedField(failure)
            if (named && fields[named.field]) fields[named.field].show(named.text, true)
            else {
              replace(
                error,
                h('strong', { text: failure.message }),
                failure.reason ? ` ${failure.reason}` : '',
              )
              error.hidden = false
            }
          } finally {
            submit.disabled = false
          }
        },
      },
    },
    heading,
    h(
      'div',
      { class: 'field-grid alias-grid' },
      Object.values(fields).map((item) => item.nodes),
    ),
    error,
    h('div', { class: 'actions' }, submit, extraActions),
  )
  return form
}

/**
 * A label and its control, with a hint and an error slot the control is described by. `cell` is what
 * stands beside the label when it is more than the control (an input with its domain).
 */
export function field({ id, label, control, cell = control, hint = null, required = false }) {
  const error = h('p', { class: 'field-error', id: `${id}-error`, hidden: true })
  const note = hint ? h('p', { class: 'hint muted', id: `${id}-hint`, text: hint }) : null
  control.setAttribute('aria-describedby', [note?.id, error.id].filter(Boolean).join(' '))
  const nodes = [
    h('label', { htmlFor: id, class: required ? 'required' : undefined, text: label }),
    h('div', { class: 'field-cell' }, cell, note, error),
  ]
  return {
    nodes,
    show(text, focus = false) {
      error.textContent = text ?? ''
      error.hidden = !text
      if (text) control.setAttribute('aria-invalid', 'true')
      else control.removeAttribute('aria-invalid')
      if (text && focus) control.focus()
    },
  }
}

export function policySelect(id, value) {
  const select = h(
    'select',
    { id },
    // The default selection, so that resetting the form comes back to it.
    POLICIES.map(([policy, label]) =>
      h('option', { value: policy, text: label, defaultSelected: policy === value }),
    ),
  )
  const describe = () => POLICIES.find(([policy]) => policy === select.value)?.[2] ?? ''
  const hint = describe()
  select.addEventListener('change', () => {
    const note = document.getElementById(`${id}-hint`)
    if (note) note.textContent = describe()
  })
  return { select, hint }
}

export function defaultsInput(id, defaults) {
  return h('textarea', {
    id,
    class: 'defaults-input',
    rows: 3,
    spellcheck: false,
    placeholder: DEFAULTS_EXAMPLE,
    value: Object.keys(defaults).length === 0 ? '' : JSON.stringify(defaults, null, 2),
  })
}

export function defaultsHint() {
  return `First values of the records it creates, as JSON: field names and values, such as ${DEFAULTS_EXAMPLE}. Leave empty for none.`
}

/** The defaults box as an object; a FieldError that says how to fix it otherwise. */
export function parseDefaults(text) {
  const trimmed = text.trim()
  if (trimmed === '') return {}
  let value
  try {
    value = JSON.parse(trimmed)
  } catch (error) {
    throw new FieldError(
      'defaults',
      `This is not valid JSON (${error.message}). Write an object such as ${DEFAULTS_EXAMPLE}.`,
    )
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new FieldError(
      'defaults',
      `Write one object in braces, such as ${DEFAULTS_EXAMPLE}, not a list or a single value.`,
    )
  return value
}

/**
 * The field a refusal names, and what to show beside it. The node's reason starts with the field's
 * path ("invalid: defaults: priority: …"); a name already taken is about the name.
 */
function refusedField(failure) {
  if (failure.code === 'E_MAIL_ALIAS_TAKEN') return { field: 'name', text: failure.message }
  const detail = failure.reason.replace(/^[a-z-]+: /, '')
  const path = failure.details?.[0]?.path ?? /^([A-Za-z]+)(?:[.:])/.exec(detail)?.[1]
  if (!path) return null
  const field = path.split('.')[0]
  const rest = detail.startsWith(`${field}: `) ? detail.slice(field.length + 2) : detail
  return { field, text: failure.code === 'E_INVALID_BODY' ? rest : `${failure.message} ${rest}` }
}

/** The domain aliases receive at, as the node shows it in their addresses; null while none is set. */
export function mailDomainOf(aliases) {
  const address = aliases.find((alias) => alias.address)?.address
  return address ? address.slice(address.lastIndexOf('@') + 1) : null
}
