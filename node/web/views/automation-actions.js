import { api } from '../api.js'
import { h } from '../dom.js'
import { ACTION_TYPES, actionEditor } from './automation-action-editors.js'

/**
 * The rule's actions, in the order they run: each with the controls of its kind, a Remove button and
 * a line for what is wrong with it; below them, "Add action" with the kind to add.
 * `modelOf` gives the model chosen in the form; `modelChanged()` refills the fields that depend on it.
 */
export function actionList(ctx, { id, models, modelOf, initial }) {
  const listeners = []
  const once = (load) => {
    let promise = null
    return () => {
      promise ??= load()
      return promise
    }
  }
  const env = {
    models,
    modelOf,
    onModel(listener) {
      listeners.push(listener)
      listener()
    },
    activityTypes: once(() => api('GET', '/api/v1/activity-types').then((page) => page.items)),
    users: once(() => api('GET', '/api/v1/users?limit=200').then((page) => page.items)),
    endpoints: once(() => api('GET', '/api/v1/webhooks/endpoints').then((page) => page.items)),
  }
  const list = h('ol', { id: id('actions'), class: 'automation-actions', tabIndex: -1 })
  let items = []
  let serial = 0

  function add(action) {
    serial += 1
    const part = (key) => id(`action-${serial}-${key}`)
    const editor = actionEditor(ctx, env, action, part)
    const error = h('p', { class: 'field-error', id: part('error'), hidden: true, attrs: { role: 'alert' } })
    const title = ACTION_TYPES.find(([type]) => type === action.type)?.[1] ?? action.type
    const item = {
      editor,
      error,
      node: h(
        'li',
        { class: 'automation-action', dataset: { type: action.type } },
        h(
          'div',
          { class: 'automation-action-head' },
          h('strong', { text: title }),
          h('button', {
            type: 'button',
            class: 'secondary small automation-action-remove',
            text: 'Remove',
            attrs: { 'aria-label': `Remove action: ${title}` },
            on: { click: () => remove(item) },
          }),
        ),
        h('div', { class: 'automation-action-fields' }, editor.nodes),
        error,
      ),
    }
    for (const control of Object.values(editor.controls)) {
      const described = control.getAttribute('aria-describedby')
      control.setAttribute('aria-describedby', [described, error.id].filter(Boolean).join(' '))
    }
    items = [...items, item]
    list.append(item.node)
    return item
  }

  function remove(item) {
    items = items.filter((other) => other !== item)
    item.node.remove()
  }

  const kind = h(
    'select',
    { id: id('add-kind'), attrs: { 'aria-label': 'Kind of action' } },
    ACTION_TYPES.map(([type, text]) => h('option', { value: type, text })),
  )
  const addButton = h('button', {
    type: 'button',
    class: 'secondary small',
    text: 'Add action',
    on: {
      click: () => {
        const [type, , start] = ACTION_TYPES.find(([key]) => key === kind.value) ?? ACTION_TYPES[0]
        const item = add({ type, ...structuredClone(start) })
        item.node.querySelector('input, select, textarea')?.focus()
      },
    },
  })
  for (const action of initial) add(action)

  /** One action's problem, beside it, its control marked. */
  function mark(item, text, control) {
    item.error.textContent = text
    item.error.hidden = false
    control?.setAttribute('aria-invalid', 'true')
  }

  return {
    nodes: h(
      'div',
      { class: 'automation-action-list' },
      list,
      h('div', { class: 'automation-add-action' }, kind, addButton),
    ),
    /** Focus goes to the list when the node names no action in particular. */
    control: list,
    modelChanged: () => {
      for (const listener of listeners) listener()
    },
    clear() {
      for (const item of items) {
        item.error.hidden = true
        for (const control of Object.values(item.editor.controls)) control.removeAttribute('aria-invalid')
      }
    },
    /** The actions as the API takes them, or undefined after saying beside each what is wrong. */
    read() {
      const read = items.map((item) => ({ item, ...item.editor.read() }))
      const wrong = read.filter((entry) => entry.problem)
      for (const entry of wrong) mark(entry.item, entry.problem, entry.control)
      wrong[0]?.control?.focus()
      return wrong.length > 0 ? undefined : read.map((entry) => entry.action)
    },
    /** The node's reason about `actions[2].subject` (`index` 2, `key` "subject"): beside that action. */
    show(index, key, text) {
      const item = items[index]
      if (!item) return false
      mark(item, text, key ? item.editor.controls[key] : null)
      return true
    },
  }
}

/** "No actions": said beside the list when the last one was removed. */
export const NO_ACTIONS = 'Add at least one action: a rule that does nothing cannot be saved.'
