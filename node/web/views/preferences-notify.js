import { api } from '../api.js'
import { h } from '../dom.js'
import { failureText, outcomeLine, prefField, prefSection, whileSaving } from './preferences-parts.js'

const hourLabel = (hour) => `${String(hour).padStart(2, '0')}:00`

/**
 * Notifications: new messages in the inbox or by email, and the daily digest at an hour of the
 * user's time zone. The node refuses a digest without an email address; the page says what to do.
 */
export function notificationsSection({ user, saved }) {
  const radio = (value, label) => {
    const input = h('input', {
      type: 'radio',
      name: 'prefs-notification',
      id: `prefs-notification-${value}`,
      value,
      checked: user().notification === value,
    })
    return h('label', { class: 'prefs-choice', htmlFor: input.id }, input, ` ${label}`)
  }
  const digest = h('input', { type: 'checkbox', id: 'prefs-digest', checked: user().digest })
  const hour = h(
    'select',
    { id: 'prefs-digest-hour' },
    Array.from({ length: 24 }, (_, value) =>
      h('option', { value: String(value), text: hourLabel(value), selected: value === user().digestHour }),
    ),
  )
  const syncHour = () => (hour.disabled = !digest.checked)
  digest.addEventListener('change', syncHour)
  syncHour()
  const save = h('button', { type: 'submit', class: 'primary', text: 'Save notifications' })
  const outcome = outcomeLine()
  const form = h(
    'form',
    {
      class: 'prefs-form',
      on: {
        submit: (event) => {
          event.preventDefault()
          outcome.clear()
          const chosen = form.querySelector('input[name="prefs-notification"]:checked')?.value ?? 'inbox'
          const body = { notification: chosen, digest: digest.checked, digestHour: Number(hour.value) }
          return whileSaving(save, async () => {
            try {
              saved(await api('PATCH', `/api/v1/users/${user().id}`, body))
              outcome.ok('Notifications saved.')
            } catch (failure) {
              outcome.fail(
                failure,
                failure?.code === 'E_DIGEST_NEEDS_EMAIL'
                  ? 'Add an email address first (Profile, above): the daily digest is sent by email.'
                  : failureText(failure),
              )
            }
          })
        },
      },
    },
    h(
      'fieldset',
      { class: 'prefs-choices' },
      h('legend', { text: 'Tell me about new messages' }),
      radio('inbox', 'In my inbox here'),
      radio('email', 'By email'),
    ),
    h(
      'div',
      { class: 'prefs-digest' },
      h('label', { class: 'prefs-choice', htmlFor: 'prefs-digest' }, digest, ' Send me a daily digest email'),
      prefField('at (your time zone)', hour),
    ),
    h('div', { class: 'actions' }, save),
    outcome.el,
  )
  return prefSection('notifications', 'Notifications', form)
}

/** Time zone: dates, deadlines and the digest hour are the user's local ones. */
export function timeZoneSection({ user, saved }) {
  const zones = Intl.supportedValuesOf('timeZone')
  // The browser's list leaves out some names the node takes (UTC among them): keep the saved one.
  if (!zones.includes(user().timeZone)) zones.unshift(user().timeZone)
  const select = h(
    'select',
    { id: 'prefs-zone' },
    zones.map((zone) =>
      h('option', { value: zone, text: zone.replaceAll('_', ' '), selected: zone === user().timeZone }),
    ),
  )
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone
  const useBrowser = h('button', {
    type: 'button',
    class: 'link-button',
    text: `Use this device's (${browserZone})`,
    hidden: !zones.includes(browserZone) || browserZone === user().timeZone,
    on: { click: () => (select.value = browserZone) },
  })
  const save = h('button', { type: 'submit', class: 'primary', text: 'Save time zone' })
  const outcome = outcomeLine()
  const form = h(
    'form',
    {
      class: 'prefs-form',
      on: {
        submit: (event) => {
          event.preventDefault()
          outcome.clear()
          return whileSaving(save, async () => {
            try {
              saved(await api('PATCH', `/api/v1/users/${user().id}`, { timeZone: select.value }))
              useBrowser.hidden = browserZone === select.value || !zones.includes(browserZone)
              outcome.ok(`Time zone saved: ${select.value}.`)
            } catch (failure) {
              outcome.fail(failure)
            }
          })
        },
      },
    },
    prefField('Your time zone', select, useBrowser),
    h('div', { class: 'actions' }, save),
    outcome.el,
  )
  return prefSection('time-zone', 'Time zone', form)
}
