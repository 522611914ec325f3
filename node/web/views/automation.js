import { api } from '../api.js'
import { h, replace } from '../dom.js'
import { contactName, loadContacts } from './automation-contacts.js'
import { AUTOMATION_HASH, ruleForm, ruleHash } from './automation-form.js'
import { hookPanel } from './automation-hook.js'
import { actionInWords, triggerInWords } from './automation-words.js'
import { forbidden, isForbidden } from './mail-settings.js'

/** The sidebar's entry, under Settings: only administrators get it. */
export function automationNav(user) {
  if (user.role !== 'admin') return []
  return [h('a', { href: AUTOMATION_HASH, class: 'nav-link', text: 'Automation' })]
}

/**
 * Settings → Automation (administrators): the rules that act on records as they change, each with
 * when it fires and how much it does; new ones, edits, switching one off, and deletion.
 */
export async function renderAutomation(ctx, container) {
  ctx.highlight(AUTOMATION_HASH)
  const title = h('h1', { text: 'Automation' })
  if (ctx.user.role !== 'admin') {
    forbidden(container, title)
    return
  }
  let rules
  let models
  let endpoints
  try {
    ;[rules, models, endpoints] = await Promise.all([
      api('GET', '/api/v1/automation-rules').then((page) => page.items),
      api('GET', '/api/v1/models').then((page) => page.items),
      api('GET', '/api/v1/webhooks/endpoints').then((page) => page.items),
    ])
    await loadContacts(rules.flatMap(contactsOf))
  } catch (error) {
    // The role was taken away after the app loaded: the node refuses, and the page says what any user sees.
    if (!isForbidden(error)) throw error
    forbidden(container, title)
    return
  }
  const modelNamed = (name) => models.find((item) => item.name === name)

  const rows = h('tbody')
  const table = h(
    'table',
    { class: 'list stack-table automation-rules' },
    h('caption', { class: 'visually-hidden', text: 'Automation rules' }),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Rule', 'Model', 'Trigger', 'State', 'Actions'].map((label) =>
          h('th', { text: label, attrs: { scope: 'col' } }),
        ),
        h('th', { attrs: { scope: 'col' } }, h('span', { class: 'visually-hidden', text: 'Commands' })),
      ),
    ),
    rows,
  )
  const empty = h(
    'div',
    { class: 'empty automation-empty', hidden: true },
    h('p', { text: 'No rules yet: records change only when people change them.' }),
    h('p', {
      text: 'A rule watches one model’s records and, when one is created or changes, a date comes near, a message comes in or an integrator calls it, posts a note, sends an email, sets values, schedules an activity, creates a record, calls a webhook or changes its followers.',
    }),
  )
  /** Where the new-rule form, or the edit of one rule, goes. */
  const formSlot = h('div', { class: 'automation-form-slot' })
  /** A webhook rule just saved: its secret URL, to hand to the integrator. */
  const hookSlot = h('div', { class: 'automation-hook-slot' })

  function showHook(rule) {
    if (!rule.hookUrl || rule.trigger.kind !== 'webhook') return replace(hookSlot)
    replace(
      hookSlot,
      h(
        'section',
        { class: 'sheet automation-hook-saved' },
        h('h2', { text: `Secret URL of ${rule.name}` }),
        hookPanel(ctx, { rule, onRotated: update }),
      ),
    )
  }

  /** Names the contacts of rules saved since the page loaded, then shows the list. */
  async function saved(rule) {
    await loadContacts(contactsOf(rule)).catch(ctx.report)
    showHook(rule)
  }

  function render() {
    rows.replaceChildren(...rules.map(ruleRow))
    table.hidden = rules.length === 0
    empty.hidden = rules.length > 0
  }

  function showNewForm() {
    replace(
      formSlot,
      ruleForm(ctx, {
        models,
        onSaved: async (rule) => {
          await saved(rule)
          rules = [...rules, rule]
          render()
          showNewForm()
          ctx.notify(`Rule ${rule.name} created`)
        },
      }),
    )
  }

  function edit(rule) {
    const form = ruleForm(ctx, {
      models,
      rule,
      onSaved: async (rule) => {
        await saved(rule)
        update(rule)
        showNewForm()
        ctx.notify(`Rule ${rule.name} saved`)
      },
      onCancel: showNewForm,
      onRotated: update,
    })
    replace(hookSlot)
    replace(formSlot, form)
    form.scrollIntoView({ block: 'start' })
    form.querySelector('input')?.focus()
  }

  function update(saved) {
    rules = rules.map((item) => (item.id === saved.id ? saved : item))
    render()
  }

  function ruleRow(rule) {
    const button = (text, className, label, action) =>
      h('button', {
        type: 'button',
        class: `secondary small ${className}`,
        text,
        attrs: { 'aria-label': `${label} ${rule.name}` },
        on: { click: () => void action(rule) },
      })
    const words = { model: modelNamed(rule.model), models, names: contactName, endpoints }
    return h(
      'tr',
      { class: 'automation-rule', dataset: { id: String(rule.id), active: String(rule.active) } },
      h(
        'td',
        { class: 'automation-name', dataset: { label: 'Rule' } },
        h('a', { href: ruleHash(rule.id), text: rule.name, title: 'Runs and dry run' }),
      ),
      h('td', {
        class: 'automation-model',
        dataset: { label: 'Model' },
        text: modelNamed(rule.model)?.label ?? rule.model,
      }),
      h('td', {
        class: 'automation-trigger-words',
        dataset: { label: 'Trigger' },
        text: triggerInWords(rule.trigger, modelNamed(rule.model)),
      }),
      h(
        'td',
        { class: 'automation-state', dataset: { label: 'State' } },
        h('span', {
          class: `tag outcome outcome-${rule.active ? 'ok' : 'info'}`,
          text: rule.active ? 'Active' : 'Inactive',
        }),
      ),
      h(
        'td',
        { class: 'automation-action-words', dataset: { label: 'Actions' } },
        h(
          'ol',
          {},
          rule.actions.map((action) => h('li', { text: actionInWords(action, words) })),
        ),
      ),
      h(
        'td',
        {},
        h(
          'div',
          { class: 'webhook-actions' },
          h('a', { href: ruleHash(rule.id), class: 'button-like secondary small', text: 'Runs' }),
          button('Edit', 'automation-edit', 'Edit', edit),
          button(
            rule.active ? 'Deactivate' : 'Activate',
            'automation-toggle',
            rule.active ? 'Deactivate' : 'Activate',
            toggle,
          ),
          button('Delete', 'alias-delete automation-delete', 'Delete', remove),
        ),
      ),
    )
  }

  async function toggle(rule) {
    try {
      const saved = await api('PATCH', `/api/v1/automation-rules/${rule.id}`, { active: !rule.active })
      update(saved)
      ctx.notify(saved.active ? `${saved.name} is active` : `${saved.name} is inactive: it runs no more`)
    } catch (error) {
      ctx.report(error)
    }
  }

  async function remove(rule) {
    const sure = window.confirm(
      `Delete the rule ${rule.name}? It runs no more, and its run log is deleted with it.`,
    )
    if (!sure) return
    try {
      await api('DELETE', `/api/v1/automation-rules/${rule.id}`)
      rules = rules.filter((item) => item.id !== rule.id)
      render()
      ctx.notify(`Rule ${rule.name} deleted`)
    } catch (error) {
      ctx.report(error)
    }
  }

  replace(
    container,
    h('div', { class: 'view-header' }, title),
    h('p', {
      class: 'muted',
      text: 'Rules act on records as they change, as the administrator who saved them. When an action fails, the change that triggered it is refused whole, and the run log says why.',
    }),
    table,
    empty,
    hookSlot,
    formSlot,
  )
  render()
  showNewForm()
}

/** The contacts a rule's actions name, to show them by name. */
function contactsOf(rule) {
  return rule.actions.flatMap((action) => action.partnerIds ?? action.to?.partnerIds ?? [])
}
