import { api } from '../api.js'
import { h, replace } from '../dom.js'
import { loadPeople } from './fields.js'
import { forbidden, isForbidden } from './mail-settings.js'

export const USERS_HASH = '#/settings/users'
export const ACTIVITY_TYPES_HASH = '#/settings/activity-types'
export const ACTIVITY_PLANS_HASH = '#/settings/activity-plans'

/** The sidebar's entries under Settings: only administrators get them. */
export function adminNav(user) {
  if (user.role !== 'admin') return []
  return [
    h('a', { href: USERS_HASH, class: 'nav-link', text: 'Users' }),
    h('a', { href: ACTIVITY_TYPES_HASH, class: 'nav-link', text: 'Activity types' }),
    h('a', { href: ACTIVITY_PLANS_HASH, class: 'nav-link', text: 'Activity plans' }),
  ]
}

/** Every user, page after page (the API gives at most 200 at once). */
async function allUsers() {
  const users = []
  let cursor = null
  do {
    const page = await api(
      'GET',
      `/api/v1/users?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    )
    users.push(...page.items)
    cursor = page.nextCursor
  } while (cursor)
  return users
}

/**
 * Settings → Users (administrators): who can log in, their role, and what an administrator does for
 * them: create, change the role, deactivate or reactivate, set a new password. The node decides what
 * is allowed (not demoting or deactivating oneself); its reason is shown as it says it.
 */
export async function renderAdminUsers(ctx, container) {
  ctx.highlight(USERS_HASH)
  const title = h('h1', { text: 'Users' })
  if (ctx.user.role !== 'admin') return forbidden(container, title)
  let users
  try {
    users = await allUsers()
  } catch (error) {
    if (!isForbidden(error)) throw error
    return forbidden(container, title)
  }
  const rows = h('tbody')
  const formSlot = h('div')
  const table = h(
    'table',
    { class: 'list stack-table admin-users' },
    h('caption', { class: 'visually-hidden', text: 'Users' }),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Name', 'Login', 'Email', 'Role', 'Status'].map((label) =>
          h('th', { text: label, attrs: { scope: 'col' } }),
        ),
        h('th', { attrs: { scope: 'col' } }, h('span', { class: 'visually-hidden', text: 'Actions' })),
      ),
    ),
    rows,
  )

  function render() {
    rows.replaceChildren(...users.map(userRow))
  }

  function saved(user) {
    users = users.map((item) => (item.id === user.id ? user : item))
    render()
    void loadPeople({ fresh: true }).catch(ctx.report)
  }

  async function change(user, body, done) {
    try {
      saved(await api('PATCH', `/api/v1/users/${user.id}`, body))
      if (done) ctx.notify(done)
    } catch (error) {
      render()
      ctx.report(error)
    }
  }

  function userRow(user) {
    const passwordSlot = h('div', { class: 'user-password' })
    const role = h(
      'select',
      {
        class: 'user-role',
        attrs: { 'aria-label': `Role of ${user.name}` },
        on: {
          change: () =>
            void change(
              user,
              { role: role.value },
              `${user.name} is now ${role.value === 'admin' ? 'an administrator' : 'a user'}`,
            ),
        },
      },
      h('option', { value: 'user', text: 'User', selected: user.role === 'user' }),
      h('option', { value: 'admin', text: 'Administrator', selected: user.role === 'admin' }),
    )
    const toggle = user.active
      ? h('button', {
          type: 'button',
          class: 'secondary small user-deactivate',
          text: 'Deactivate',
          attrs: { 'aria-label': `Deactivate ${user.name}` },
          on: {
            click: () => {
              const sure = window.confirm(
                `Deactivate ${user.name}? This ends their sessions at once and revokes their API keys; reactivating does not bring the keys back.`,
              )
              if (sure) void change(user, { active: false }, `${user.name} is deactivated`)
            },
          },
        })
      : h('button', {
          type: 'button',
          class: 'secondary small user-reactivate',
          text: 'Reactivate',
          attrs: { 'aria-label': `Reactivate ${user.name}` },
          on: {
            click: () => {
              if (window.confirm(`Reactivate ${user.name}? They can log in again with their password.`))
                void change(user, { active: true }, `${user.name} can log in again`)
            },
          },
        })
    // Your own password needs your current one (the node asks for it): that is your profile's form.
    const reset =
      user.id === ctx.user.id
        ? null
        : h('button', {
            type: 'button',
            class: 'link-button small user-reset',
            text: 'Set password',
            attrs: { 'aria-label': `Set password for ${user.name}` },
            on: { click: () => openPassword(user, passwordSlot) },
          })
    return h(
      'tr',
      { class: 'admin-user', dataset: { id: String(user.id), active: String(user.active) } },
      h('td', { dataset: { label: 'Name' } }, h('strong', { text: user.name })),
      h('td', { dataset: { label: 'Login' } }, h('code', { text: user.login })),
      h('td', { dataset: { label: 'Email' }, text: user.email ?? '—' }),
      h('td', { dataset: { label: 'Role' } }, role),
      h(
        'td',
        { dataset: { label: 'Status' } },
        h('span', {
          class: `tag outcome user-status ${user.active ? 'outcome-ok' : 'outcome-bad'}`,
          text: user.active ? 'Active' : 'Deactivated',
        }),
      ),
      h('td', { class: 'user-actions', dataset: { label: 'Actions' } }, toggle, reset, passwordSlot),
    )
  }

  function openPassword(user, slot) {
    const input = h('input', {
      type: 'password',
      id: `user-password-${user.id}`,
      minLength: 8,
      maxLength: 200,
      required: true,
      autocomplete: 'new-password',
    })
    const revoke = h('input', { type: 'checkbox', id: `user-revoke-${user.id}` })
    replace(
      slot,
      h(
        'form',
        {
          class: 'inline-form',
          on: {
            submit: async (event) => {
              event.preventDefault()
              try {
                await api('PATCH', `/api/v1/users/${user.id}`, {
                  password: input.value,
                  ...(revoke.checked ? { revokeApiKeys: true } : {}),
                })
                slot.replaceChildren()
                ctx.notify(`New password set for ${user.name}; their other sessions ended`)
              } catch (error) {
                ctx.report(error)
              }
            },
          },
        },
        h('label', { htmlFor: input.id, text: `New password for ${user.name} (8 characters or more)` }),
        input,
        h('label', { class: 'check' }, revoke, ' Also revoke their API keys'),
        h(
          'div',
          { class: 'actions' },
          h('button', { type: 'submit', class: 'primary small', text: 'Set password' }),
          h('button', {
            type: 'button',
            class: 'link-button small',
            text: 'Discard',
            on: { click: () => slot.replaceChildren() },
          }),
        ),
      ),
    )
    input.focus()
  }

  function openCreate() {
    const field = (id, label, props) => [
      h('label', { htmlFor: id, text: label, class: props.required ? 'required' : undefined }),
      h('input', { id, name: id, ...props }),
    ]
    const form = h(
      'form',
      {
        class: 'user-create',
        on: {
          submit: async (event) => {
            event.preventDefault()
            const value = (name) => form.elements.namedItem(name).value.trim()
            try {
              const user = await api('POST', '/api/v1/users', {
                login: value('new-login'),
                name: value('new-name'),
                email: value('new-email') || null,
                role: value('new-role'),
                password: form.elements.namedItem('new-password').value,
              })
              users = [...users, user]
              render()
              formSlot.replaceChildren()
              void loadPeople({ fresh: true }).catch(ctx.report)
              ctx.notify(`${user.name} can log in as ${user.login}`)
            } catch (error) {
              ctx.report(error)
            }
          },
        },
      },
      h('h2', { text: 'New user' }),
      h(
        'div',
        { class: 'field-grid' },
        field('new-login', 'Login', { required: true, maxLength: 100, autocomplete: 'off' }),
        field('new-name', 'Name', { required: true, maxLength: 200 }),
        field('new-email', 'Email', { type: 'email', maxLength: 320 }),
        h('label', { htmlFor: 'new-role', text: 'Role' }),
        h(
          'select',
          { id: 'new-role', name: 'new-role' },
          h('option', { value: 'user', text: 'User' }),
          h('option', { value: 'admin', text: 'Administrator' }),
        ),
        field('new-password', 'Initial password', {
          type: 'password',
          required: true,
          minLength: 8,
          maxLength: 200,
          autocomplete: 'new-password',
        }),
      ),
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'submit', class: 'primary', text: 'Create user' }),
        h('button', {
          type: 'button',
          class: 'secondary',
          text: 'Discard',
          on: { click: () => formSlot.replaceChildren() },
        }),
      ),
    )
    replace(formSlot, form)
    form.elements.namedItem('new-login').focus()
  }

  render()
  replace(
    container,
    h(
      'div',
      { class: 'view-header' },
      title,
      h('button', { type: 'button', class: 'primary', text: 'New user', on: { click: openCreate } }),
    ),
    formSlot,
    table,
  )
}
