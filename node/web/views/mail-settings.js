import { ApiError, api } from '../api.js'
import { h, replace } from '../dom.js'

/** The mail pages' addresses, for the sidebar links and their highlight. */
const MAIL_SETTINGS_HASH = '#/settings/mail'
export const MAIL_ALIASES_HASH = '#/settings/mail/aliases'
export const MAIL_INCOMING_HASH = '#/settings/mail/incoming'

/** Which environment variable sets each group of fields, as the note under a read-only group says. */
const ENV_OF = { server: 'NODE_SMTP_URL', from: 'NODE_MAIL_FROM', mailDomain: 'NODE_MAIL_DOMAIN' }

const SECURITY_LABELS = [
  ['starttls', 'STARTTLS (port 587)'],
  ['tls', 'TLS (port 465)'],
  ['none', 'None (a relay on this network only)'],
]

/** The sidebar's entries: only administrators get them. */
export function mailSettingsNav(user) {
  if (user.role !== 'admin') return []
  return [
    h('div', { class: 'nav-title', text: 'Settings' }),
    h('a', { href: MAIL_SETTINGS_HASH, class: 'nav-link', text: 'Outgoing mail' }),
    h('a', { href: MAIL_ALIASES_HASH, class: 'nav-link', text: 'Mail aliases' }),
    h('a', { href: MAIL_INCOMING_HASH, class: 'nav-link', text: 'Incoming mail' }),
  ]
}

/**
 * Settings → Outgoing mail (administrators): the SMTP server, the From address and the mail domain,
 * each read-only with a note where the environment sets it; what is still missing; and a test email
 * that shows the server's own answer, or why it failed and what to check.
 */
