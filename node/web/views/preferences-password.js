import { api } from '../api.js'
import { h, replace } from '../dom.js'
import { failureText, outcomeLine, prefField, prefSection, whileSaving } from './preferences-parts.js'

/**
 * Password: the current one (the node asks for it), the new one twice (a typo is caught here, before
 * anything is sent), and whether to revoke every API key with it. `keysRevoked` refreshes the key list.
 */
export function passwordSection({ user, keysRevoked }) {
  const input = (id, autocomplete) => h('input', { id, type: 'password', autocomplete, required: true })
  const current = input('prefs-current-password', 'current-password')
  const next = input('prefs-new-password', 'new-password')
  const confirm = input('prefs-confirm-password', 'new-password')
  const revoke = h('input', { type: 'checkbox', id: 'prefs-revoke-keys' })
  // Each field's own error, read out with it (aria-describedby).
  const fieldError = (field) => {
    const el = h('span', {
      class: 'field-error',
      id: `${field.id}-error`,
      hidden: true,
      attrs: { role: 'alert' },
    })
    field.setAttribute('aria-describedby', el.id)
    return el
  }
  const errors = { current: fieldError(current), next: fieldError(next), confirm: fieldError(confirm) }
  const showError = (name, text) => {
    replace(errors[name], text)
    errors[name].hidden = false
  }
  const save = h('button', { type: 'submit', class: 'primary', text: 'Change password' })
  const outcome = outcomeLine()
  const form = h(
    'form',
    {
      class: 'prefs-form',
      attrs: { novalidate: '' },
      on: {
        submit: (event) => {
          event.preventDefault()
          outcome.clear()
          for (const el of Object.values(errors)) el.hidden = true
          if (!current.value) return showError('current', 'Give your current password.')
          if (next.value.length < 8) return showError('next', 'At least 8 characters.')
          if (next.value !== confirm.value) return showError('confirm', 'The two new passwords differ.')
          const body = { password: next.value, currentPassword: current.value, revokeApiKeys: revoke.checked }
          return whileSaving(save, async () => {
            try {
              await api('PATCH', `/api/v1/users/${user().id}`, body)
              form.reset()
              outcome.ok(
                body.revokeApiKeys
                  ? 'Password changed. Your other sessions were logged out and your API keys revoked.'
                  : 'Password changed. Your other sessions were logged out.',
              )
              if (body.revokeApiKeys) keysRevoked()
            } catch (failure) {
              if (failure?.code === 'E_FORBIDDEN' && failure.reason.includes('currentPassword'))
                return showError('current', 'This is not your current password.')
              if (failure?.code === 'E_RATE_LIMITED')
                return showError('current', 'Too many wrong passwords: wait a few minutes, then try again.')
              outcome.fail(failure, failureText(failure))
            }
          })
        },
      },
    },
    prefField('Current password', current, errors.current),
    prefField('New password (at least 8 characters)', next, errors.next),
    prefField('New password again', confirm, errors.confirm),
    h(
      'label',
      { class: 'prefs-choice', htmlFor: 'prefs-revoke-keys' },
      revoke,
      ' Also revoke all my API keys',
    ),
    h('div', { class: 'actions' }, save),
    outcome.el,
  )
  return prefSection('password', 'Password', form)
}
