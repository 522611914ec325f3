import { api } from '../api.js'
import { h, replace } from '../dom.js'
import { icon } from '../icon.js'
import { activityPlanForm } from './activity-plan-form.js'
import { ACTIVITY_PLANS_HASH } from './admin-users.js'
import { loadPeople } from './fields.js'
import { forbidden, isForbidden } from './mail-settings.js'

const WHO = { default: 'default user', on_demand: 'asked at launch', user: null }

/** "3 days before", "on the date", "1 week after". */
export function stepWhen(delay) {
  if (delay.count === 0) return 'on the date'
  const unit = delay.count === 1 ? delay.unit.replace(/s$/, '') : delay.unit
  return `${delay.count} ${unit} ${delay.from === 'before_plan_date' ? 'before' : 'after'}`
}

/**
 * Settings → Activity plans (administrators): plans that schedule several activities on a record at
 * once ("Onboarding": a call, a meeting a week later…), each with its steps; create, edit, delete.
 */
export async function renderAdminActivityPlans(ctx, container) {
  ctx.highlight(ACTIVITY_PLANS_HASH)
  const title = h('h1', { text: 'Activity plans' })
  if (ctx.user.role !== 'admin') return forbidden(container, title)
  let plans
  let types
  let users
  try {
    ;[plans, types, users] = await Promise.all([
      api('GET', '/api/v1/activity-plans').then((page) => page.items),
      api('GET', '/api/v1/activity-types').then((page) => page.items),
      loadPeople({ fresh: true }).then((people) => people.users),
    ])
  } catch (error) {
    if (!isForbidden(error)) throw error
    return forbidden(container, title)
  }
  const formSlot = h('div')
  const list = h('div', { class: 'activity-plans' })
  const userName = (id) => users.find((user) => user.id === id)?.name ?? `#${id}`
  const modelLabel = (name) => ctx.models.find((model) => model.name === name)?.label ?? name

  function render() {
    replace(
      list,
      plans.length
        ? plans.map(planCard)
        : h('p', { class: 'empty', text: 'No plans yet: a plan schedules several activities in one go.' }),
    )
  }

  function openForm(plan) {
    replace(
      formSlot,
      activityPlanForm(ctx, {
        plan,
        types,
        users,
        models: ctx.models,
        onSaved: (saved) => {
          const known = plans.some((item) => item.id === saved.id)
          plans = known ? plans.map((item) => (item.id === saved.id ? saved : item)) : [...plans, saved]
          formSlot.replaceChildren()
          render()
        },
        onClose: () => formSlot.replaceChildren(),
      }),
    )
  }

  async function remove(plan) {
    if (!window.confirm(`Delete the plan ${plan.name}? Activities it scheduled stay.`)) return
    try {
      await api('DELETE', `/api/v1/activity-plans/${plan.id}`)
      plans = plans.filter((item) => item.id !== plan.id)
      render()
      ctx.notify(`${plan.name} deleted`)
    } catch (error) {
      ctx.report(error)
    }
  }

  function planCard(plan) {
    return h(
      'section',
      { class: 'card activity-plan', dataset: { id: String(plan.id) } },
      h(
        'div',
        { class: 'activity-line' },
        h('h2', { text: plan.name }),
        h('span', { class: 'muted', text: plan.model ? `On ${modelLabel(plan.model)}` : 'On every model' }),
      ),
      h(
        'ol',
        { class: 'plan-step-list' },
        plan.steps.map((step) =>
          h(
            'li',
            {},
            icon(step.type.icon),
            ' ',
            h('strong', { text: step.type.name }),
            step.summary ? `: ${step.summary}` : '',
            h('span', {
              class: 'muted',
              text: ` · ${stepWhen(step.delay)} · ${WHO[step.assignee] ?? userName(step.userId)}`,
            }),
          ),
        ),
      ),
      h(
        'div',
        { class: 'actions' },
        h('button', {
          type: 'button',
          class: 'secondary small',
          text: 'Edit',
          attrs: { 'aria-label': `Edit ${plan.name}` },
          on: { click: () => openForm(plan) },
        }),
        h('button', {
          type: 'button',
          class: 'link-button small',
          text: 'Delete',
          attrs: { 'aria-label': `Delete ${plan.name}` },
          on: { click: () => void remove(plan) },
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
        text: 'New plan',
        on: { click: () => openForm(null) },
      }),
    ),
    formSlot,
    list,
  )
}