export async function renderMailSettings(ctx, container) {
  ctx.highlight(MAIL_SETTINGS_HASH)
  const title = h('h1', { text: 'Outgoing mail' })
  if (ctx.user.role !== 'admin') {
    forbidden(container, title)
    return
  }
  let settings
  try {
    settings = await api('GET', '/api/v1/mail/settings')
  } catch (error) {
    // The role was taken away after the app loaded: the node refuses, and the page says what any user sees.
    if (!isForbidden(error)) throw error
    forbidden(container, title)
    return
  }

  const status = h('div', { class: 'mail-status', attrs: { role: 'status' } })
  const input = (id, props) => h('input', { id, name: id, ...props })
  const fields = {
    host: input('mail-host', { type: 'text', placeholder: 'smtp.example.com', autocomplete: 'off' }),
    port: input('mail-port', { type: 'number', min: 1, max: 65535, placeholder: '587' }),
    security: h(
      'select',
      { id: 'mail-security', name: 'mail-security' },
      SECURITY_LABELS.map(([value, label]) => h('option', { value, text: label })),
    ),
    user: input('mail-user', { type: 'text', autocomplete: 'off' }),
    password: input('mail-password', { type: 'password', autocomplete: 'new-password' }),
    from: input('mail-from', { type: 'email', placeholder: 'notifications@example.com' }),
    mailDomain: input('mail-domain', { type: 'text', placeholder: 'example.com' }),
  }
  const clearPassword = h('input', { type: 'checkbox', id: 'mail-password-clear' })
  const passwordState = h('span', { class: 'hint muted' })
  const groups = {
    server: ['host', 'port', 'security', 'user', 'password'],
    from: ['from'],
    mailDomain: ['mailDomain'],
  }
  const notes = Object.fromEntries(
    Object.keys(groups).map((group) => [group, h('p', { class: 'hint muted env-note', hidden: true })]),
  )
  const error = h('div', { class: 'form-error', hidden: true, attrs: { role: 'alert' } })
  const save = h('button', { type: 'submit', class: 'primary', text: 'Save' })

  function show(view) {
    settings = view
    fields.host.value = view.host ?? ''
    fields.port.value = view.port === null ? '' : String(view.port)
    fields.security.value = view.security
    fields.user.value = view.user ?? ''
    fields.password.value = ''
    fields.password.placeholder = view.passwordSet ? 'Saved; type to replace it' : 'None'
    passwordState.textContent = view.passwordSet ? 'A password is saved (never shown).' : ''
    clearPassword.checked = false
    clearPassword.disabled = !view.passwordSet
    fields.from.value = view.from ?? ''
    fields.mailDomain.value = view.mailDomain ?? ''
    for (const [group, names] of Object.entries(groups)) {
      const fromEnv = view.sources[group] === 'environment'
      const text = fromEnv
        ? `Set by the environment (${ENV_OF[group]}): change it there and restart the node.`
        : ''
      for (const name of names) {
        fields[name].disabled = fromEnv
        fields[name].title = text
      }
      notes[group].textContent = text
      notes[group].hidden = !fromEnv
    }
    clearPassword.disabled ||= view.sources.server === 'environment'
    replace(
      status,
      view.ready
        ? h('p', {
            class: 'mail-ready',
            text: 'Mail can be sent with these settings. Send a test to be sure.',
          })
        : h(
            'div',
            { class: 'form-error mail-missing' },
            h('strong', { text: 'Email is not sent until these are set:' }),
            h(
              'ul',
              {},
              view.missing.map((item) => h('li', { text: item })),
            ),
          ),
    )
  }

  /** What changed, for the groups this page may set; a password is sent only when typed or cleared. */
  function changes() {
    const body = {}
    const text = (el) => el.value.trim() || null
    if (settings.sources.server !== 'environment') {
      body.host = text(fields.host)
      body.port = fields.port.value.trim() === '' ? null : Number(fields.port.value)
      body.security = fields.security.value
      body.user = text(fields.user)
      if (fields.password.value !== '') body.password = fields.password.value
      else if (clearPassword.checked) body.password = null
    }
    if (settings.sources.from !== 'environment') body.from = text(fields.from)
    if (settings.sources.mailDomain !== 'environment') body.mailDomain = text(fields.mailDomain)
    return body
  }

  const form = h(
    'form',
    {
      class: 'sheet mail-settings-form',
      attrs: { novalidate: '' },
      on: {
        submit: async (event) => {
          event.preventDefault()
          error.hidden = true
          save.disabled = true
          try {
            show(await api('PUT', '/api/v1/mail/settings', changes()))
            ctx.notify('Mail settings saved')
          } catch (failure) {
            if (!(failure instanceof ApiError)) return ctx.report(failure)
            replace(error, failure.message, failure.reason ? ` ${failure.reason}` : '')
            error.hidden = false
          } finally {
            save.disabled = false
          }
        },
      },
    },
    h('h2', { text: 'Mail server' }),
    h(
      'div',
      { class: 'field-grid' },
      h('label', { htmlFor: 'mail-host', text: 'Host' }),
      fields.host,
      h('label', { htmlFor: 'mail-port', text: 'Port' }),
      fields.port,
      h('label', { htmlFor: 'mail-security', text: 'Security' }),
      fields.security,
      h('label', { htmlFor: 'mail-user', text: 'User name' }),
      fields.user,
      h('label', { htmlFor: 'mail-password', text: 'Password' }),
      fields.password,
      h('label', { htmlFor: 'mail-password-clear', text: 'Remove the password' }),
      h('span', {}, clearPassword, ' ', passwordState),
    ),
    notes.server,
    h('h2', { text: 'Addresses' }),
    h(
      'div',
      { class: 'field-grid' },
      h('label', { htmlFor: 'mail-from', text: 'From address' }),
      fields.from,
      h('label', { htmlFor: 'mail-domain', text: 'Mail domain' }),
      fields.mailDomain,
    ),
    notes.from,
    notes.mailDomain,
    h('p', {
      class: 'hint muted',
      text: 'The mail domain is where replies and bounces come back (reply+…@ and bounce+…@ addresses); without one, the From address’s domain is used.',
    }),
    error,
    h('div', { class: 'actions' }, save),
  )

  replace(
    container,
    h('div', { class: 'view-header' }, title),
    status,
    form,
    testEmailForm(ctx),
    incomingMailLinks(),
  )
  show(settings)
}

