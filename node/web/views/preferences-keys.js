import { api } from '../api.js'
import { formatTime, h, replace } from '../dom.js'
import { icon } from '../icon.js'
import { failureText, outcomeLine, prefField, prefSection, whileSaving } from './preferences-parts.js'

/** The scopes a key may hold (node/src/auth/scopes.ts), with what each lets an integration do. */
const SCOPES = [
  ['records:read', 'Read records and contacts'],
  ['records:write', 'Create and change records and contacts'],
  ['models:read', 'Read the models and their fields'],
  ['chatter:read', 'Read messages and files'],
  ['chatter:write', 'Post messages and upload files'],
  ['activities:read', 'Read activities'],
  ['activities:write', 'Schedule and close activities'],
  ['ochat:read', "Read O'Chat channels"],
  ['ochat:write', "Send O'Chat messages"],
  ['mail:inbound', 'Hand over received email (administrators)'],
  ['admin', 'Administer the node (administrators)'],
]
/** Only administrators hand these out (policies/people.ts): others do not see them. */
const ADMIN_SCOPES = new Set(['admin', 'mail:inbound'])

/**
 * Personal API keys: the list (name, scopes, created, last used, revoked), a form to create one whose
 * secret is shown once with a Copy button, and revoking with a confirmation. Returns the section and
 * `refresh`, which reloads the list (after a password change revoked every key).
 */
