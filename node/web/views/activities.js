import { api } from '../api.js'
import { formatDate, h, replace, setSanitizedHtml } from '../dom.js'
import { icon } from '../icon.js'
import { loadPeople } from './fields.js'
import { openLaunchPlan } from './launch-plan.js'

let types = null
/** Read again each time the form opens: an administrator may have added or archived a type since. */
async function activityTypes({ fresh = false } = {}) {
  if (!types || fresh) types = (await api('GET', '/api/v1/activity-types')).items
  return types
}

/** A type's name from its key (the list is loaded with the schedule form or on first use). */
function typeName(key) {
  return types?.find((type) => type.key === key)?.name ?? key
}

/** "Overdue: Nov 24, 2026" in red, "Today" in orange, "Due Nov 30, 2026" in green. */
export function stateLabel(activity) {
  if (activity.state === 'overdue') return `Overdue: ${formatDate(activity.deadline)}`
  if (activity.state === 'today') return 'Due today'
  return `Due ${formatDate(activity.deadline)}`
}

/**
 * One open activity, with "Mark done" (and optional feedback) and "Cancel". With `onScheduleNext`
 * (on a record), the feedback form also offers "Done & schedule next": it is given the type the
 * done one suggests, if any, to open the schedule form with.
 */
export function activityItem(ctx, activity, { onChanged, onScheduleNext, showRecord = false }) {
  const feedbackSlot = h('div', { class: 'done-form' })
  const item = h(
    'li',
    {
      class: `activity activity-${activity.state}`,
      dataset: { id: String(activity.id), state: activity.state },
    },
    h('span', { class: `state-dot state-${activity.state}`, title: activity.state }),
    h(
      'div',
      { class: 'activity-main' },
      h(
        'div',
        { class: 'activity-line' },
        h(
          'span',
          {},
          h('strong', { class: 'activity-type' }, icon(activity.type.icon), ' ', activity.type.name),
          activity.summary ? h('span', { class: 'activity-summary', text: `: ${activity.summary}` }) : null,
        ),
        h('span', { class: `deadline state-text-${activity.state}`, text: stateLabel(activity) }),
      ),
      h(
        'div',
        { class: 'muted activity-meta' },
        `for ${activity.assignee.name}`,
        showRecord
          ? [' · on ', h('a', { href: `#/records/${activity.record.id}`, text: activity.record.name })]
          : null,
      ),
      activity.note ? setSanitizedHtml(h('div', { class: 'activity-note body' }), activity.note) : null,
      h(
        'div',
        { class: 'activity-actions' },
        h('button', { type: 'button', class: 'secondary small', text: 'Mark done', on: { click: openDone } }),
        h('button', { type: 'button', class: 'link-button small', text: 'Cancel', on: { click: cancel } }),
      ),
      feedbackSlot,
    ),
  )

  function openDone() {
    const feedback = h('textarea', {
      rows: 2,
      placeholder: 'Feedback (optional): what happened?',
      class: 'feedback',
    })
    replace(
      feedbackSlot,
      feedback,
      h(
        'div',
        { class: 'actions' },
        h('button', {
          type: 'button',
          class: 'primary small',
          text: 'Done',
          on: { click: (event) => void done(event, feedback, false) },
        }),
        onScheduleNext
          ? h('button', {
              type: 'button',
              class: 'secondary small done-next',
              text: 'Done & schedule next',
              on: { click: (event) => void done(event, feedback, true) },
            })
          : null,
        h('button', {
          type: 'button',
          class: 'link-button small',
          text: 'Discard',
          on: { click: () => feedbackSlot.replaceChildren() },
        }),
      ),
    )
    feedback.focus()
  }

  async function done(event, feedback, scheduleNext) {
    event.target.disabled = true
    try {
      const result = await api('POST', `/api/v1/activities/${activity.id}/done`, {
        ...(feedback.value.trim() ? { feedback: feedback.value } : {}),
      })
      if (result.suggestedTypes.length) await activityTypes()
      ctx.notify(
        `Done: ${activity.type.name}${activity.summary ? ` (${activity.summary})` : ''}` +
          (result.triggered ? ` — next: ${result.triggered.type.name} scheduled` : '') +
          (result.suggestedTypes.length && !scheduleNext
            ? ` — suggested next: ${result.suggestedTypes.map(typeName).join(', ')}`
            : ''),
      )
      item.remove()
      onChanged()
      if (scheduleNext) onScheduleNext(result.suggestedTypes[0] ?? null)
    } catch (error) {
      event.target.disabled = false
      ctx.report(error)
    }
  }

  async function cancel() {
    try {
      await api('POST', `/api/v1/activities/${activity.id}/cancel`)
      item.remove()
      onChanged()
    } catch (error) {
      ctx.report(error)
    }
  }
  return item
}

