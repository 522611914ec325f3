import { ApiError } from '../api.js'
import { h, replace } from '../dom.js'
import { icon } from '../icon.js'

/** One section of the preferences page: a titled sheet, labelled by its heading for screen readers. */
export function prefSection(id, title, ...children) {
  return h(
    'section',
    { class: 'sheet prefs-section', id: `prefs-${id}`, attrs: { 'aria-labelledby': `prefs-${id}-title` } },
    h('h2', { id: `prefs-${id}-title`, text: title }),
    ...children,
  )
}

/** A labelled field on its own row: the label above, the control below. */
export function prefField(label, control, ...after) {
  return h(
    'div',
    { class: 'prefs-field' },
    h('label', { htmlFor: control.id, text: label }),
    control,
    ...after,
  )
}

/**
 * Where a save says how it went: "Saved" in green, or the API's message and reason in red. `show`
 * takes a text (success) or an error; `clear` hides it before the next try.
 */
export function outcomeLine() {
  const el = h('p', {
    class: 'prefs-outcome',
    hidden: true,
    attrs: { role: 'status', 'aria-live': 'polite' },
  })
  return {
    el,
    ok(text) {
      el.className = 'prefs-outcome prefs-ok'
      replace(el, icon('check'), ` ${text}`)
      el.hidden = false
    },
    fail(failure, text) {
      el.className = 'prefs-outcome form-error'
      replace(el, text ?? failureText(failure))
      el.hidden = false
    },
    clear() {
      el.hidden = true
    },
  }
}

/** An API refusal as the person reads it: its message, then the reason it gives. */
export function failureText(failure) {
  if (!(failure instanceof ApiError)) return 'Something went wrong in the page.'
  return failure.reason ? `${failure.message} (${failure.reason})` : failure.message
}

/** Runs a save with its button disabled meanwhile, so a double click sends it once. */
export async function whileSaving(button, work) {
  button.disabled = true
  try {
    await work()
  } finally {
    button.disabled = false
  }
}
