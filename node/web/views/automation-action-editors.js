import { h, replace } from '../dom.js'
import { contactPicker } from './automation-contacts.js'
import { WEBHOOKS_HASH } from './webhook-form.js'

/**
 * One editor per kind of action: the controls it needs, and `read()` giving the action as the API
 * takes it, or a problem and the control it is about. `controls` names each control by the key of
 * the action it edits, so that the node's reason about `actions[2].subject` shows by the subject.
 */

/** Each kind, as the "Add action" menu offers it, with what a new one starts with. */
export const ACTION_TYPES = [
  ['post_message', 'Post a message or log a note', { kind: 'note', body: '' }],
  ['send_email', 'Send an email', { to: { partnerIds: [] }, subject: '', body: '' }],
  ['set_values', 'Set values', { values: {} }],
  ['schedule_activity', 'Schedule an activity', { activityType: 'todo' }],
  ['create_record', 'Create a record', { values: {} }],
  ['add_followers', 'Add followers', { partnerIds: [] }],
  ['remove_followers', 'Remove followers', { partnerIds: [] }],
  ['call_webhook', 'Call a webhook', {}],
]

/**
 * A control under its label, so that it is found by its label's text alone (a label around a select
 * would also be named by the select's options). `cell` is what shows, when more than the control.
 */
const labelled = (text, control, { hint = null, cell = control } = {}) =>
  h(
    'div',
    { class: 'automation-action-field' },
    h('label', { class: 'automation-action-label', htmlFor: control.id, text }),
    cell,
    hint ? h('span', { class: 'hint muted', text: hint }) : null,
  )

const template = (id, value, rows = 3) =>
  h('textarea', { id, rows, value: value ?? '', placeholder: 'Text with {{name}}, {{stage}}…' })

