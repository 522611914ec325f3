import { ApiError, api } from '../api.js'
import { h, replace } from '../dom.js'
import { contactPicker } from './ochat-contact.js'

/** The shape of an instance id (shared-protocol InstanceIdSchema): oc_ and 26 base32 characters. */
const INSTANCE_ID = /^oc_[a-z2-7]{26}$/

/** Why this is not an id to ask, with what to do instead; null when it looks right. */
function instanceIdProblem(id, own) {
  if (!id)
    return "Paste the other company's instance id: their administrator finds it on their Connections page."
  if (!INSTANCE_ID.test(id))
    return `“${id}” is not an instance id: one starts with oc_ followed by 26 letters and digits. Ask their administrator to copy it from their Connections page.`
  if (id === own) return "This is your own instance id: paste the other company's."
  return null
}

/** A refused request in one sentence: the catalog's message, or the form's fields at fault. */
function requestFailure(failure) {
  if (!(failure instanceof ApiError)) return String(failure?.message ?? failure)
  if (failure.code === 'E_INVALID_BODY' && failure.details.length)
    return failure.details.map((detail) => detail.message).join(' ')
  return failure.message
}

/**
 * "Request a connection": the other company's instance id (checked first), the contact it is filed
 * under and a message. One refusal shows once, in the form, in words that say what to do next.
 */
export function requestForm(ctx, { contacts, ownInstanceId, onSent }) {
  const instanceId = h('input', {
    type: 'text',
    id: 'request-instance',
    placeholder: 'oc_…',
    autocomplete: 'off',
    attrs: { 'aria-label': 'Their instance id', spellcheck: 'false' },
  })
  const message = h('textarea', {
    id: 'request-message',
    rows: 2,
    maxLength: 2000,
    placeholder: 'Hello, this is … — we would like to exchange orders over O\u2019Chat.',
  })
  const picker = contactPicker({ contacts, id: 'request-contact' })
  const error = h('div', { class: 'form-error', hidden: true, attrs: { role: 'alert' } })
  const submit = h('button', { type: 'submit', class: 'primary', text: 'Request connection' })
  const form = h(
    'form',
    {
      class: 'sheet request-form',
      on: {
        submit: async (event) => {
          event.preventDefault()
          error.hidden = true
          // The id first: the likelier mistake, and no contact is created for an id that cannot work.
          const problem = instanceIdProblem(instanceId.value.trim(), ownInstanceId)
          if (problem) {
            replace(error, problem)
            error.hidden = false
            instanceId.focus()
            return
          }
          if (!picker.chosen()) {
            replace(error, 'Choose the contact this company is filed under (or create one).')
            error.hidden = false
            picker.select.focus()
            return
          }
          submit.disabled = true
          try {
            const contactPartnerId = await picker.resolve()
            const created = await api('POST', '/api/v1/ochat/connections', {
              instanceId: instanceId.value.trim(),
              message: message.value,
              contactPartnerId,
            })
            ctx.notify(`Request sent to ${created.peer.name}`)
            instanceId.value = ''
            message.value = ''
            await onSent()
          } catch (failure) {
            // Shown once, by the form: the catalog's message already says what to do next.
            replace(error, requestFailure(failure))
            error.hidden = false
          } finally {
            submit.disabled = false
          }
        },
      },
    },
    h('h2', { text: 'Request a connection' }),
    h(
      'div',
      { class: 'field-grid request-grid' },
      h('label', { htmlFor: 'request-instance', text: 'Their instance id' }),
      instanceId,
      h('label', { htmlFor: 'request-contact', text: 'Filed under contact' }),
      picker.el,
      h('label', { htmlFor: 'request-message', class: 'wide', text: 'Message' }),
      message,
    ),
    error,
    h('div', { class: 'actions' }, submit),
  )
  return form
}
