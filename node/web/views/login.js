import { ApiError, api } from '../api.js'
import { h, replace } from '../dom.js'

/** The login form. A refused login shows the API's message and reason under the form. */
export function renderLogin(root, { onLoggedIn }) {
  const error = h('div', { class: 'form-error', hidden: true, attrs: { role: 'alert' } })
  const login = h('input', { name: 'login', id: 'login', autocomplete: 'username', required: true })
  const password = h('input', {
    name: 'password',
    id: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
  })
  const submit = h('button', { type: 'submit', class: 'primary', text: 'Log in' })
  const form = h(
    'form',
    {
      class: 'login-card',
      on: {
        submit: async (event) => {
          event.preventDefault()
          error.hidden = true
          submit.disabled = true
          try {
            const session = await api('POST', '/api/v1/session', {
              login: login.value,
              password: password.value,
            })
            await onLoggedIn(session)
          } catch (failure) {
            submit.disabled = false
            replace(
              error,
              h('strong', { text: failure instanceof ApiError ? failure.message : 'The login failed.' }),
              failure instanceof ApiError && failure.reason
                ? h('span', { text: ` ${failure.reason}` })
                : null,
            )
            error.hidden = false
            password.select()
          }
        },
      },
    },
    h('h1', { class: 'login-title', text: "O'Chat" }),
    h('p', { class: 'muted', text: 'Log in to your company’s node.' }),
    h('label', { htmlFor: 'login', text: 'Login' }),
    login,
    h('label', { htmlFor: 'password', text: 'Password' }),
    password,
    error,
    submit,
  )
  replace(root, h('div', { class: 'login-page' }, form))
  login.focus()
}