/** Where the rest of the mail administration is (the sidebar is hidden on narrow screens). */
function incomingMailLinks() {
  return h(
    'nav',
    { class: 'sheet mail-admin-links', attrs: { 'aria-label': 'Incoming mail settings' } },
    h('h2', { text: 'Incoming mail' }),
    h(
      'ul',
      {},
      h(
        'li',
        {},
        h('a', { href: MAIL_ALIASES_HASH, text: 'Mail aliases' }),
        h('span', {
          class: 'muted',
          text: ': the addresses mail comes in at (sales@, support@), and who may write to them.',
        }),
      ),
      h(
        'li',
        {},
        h('a', { href: MAIL_INCOMING_HASH, text: 'Incoming mail' }),
        h('span', {
          class: 'muted',
          text: ': every mail received and what became of it; refused mail can be downloaded as it came.',
        }),
      ),
    ),
  )
}

/** "Send a test email": the server's answer word for word, or the reason and the next step. */
function testEmailForm(ctx) {
  const to = h('input', {
    type: 'email',
    id: 'mail-test-to',
    required: true,
    value: ctx.user.email ?? '',
    placeholder: 'you@example.com',
  })
  const send = h('button', { type: 'submit', class: 'secondary', text: 'Send a test email' })
  const result = h('div', { class: 'mail-test-result', attrs: { 'aria-live': 'polite' } })
  return h(
    'form',
    {
      class: 'sheet mail-test-form',
      on: {
        submit: async (event) => {
          event.preventDefault()
          send.disabled = true
          send.textContent = 'Sending…'
          replace(result, h('p', { class: 'muted', text: 'Connecting to the mail server…' }))
          try {
            const answer = await api('POST', '/api/v1/mail/settings/test', { to: to.value.trim() })
            replace(result, answer.ok ? accepted(answer) : refused(answer))
          } catch (failure) {
            if (!(failure instanceof ApiError)) {
              replace(result)
              return ctx.report(failure)
            }
            replace(
              result,
              h(
                'div',
                { class: 'form-error', attrs: { role: 'alert' } },
                h('strong', { text: failure.message }),
                failure.reason ? h('p', { text: failure.reason }) : null,
              ),
            )
          } finally {
            send.disabled = false
            send.textContent = 'Send a test email'
          }
        },
      },
    },
    h('h2', { text: 'Send a test email' }),
    h('p', { class: 'muted', text: 'Sends one email with the saved settings (save your changes first).' }),
    h(
      'div',
      { class: 'field-grid' },
      h('label', { htmlFor: 'mail-test-to', class: 'required', text: 'To' }),
      to,
    ),
    h('div', { class: 'actions' }, send),
    result,
  )
}

function accepted(answer) {
  return h(
    'div',
    { class: 'mail-test-ok', dataset: { ok: 'true' } },
    h('strong', { text: 'The mail server accepted the test email.' }),
    h('p', {}, 'Its answer: ', h('code', { text: answer.response })),
    h('p', { class: 'muted', text: 'If it does not arrive, look in the spam folder.' }),
  )
}

function refused(answer) {
  return h(
    'div',
    { class: 'form-error mail-test-failed', dataset: { ok: 'false' }, attrs: { role: 'alert' } },
    h('strong', {
      text:
        answer.code === null
          ? 'The test email could not be sent.'
          : `The mail server refused the test email (${answer.code}).`,
    }),
    h('p', {}, 'Reason: ', h('code', { text: answer.reason })),
    h('p', { class: 'mail-test-hint', text: answer.hint }),
  )
}

/** What a user who is not an administrator sees on an administration page. */
export function forbidden(container, title) {
  replace(container, title, h('p', { class: 'empty', text: 'Only administrators can see this page.' }))
}

/** The node refused: the role was taken away after the app loaded. */
export function isForbidden(error) {
  return error instanceof ApiError && (error.status === 403 || error.status === 404)
}
