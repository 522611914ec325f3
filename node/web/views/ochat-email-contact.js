import { api } from '../api.js'
import { h, replace } from '../dom.js'
import { icon } from '../icon.js'
import { contactPicker } from './ochat-contact.js'

/** Said wherever an email channel's messages are: the partner has no node, so nothing is sealed. */
export const NOT_ENCRYPTED = 'by email, not end-to-end encrypted'

/**
 * The administrator's form to add a partner company that has no node, reached by email: its name,
 * its address and the contact it is filed under. Its channel opens at once; the form says plainly
 * what such a channel is.
 */
export function emailContactForm(ctx, { contacts, onAdded }) {
  const name = h('input', {
    type: 'text',
    id: 'email-partner-name',
    maxLength: 200,
    autocomplete: 'organization',
    placeholder: 'Globex Corp.',
  })
  const email = h('input', {
    type: 'email',
    id: 'email-partner-address',
    maxLength: 254,
    autocomplete: 'off',
    placeholder: 'orders@globex.example',
  })
  const picker = contactPicker({ contacts, id: 'email-partner-contact' })
  name.addEventListener('input', () => {
    const company = picker.el.querySelector('.new-contact-company')
    if (company && !company.dataset.touched) company.value = name.value
  })
  picker.el.querySelector('.new-contact-company')?.addEventListener('input', (event) => {
    event.target.dataset.touched = 'yes'
  })
  const error = h('div', { class: 'form-error', hidden: true, attrs: { role: 'alert' } })
  const submit = h('button', { type: 'submit', class: 'primary', text: 'Add partner' })
  const fail = (...text) => {
    replace(error, ...text)
    error.hidden = false
  }
  return h(
    'form',
    {
      class: 'sheet email-partner-form',
      on: {
        submit: async (event) => {
          event.preventDefault()
          error.hidden = true
          if (!name.value.trim()) return fail('Enter the company’s name.')
          if (!email.value.trim() || !email.checkValidity()) return fail('Enter the company’s email address.')
          if (!picker.chosen()) return fail('Choose the contact this company is filed under (or create one).')
          submit.disabled = true
          try {
            const contactPartnerId = await picker.resolve()
            const added = await api('POST', '/api/v1/ochat/connections/email', {
              name: name.value.trim(),
              email: email.value.trim(),
              contactPartnerId,
            })
            ctx.notify(`${added.peer.name} added: its channel goes ${NOT_ENCRYPTED}`)
            name.value = ''
            email.value = ''
            await onAdded(added)
          } catch (failure) {
            ctx.report(failure)
            fail(failure.message, failure.reason ? ` ${failure.reason}` : '')
          } finally {
            submit.disabled = false
          }
        },
      },
    },
    h('h2', { text: 'Add a partner reached by email' }),
    h('p', {
      class: 'muted',
      text: `For a company without an O’Chat node: its channel goes ${NOT_ENCRYPTED}. Messages are emailed to the address; its replies come back into the channel.`,
    }),
    h(
      'div',
      { class: 'field-grid request-grid' },
      h('label', { htmlFor: 'email-partner-name', text: 'Company' }),
      name,
      h('label', { htmlFor: 'email-partner-address', text: 'Email address' }),
      email,
      h('label', { htmlFor: 'email-partner-contact', text: 'Filed under contact' }),
      picker.el,
    ),
    error,
    h('div', { class: 'actions' }, submit),
  )
}

/** The plain mark an email channel and each of its messages carry. */
export function notEncryptedBadge(extraClass = '') {
  return h(
    'span',
    {
      class: ['transport-email', extraClass],
      title:
        'This partner has no O’Chat node: messages travel as ordinary email, readable by the mail servers on the way.',
    },
    icon('mail'),
    ` ${NOT_ENCRYPTED}`,
  )
}