/** A JSON object box (set_values, create_record): its text, and the object it reads as. */
function jsonBox(id, value, placeholder) {
  const box = h('textarea', {
    id,
    class: 'automation-json',
    rows: 3,
    spellcheck: false,
    placeholder,
    value: value && Object.keys(value).length > 0 ? JSON.stringify(value, null, 2) : '',
  })
  const read = () => {
    let parsed
    try {
      parsed = JSON.parse(box.value.trim() || '{}')
    } catch (failure) {
      return { problem: `This is not JSON: ${failure.message}` }
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
      return { problem: 'Give the values as a JSON object: { "field": value }.' }
    return { values: parsed }
  }
  return { box, read }
}

/**
 * "The record's …" for a user or partner field of the model, refilled when the model changes.
 * `none` is the label of choosing no field, when the action can do without one.
 */
function personField(env, id, value, none, extra = null) {
  const select = h('select', { id })
  env.onModel(() => {
    const fields = (env.modelOf()?.fields ?? []).filter((item) => ['user', 'partner'].includes(item.type))
    const current = select.value || value
    replace(
      select,
      none ? h('option', { value: '', text: none }) : null,
      fields.map((item) =>
        h('option', {
          value: item.name,
          text: `The record’s ${item.label}`,
          selected: item.name === current,
        }),
      ),
      extra,
    )
  })
  return select
}

const EDITORS = {
  post_message(_ctx, _env, action, id) {
    const kind = h(
      'select',
      { id: id('kind') },
      [
        ['note', 'Log a note (the company only)'],
        ['message', 'Send a message (followers are told)'],
      ].map(([value, text]) => h('option', { value, text, selected: value === action.kind })),
    )
    const body = template(id('body'), action.body)
    return {
      nodes: [labelled('Kind', kind), labelled('Text', body)],
      controls: { kind, body },
      read: () =>
        body.value.trim() === ''
          ? { problem: 'Write the text of the message.', control: body }
          : { action: { type: 'post_message', kind: kind.value, body: body.value } },
    }
  },

  send_email(ctx, env, action, id) {
    const to = contactPicker(ctx, { id: id('to'), label: 'To', partnerIds: action.to.partnerIds })
    const field = personField(env, id('to-field'), action.to.field, 'No one else')
    const subject = h('input', { id: id('subject'), type: 'text', maxLength: 300, value: action.subject })
    const body = template(id('body'), action.body, 5)
    return {
      nodes: [
        labelled('To', to.control, { cell: to.nodes }),
        labelled('Also', field),
        labelled('Subject', subject),
        labelled('Text', body),
      ],
      controls: { to: to.control, subject, body },
      read() {
        const recipients = { partnerIds: to.value(), ...(field.value ? { field: field.value } : {}) }
        if (recipients.partnerIds.length === 0 && !recipients.field)
          return { problem: 'Choose a contact, or a contact field of the record.', control: to.control }
        if (subject.value.trim() === '') return { problem: 'Give the email a subject.', control: subject }
        if (body.value.trim() === '') return { problem: 'Write the text of the email.', control: body }
        return { action: { type: 'send_email', to: recipients, subject: subject.value, body: body.value } }
      },
    }
  },

  set_values(_ctx, _env, action, id) {
    const { box, read } = jsonBox(id('values'), action.values, '{ "stage": "qualified", "priority": "high" }')
    return {
      nodes: [
        labelled('Values', box, { hint: 'JSON: { "field": value }, checked like a change made by hand.' }),
      ],
      controls: { values: box },
      read() {
        const { values, problem } = read()
        return problem ? { problem, control: box } : { action: { type: 'set_values', values } }
      },
    }
  },

  schedule_activity(ctx, env, action, id) {
    const type = h('select', { id: id('activityType') }, h('option', { value: action.activityType }))
    env.activityTypes().then((types) => {
      replace(
        type,
        types.map((item) =>
          h('option', { value: item.key, text: item.name, selected: item.key === action.activityType }),
        ),
      )
    }, ctx.report)
    const summary = h('input', {
      id: id('summary'),
      type: 'text',
      maxLength: 200,
      value: action.summary ?? '',
    })
    const delay = h('input', {
      id: id('delayDays'),
      type: 'number',
      step: 1,
      value: action.delayDays === undefined ? '' : String(action.delayDays),
      placeholder: 'The type’s own',
    })
    const users = h('optgroup', { label: 'A user' })
    const assignee = personField(env, id('assignee'), action.assignee?.field, null, users)
    env.users().then((items) => {
      replace(
        users,
        items.map((user) =>
          h('option', {
            value: `user:${user.id}`,
            text: user.name,
            selected: user.id === action.assignee?.userId,
          }),
        ),
      )
    }, ctx.report)
    return {
      nodes: [
        labelled('Activity type', type),
        labelled('Summary', summary),
        labelled('Due in (days)', delay),
        labelled('Assigned to', assignee),
      ],
      controls: { activityType: type, summary, delayDays: delay, assignee },
      read() {
        const days = delay.value.trim()
        if (days !== '' && !Number.isInteger(Number(days)))
          return { problem: 'Give the delay as a whole number of days.', control: delay }
        const chosen = assignee.value
        if (!chosen) return { problem: 'Choose who the activity is for.', control: assignee }
        return {
          action: {
            type: 'schedule_activity',
            activityType: type.value,
            ...(summary.value.trim() ? { summary: summary.value.trim() } : {}),
            ...(days === '' ? {} : { delayDays: Number(days) }),
            assignee: chosen.startsWith('user:')
              ? { userId: Number(chosen.slice('user:'.length)) }
              : { field: chosen },
          },
        }
      },
    }
  },

  create_record(_ctx, env, action, id) {
    const model = h(
      'select',
      { id: id('model') },
      env.models.map((item) =>
        h('option', { value: item.name, text: item.label, selected: item.name === action.model }),
      ),
    )
    const { box, read } = jsonBox(id('values'), action.values, '{ "name": "Delivery for {{name}}" }')
    return {
      nodes: [
        labelled('Model', model),
        labelled('Values', box, {
          hint: 'JSON: { "field": value } of the new record; text may hold {{field}} of this record.',
        }),
      ],
      controls: { model, values: box },
      read() {
        const { values, problem } = read()
        return problem
          ? { problem, control: box }
          : { action: { type: 'create_record', model: model.value, values } }
      },
    }
  },

  add_followers: followersEditor('add_followers'),
  remove_followers: followersEditor('remove_followers'),

  call_webhook(ctx, env, action, id) {
    const endpoint = h('select', { id: id('endpointId') })
    const cell = h('div', { class: 'automation-endpoint' }, endpoint)
    let count = 0
    env.endpoints().then((items) => {
      count = items.length
      if (count === 0) {
        replace(
          cell,
          h(
            'p',
            { class: 'muted automation-no-endpoint' },
            'No endpoint yet: add one under ',
            h('a', { href: WEBHOOKS_HASH, text: 'Webhooks' }),
            '.',
          ),
        )
        return
      }
      replace(
        endpoint,
        items.map((item) =>
          h('option', {
            value: String(item.id),
            text: item.description ? `${item.url} (${item.description})` : item.url,
            selected: item.id === action.endpointId,
          }),
        ),
      )
    }, ctx.report)
    return {
      nodes: [
        labelled('Endpoint', endpoint, {
          cell,
          hint: 'It gets a signed automation.fired event with the record.',
        }),
      ],
      controls: { endpointId: endpoint },
      read: () =>
        count === 0 || !endpoint.value
          ? { problem: 'Add a webhook endpoint first, under Webhooks.', control: endpoint }
          : { action: { type: 'call_webhook', endpointId: Number(endpoint.value) } },
    }
  },
}

/** Add or remove followers: contacts, and for adding, also the person in a field of the record. */
function followersEditor(type) {
  return (ctx, env, action, id) => {
    const who = contactPicker(ctx, { id: id('partnerIds'), label: 'Contacts', partnerIds: action.partnerIds })
    const field = type === 'add_followers' ? personField(env, id('field'), action.field, 'No one else') : null
    return {
      nodes: [labelled('Contacts', who.control, { cell: who.nodes }), field ? labelled('Also', field) : null],
      controls: { partnerIds: who.control, ...(field ? { field } : {}) },
      read() {
        const partnerIds = who.value()
        const extra = field?.value ? { field: field.value } : {}
        if (partnerIds.length === 0 && !extra.field)
          return { problem: 'Choose at least one contact.', control: who.control }
        return { action: { type, partnerIds, ...extra } }
      },
    }
  }
}

/** The editor of `action` (one of a kind this page does not know yet is kept as it is). */
export function actionEditor(ctx, env, action, id) {
  const make = EDITORS[action.type]
  if (make) return make(ctx, env, action, id)
  return {
    nodes: [h('p', { class: 'muted', text: `A ${action.type} action, kept as it is.` })],
    controls: {},
    read: () => ({ action }),
  }
}