/** A record's planned activities and the "Schedule activity" form. */
export function mountActivities(ctx, { recordId, panel, formSlot, onChanged }) {
  async function refresh() {
    const { items } = await api('GET', `/api/v1/records/${recordId}/activities`)
    const open = items.filter((activity) => activity.status === 'open')
    replace(
      panel,
      open.length
        ? [
            h('h3', { class: 'section-title', text: `Planned activities (${open.length})` }),
            h(
              'ul',
              { class: 'activities' },
              open.map((activity) =>
                activityItem(ctx, activity, {
                  onChanged,
                  onScheduleNext: (type) => openForm({ type }).catch(ctx.report),
                }),
              ),
            ),
          ]
        : null,
    )
  }

  /** `prefill.type`: the type to start with (the one a done activity suggests). */
  async function openForm(prefill = {}) {
    const [list, people] = await Promise.all([activityTypes({ fresh: true }), loadPeople()])
    const type = h(
      'select',
      { name: 'type', id: 'activity-type' },
      list.map((t) => h('option', { value: t.key, text: t.name, selected: t.key === prefill.type })),
    )
    const typeIcon = h('span', { class: 'type-icon' })
    const drawIcon = () => {
      const chosen = list.find((t) => t.key === type.value)
      replace(typeIcon, chosen ? icon(chosen.icon) : null)
    }
    type.addEventListener('change', drawIcon)
    drawIcon()
    const summary = h('input', {
      name: 'summary',
      id: 'activity-summary',
      maxLength: 200,
      placeholder: 'e.g. Discuss the proposal',
    })
    const deadline = h('input', { name: 'deadline', id: 'activity-deadline', type: 'date' })
    const assignee = h(
      'select',
      { name: 'assignee', id: 'activity-assignee' },
      people.users.map((user) =>
        h('option', { value: String(user.id), text: user.name, selected: user.id === ctx.user.id }),
      ),
    )
    const note = h('textarea', { name: 'note', id: 'activity-note', rows: 2, placeholder: 'Note (Markdown)' })
    const form = h(
      'form',
      {
        class: 'schedule-form',
        on: {
          submit: async (event) => {
            event.preventDefault()
            try {
              await api('POST', `/api/v1/records/${recordId}/activities`, {
                type: type.value,
                assigneeId: Number(assignee.value),
                ...(summary.value.trim() ? { summary: summary.value } : {}),
                ...(deadline.value ? { deadline: deadline.value } : {}),
                ...(note.value.trim() ? { note: note.value } : {}),
              })
              formSlot.replaceChildren()
              onChanged()
            } catch (error) {
              ctx.report(error)
            }
          },
        },
      },
      h(
        'div',
        { class: 'activity-line' },
        h('h3', { class: 'section-title', text: 'Schedule an activity' }),
        h('button', {
          type: 'button',
          class: 'link-button small launch-plan-open',
          text: 'Launch a plan',
          on: {
            click: () => openLaunchPlan(ctx, { recordId, formSlot, onChanged }).catch(ctx.report),
          },
        }),
      ),
      h(
        'div',
        { class: 'field-grid' },
        h('label', { htmlFor: type.id, text: 'Activity type' }),
        h('div', { class: 'inline-fields' }, typeIcon, type),
        h('label', { htmlFor: summary.id, text: 'Summary' }),
        summary,
        h('label', { htmlFor: deadline.id, text: 'Due date' }),
        h('div', {}, deadline, h('span', { class: 'muted hint', text: ' empty: the type’s usual delay' })),
        h('label', { htmlFor: assignee.id, text: 'Assigned to' }),
        assignee,
        h('label', { htmlFor: note.id, text: 'Note' }),
        note,
      ),
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'submit', class: 'primary', text: 'Schedule' }),
        h('button', {
          type: 'button',
          class: 'secondary',
          text: 'Discard',
          on: { click: () => formSlot.replaceChildren() },
        }),
      ),
    )
    replace(formSlot, form)
    summary.focus()
  }

  return { refresh, openForm: () => openForm().catch(ctx.report) }
}