export function keysSection({ ctx }) {
  let keys = []
  const list = h('div', { class: 'prefs-keys' })
  const listOutcome = outcomeLine()
  const secretBox = h('div', {
    class: 'prefs-secret',
    hidden: true,
    attrs: { role: 'region', 'aria-label': 'New API key' },
  })

  async function refresh() {
    try {
      keys = (await api('GET', '/api/v1/api-keys')).items
      render()
    } catch (failure) {
      listOutcome.fail(failure)
    }
  }

  function render() {
    if (keys.length === 0) return replace(list, h('p', { class: 'muted', text: 'No API keys yet.' }))
    replace(
      list,
      h(
        'ul',
        { class: 'prefs-key-list' },
        keys.map((key) => keyRow(key)),
      ),
    )
  }

  function keyRow(key) {
    const revoked = key.revokedAt !== null
    const actions = h('div', { class: 'prefs-key-actions' })
    const askRevoke = () =>
      replace(
        actions,
        h('span', { text: 'Revoke it? Whatever uses it stops working.' }),
        h('button', {
          type: 'button',
          class: 'danger',
          text: 'Yes, revoke',
          on: {
            click: (event) =>
              whileSaving(event.currentTarget, async () => {
                try {
                  await api('DELETE', `/api/v1/api-keys/${key.id}`)
                  listOutcome.ok(`Key "${key.name}" revoked.`)
                  await refresh()
                } catch (failure) {
                  listOutcome.fail(failure)
                }
              }),
          },
        }),
        h('button', { type: 'button', class: 'secondary', text: 'Cancel', on: { click: idle } }),
      )
    const idle = () =>
      replace(
        actions,
        revoked
          ? null
          : h(
              'button',
              {
                type: 'button',
                class: 'secondary',
                attrs: { 'aria-label': `Revoke ${key.name}` },
                on: { click: askRevoke },
              },
              icon('trash-2'),
              ' Revoke',
            ),
      )
    idle()
    return h(
      'li',
      { class: revoked ? 'prefs-key revoked' : 'prefs-key', dataset: { id: String(key.id) } },
      h(
        'div',
        { class: 'prefs-key-head' },
        h('strong', { class: 'prefs-key-name', text: key.name }),
        h('code', { class: 'muted', text: `${key.prefix}…` }),
        h('span', {
          class: revoked ? 'tag tag-external prefs-key-status' : 'tag prefs-key-status',
          text: revoked ? `revoked ${formatTime(key.revokedAt)}` : 'active',
        }),
      ),
      h(
        'div',
        { class: 'prefs-key-scopes' },
        key.scopes.map((scope) => h('span', { class: 'tag', text: scope })),
      ),
      h('div', {
        class: 'muted prefs-key-dates',
        text: `Created ${formatTime(key.createdAt)} · ${key.lastUsedAt ? `last used ${formatTime(key.lastUsedAt)}` : 'never used'}`,
      }),
      actions,
    )
  }

  function showSecret(created) {
    const secret = h('code', { class: 'prefs-secret-value', text: created.secret })
    const copied = h('span', { class: 'muted', attrs: { role: 'status' } })
    replace(
      secretBox,
      h(
        'p',
        { class: 'prefs-secret-warning' },
        icon('triangle-alert'),
        ` Copy the key "${created.name}" now: it is shown only this once.`,
      ),
      secret,
      h(
        'div',
        { class: 'actions' },
        h(
          'button',
          {
            type: 'button',
            class: 'primary',
            on: {
              click: async () => {
                try {
                  await navigator.clipboard.writeText(created.secret)
                  copied.textContent = 'Copied.'
                } catch {
                  // No clipboard access (an insecure origin, a refused permission): select it for Ctrl+C.
                  getSelection()?.selectAllChildren(secret)
                  copied.textContent = 'Selected: press Ctrl+C (⌘C) to copy.'
                }
              },
            },
          },
          icon('copy'),
          ' Copy',
        ),
        h('button', {
          type: 'button',
          class: 'secondary',
          text: 'Done, I copied it',
          on: {
            click: () => {
              secretBox.hidden = true
              replace(secretBox)
            },
          },
        }),
        copied,
      ),
    )
    secretBox.hidden = false
  }

  const name = h('input', {
    id: 'prefs-key-name',
    type: 'text',
    placeholder: 'e.g. Accounting sync',
    maxLength: 100,
  })
  const boxes = SCOPES.filter(([scope]) => ctx.user.role === 'admin' || !ADMIN_SCOPES.has(scope)).map(
    ([scope, label]) => {
      const box = h('input', { type: 'checkbox', id: `prefs-scope-${scope.replace(':', '-')}`, value: scope })
      return h(
        'label',
        { class: 'prefs-choice', htmlFor: box.id },
        box,
        ' ',
        h('code', { text: scope }),
        ` ${label}`,
      )
    },
  )
  const create = h('button', { type: 'submit', class: 'primary', text: 'Create key' })
  const createOutcome = outcomeLine()
  const form = h(
    'form',
    {
      class: 'prefs-form',
      attrs: { novalidate: '' },
      on: {
        submit: (event) => {
          event.preventDefault()
          createOutcome.clear()
          const scopes = [...form.querySelectorAll('input[type="checkbox"]:checked')].map((box) => box.value)
          if (!name.value.trim()) return createOutcome.fail(null, 'Name the key (what will use it).')
          if (scopes.length === 0) return createOutcome.fail(null, 'Pick at least one scope.')
          return whileSaving(create, async () => {
            try {
              const created = await api('POST', '/api/v1/api-keys', { name: name.value.trim(), scopes })
              form.reset()
              showSecret(created)
              await refresh()
            } catch (failure) {
              createOutcome.fail(failure, failureText(failure))
            }
          })
        },
      },
    },
    h('h3', { text: 'New key' }),
    prefField('Key name', name),
    h('fieldset', { class: 'prefs-choices prefs-scopes' }, h('legend', { text: 'Scopes' }), boxes),
    h('div', { class: 'actions' }, create),
    createOutcome.el,
  )
  const section = prefSection(
    'keys',
    'Personal API keys',
    h('p', {
      class: 'hint muted',
      text: 'Scripts and integrations call the API as you with a key: send it as "Authorization: Bearer <key>".',
    }),
    list,
    listOutcome.el,
    secretBox,
    form,
  )
  return { section, refresh }
}
