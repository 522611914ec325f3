import { api } from '../api.js'
import { h, replace } from '../dom.js'

const UNITS = ['days', 'weeks', 'months']
const ASSIGNEES = [
  ['default', "Type's default user, else whoever launches"],
  ['on_demand', 'Asked at launch'],
  ['user', 'A fixed user'],
]

const options = (pairs, selected) =>
  pairs.map(([value, text]) => h('option', { value, text, selected: value === selected }))

/**
 * The form to create or change a plan: its name, the model it is offered on, and its steps (type,
 * summary, who, how long before or after the launch date). Saving sends the steps as a whole.
 */
export function activityPlanForm(ctx, { plan, types, users, models, onSaved, onClose }) {
  const name = h('input', { id: 'plan-name', required: true, maxLength: 100, value: plan?.name ?? '' })
  const model = h(
    'select',
    { id: 'plan-model' },
    h('option', { value: '', text: 'Every model' }),
    models.map((m) => h('option', { value: m.name, text: m.label, selected: m.name === plan?.model })),
  )
  const list = h('ol', { class: 'plan-steps' })
  let counter = 0
  /** Each step's <li> → what it says, read on submit in the list's order. */
  const readers = new Map()
  const activeTypes = types.filter((type) => type.active)
  const activeUsers = users.filter((user) => user.active)

  function stepRow(step) {
    const n = ++counter
    const field = (label, control) =>
      h('label', { class: 'step-field' }, h('span', { class: 'muted', text: label }), control)
    const type = h(
      'select',
      { class: 'step-type' },
      activeTypes.map((t) => h('option', { value: t.key, text: t.name, selected: t.key === step?.type.key })),
      // A step keeps its archived type on screen rather than silently taking the first one: saving then
      // says the type is gone.
      step && !activeTypes.some((t) => t.key === step.type.key)
        ? h('option', { value: step.type.key, text: `${step.type.name} (archived)`, selected: true })
        : null,
    )
    const summary = h('input', { class: 'step-summary', maxLength: 200, value: step?.summary ?? '' })
    const assignee = h('select', { class: 'step-assignee' }, options(ASSIGNEES, step?.assignee ?? 'default'))
    const user = h(
      'select',
      { class: 'step-user' },
      activeUsers.map((u) =>
        h('option', { value: String(u.id), text: u.name, selected: u.id === step?.userId }),
      ),
      step?.userId && !activeUsers.some((u) => u.id === step.userId)
        ? h('option', { value: String(step.userId), text: 'A deactivated user', selected: true })
        : null,
    )
    const userField = field('User', user)
    const showUser = () => (userField.hidden = assignee.value !== 'user')
    assignee.addEventListener('change', showUser)
    showUser()
    const count = h('input', {
      class: 'step-delay narrow',
      type: 'number',
      min: 0,
      max: 3650,
      value: String(step?.delay.count ?? 0),
    })
    const unit = h(
      'select',
      { class: 'step-unit', attrs: { 'aria-label': `Step ${n} delay unit` } },
      options(
        UNITS.map((u) => [u, u]),
        step?.delay.unit ?? 'days',
      ),
    )
    const from = h(
      'select',
      { class: 'step-from', attrs: { 'aria-label': `Step ${n} before or after` } },
      options(
        [
          ['after_plan_date', 'after the date'],
          ['before_plan_date', 'before the date'],
        ],
        step?.delay.from ?? 'after_plan_date',
      ),
    )
    const item = h(
      'li',
      { class: 'plan-step' },
      field('Type', type),
      field('Summary', summary),
      field('Who', assignee),
      userField,
      h('div', { class: 'step-field inline-fields' }, field('Due', count), unit, from),
      h('button', {
        type: 'button',
        class: 'link-button small',
        text: 'Remove step',
        attrs: { 'aria-label': `Remove step ${n}` },
        on: {
          click: () => {
            readers.delete(item)
            item.remove()
          },
        },
      }),
    )
    readers.set(item, () => ({
      type: type.value,
      summary: summary.value.trim() || null,
      // The form does not edit notes: a step's note set through the API is kept.
      note: step?.note ?? null,
      assignee: assignee.value,
      userId: assignee.value === 'user' ? Number(user.value) : null,
      delay: { count: Number(count.value || 0), unit: unit.value, from: from.value },
    }))
    return item
  }

  replace(list, (plan?.steps.length ? plan.steps : [null]).map(stepRow))

  async function submit(event) {
    event.preventDefault()
    const body = {
      name: name.value,
      model: model.value || null,
      steps: [...list.children].map((item) => readers.get(item)?.()),
    }
    try {
      const saved = plan
        ? await api('PATCH', `/api/v1/activity-plans/${plan.id}`, body)
        : await api('POST', '/api/v1/activity-plans', body)
      ctx.notify(plan ? `${saved.name} saved` : `${saved.name} created`)
      onSaved(saved)
    } catch (error) {
      ctx.report(error)
    }
  }

  queueMicrotask(() => name.focus())
  return h(
    'form',
    { class: 'activity-plan-form', on: { submit } },
    h('h2', { text: plan ? `Edit ${plan.name}` : 'New activity plan' }),
    h(
      'div',
      { class: 'field-grid' },
      h('label', { htmlFor: name.id, text: 'Name', class: 'required' }),
      name,
      h('label', { htmlFor: model.id, text: 'Offered on' }),
      model,
    ),
    h('h3', { class: 'section-title', text: 'Steps' }),
    list,
    h('button', {
      type: 'button',
      class: 'secondary small add-step',
      text: 'Add a step',
      on: { click: () => list.append(stepRow(null)) },
    }),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', text: plan ? 'Save' : 'Create plan' }),
      h('button', { type: 'button', class: 'secondary', text: 'Discard', on: { click: onClose } }),
    ),
  )
}
