import { api } from '../api.js'
import { h, replace } from '../dom.js'
import { icon } from '../icon.js'
import { stepWhen } from './admin-activity-plans.js'
import { loadPeople } from './fields.js'

const today = () => {
  const now = new Date()
  return new Date(now.getTime() - now.getTimezoneOffset() * 60_000).toISOString().slice(0, 10)
}

/**
 * "Launch a plan" on a record: pick one of the plans offered on its model, the date its steps count
 * from, and who does the steps the plan asks about. The node schedules them all or none; they appear
 * through the live socket like any activity.
 */
export async function openLaunchPlan(ctx, { recordId, formSlot, onChanged }) {
  const [plansPage, record, people] = await Promise.all([
    api('GET', '/api/v1/activity-plans'),
    api('GET', `/api/v1/records/${recordId}`),
    loadPeople(),
  ])
  const plans = plansPage.items.filter(
    (plan) => plan.active && (plan.model === null || plan.model === record.model),
  )
  const close = () => formSlot.replaceChildren()
  if (plans.length === 0) {
    replace(
      formSlot,
      h(
        'div',
        { class: 'schedule-form launch-plan' },
        h('p', { class: 'muted', text: 'No activity plan is offered on this kind of record.' }),
        h('button', { type: 'button', class: 'secondary', text: 'Close', on: { click: close } }),
      ),
    )
    return
  }
  const plan = h(
    'select',
    { id: 'launch-plan', name: 'plan' },
    plans.map((item) => h('option', { value: String(item.id), text: item.name })),
  )
  const date = h('input', { id: 'launch-date', type: 'date', required: true, value: today() })
  const steps = h('div', { class: 'launch-steps' })
  /** Step id → the select choosing who does it, for on_demand steps. */
  let pickers = new Map()

  function renderSteps() {
    const chosen = plans.find((item) => String(item.id) === plan.value)
    pickers = new Map()
    replace(
      steps,
      h(
        'ol',
        { class: 'plan-step-list' },
        (chosen?.steps ?? []).map((step) => {
          const picker =
            step.assignee === 'on_demand'
              ? h(
                  'select',
                  { id: `launch-step-${step.id}`, class: 'launch-assignee', required: true },
                  h('option', { value: '', text: 'Choose who…' }),
                  people.users
                    .filter((user) => user.active)
                    .map((user) => h('option', { value: String(user.id), text: user.name })),
                )
              : null
          if (picker) pickers.set(step.id, picker)
          return h(
            'li',
            {},
            icon(step.type.icon),
            ' ',
            h('strong', { text: step.type.name }),
            h('span', { class: 'muted', text: ` · ${stepWhen(step.delay)}` }),
            picker
              ? h('div', {}, h('label', { htmlFor: picker.id, text: `Who does ${step.type.name}? ` }), picker)
              : null,
          )
        }),
      ),
    )
  }
  plan.addEventListener('change', renderSteps)
  renderSteps()

  const form = h(
    'form',
    {
      class: 'schedule-form launch-plan',
      on: {
        submit: async (event) => {
          event.preventDefault()
          const assignees = {}
          for (const [stepId, picker] of pickers) if (picker.value) assignees[stepId] = Number(picker.value)
          try {
            const result = await api(
              'POST',
              `/api/v1/records/${recordId}/activity-plans/${plan.value}/launch`,
              {
                date: date.value,
                assignees,
              },
            )
            close()
            ctx.notify(`${result.items.length} activities scheduled`)
            onChanged()
          } catch (error) {
            ctx.report(error)
          }
        },
      },
    },
    h('h3', { class: 'section-title', text: 'Launch an activity plan' }),
    h(
      'div',
      { class: 'field-grid' },
      h('label', { htmlFor: plan.id, text: 'Plan' }),
      plan,
      h('label', { htmlFor: date.id, text: 'Plan date' }),
      date,
    ),
    steps,
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', text: 'Launch' }),
      h('button', { type: 'button', class: 'secondary', text: 'Discard', on: { click: close } }),
    ),
  )
  replace(formSlot, form)
  plan.focus()
}
