import { api } from '../api.js'
import { h, replace } from '../dom.js'
import {
  aliasCreateForm,
  aliasForm,
  defaultsHint,
  defaultsInput,
  field,
  mailDomainOf,
  POLICY_LABEL,
  parseDefaults,
  policySelect,
} from './mail-alias-form.js'
import { forbidden, isForbidden, MAIL_ALIASES_HASH, MAIL_INCOMING_HASH } from './mail-settings.js'

/**
 * Settings → Mail aliases (administrators): the addresses mail comes in at. A model alias (`sales@`)
 * creates a record of its model from each new mail, with the defaults as first values; a record alias
 * posts every mail into one record. Each says who may write to it.
 */
export async function renderMailAliases(ctx, container) {
  ctx.highlight(MAIL_ALIASES_HASH)
  const title = h('h1', { text: 'Mail aliases' })
  if (ctx.user.role !== 'admin') {
    forbidden(container, title)
    return
  }
  let aliases
  try {
    aliases = (await api('GET', '/api/v1/mail/aliases')).items
  } catch (error) {
    if (!isForbidden(error)) throw error
    forbidden(container, title)
    return
  }

  const modelLabel = (name) => ctx.models.find((model) => model.name === name)?.label ?? name
  const rows = h('tbody')
  const table = h(
    'table',
    { class: 'list stack-table mail-aliases' },
    h('caption', { class: 'visually-hidden', text: 'Mail aliases, by name' }),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Address', 'Mail goes to', 'Who may write', 'Defaults'].map((label) =>
          h('th', { text: label, attrs: { scope: 'col' } }),
        ),
        h('th', { attrs: { scope: 'col' } }, h('span', { class: 'visually-hidden', text: 'Actions' })),
      ),
    ),
    rows,
  )
  const empty = h(
    'div',
    { class: 'empty mail-aliases-empty', hidden: true },
    h('p', {
      text: 'No aliases yet: mail to this node’s domain is refused unless it answers one of its emails.',
    }),
    h('p', {
      text: 'An alias is an address mail comes in at. For example, support@ → Ticket makes a new ticket of each new mail, named after its subject; replies go on in that ticket.',
    }),
  )
  let editing = null

  function render() {
    rows.replaceChildren()
    for (const alias of aliases) {
      rows.append(aliasRow(alias))
      if (editing === alias.id) rows.append(editRow(alias))
    }
    table.hidden = aliases.length === 0
    empty.hidden = aliases.length > 0
  }

  function aliasRow(alias) {
    const address = alias.address ?? `${alias.name}@`
    return h(
      'tr',
      { class: 'mail-alias', dataset: { id: String(alias.id), name: alias.name } },
      h(
        'td',
        { dataset: { label: 'Address' } },
        h('code', { class: 'alias-address', text: address }),
        alias.address ? null : h('span', { class: 'hint muted', text: ' (no mail domain set)' }),
        alias.active ? null : h('span', { class: 'tag tag-off', text: 'Off', title: 'Takes no mail' }),
      ),
      h('td', { class: 'alias-target', dataset: { label: 'Mail goes to' } }, target(alias)),
      h('td', {
        class: 'alias-policy',
        dataset: { label: 'Who may write' },
        text: POLICY_LABEL[alias.contactPolicy] ?? alias.contactPolicy,
      }),
      h(
        'td',
        { class: 'alias-defaults', dataset: { label: 'Defaults' } },
        Object.keys(alias.defaults).length === 0
          ? h('span', { class: 'muted', text: 'None' })
          : h('code', { text: JSON.stringify(alias.defaults) }),
      ),
      h(
        'td',
        { class: 'alias-actions' },
        h('button', {
          type: 'button',
          class: 'secondary small alias-edit-button',
          text: 'Edit',
          attrs: { 'aria-label': `Edit ${address}`, 'aria-expanded': String(editing === alias.id) },
          on: { click: () => toggleEdit(alias.id) },
        }),
        h('button', {
          type: 'button',
          class: 'secondary small alias-delete',
          text: 'Delete',
          attrs: { 'aria-label': `Delete ${address}` },
          on: { click: () => void remove(alias, address) },
        }),
      ),
    )
  }

  function toggleEdit(id) {
    editing = editing === id ? null : id
    render()
    // The form opens under its row: take the keyboard there, or back to the row's button on closing.
    const focus =
      editing === null
        ? rows.querySelector(`tr[data-id="${id}"] .alias-edit-button`)
        : document.getElementById(`alias-${id}-policy`)
    focus?.focus()
  }

  function target(alias) {
    if (alias.recordId === null) return `New ${modelLabel(alias.model)} for each new mail`
    return [
      h('a', { href: `#/records/${alias.recordId}`, text: `Record ${alias.recordId}` }),
      ` (${modelLabel(alias.model)})`,
    ]
  }

  function editRow(alias) {
    const id = `alias-${alias.id}`
    const policy = policySelect(`${id}-policy`, alias.contactPolicy)
    const defaults = defaultsInput(`${id}-defaults`, alias.defaults)
    const active = h('input', { type: 'checkbox', id: `${id}-active`, checked: alias.active })
    const fields = {
      contactPolicy: field({
        id: `${id}-policy`,
        label: 'Who may write',
        control: policy.select,
        hint: policy.hint,
      }),
      defaults: field({
        id: `${id}-defaults`,
        label: 'Defaults',
        control: defaults,
        hint: alias.recordId === null ? defaultsHint() : 'Not used: this alias posts into one record.',
      }),
      active: field({
        id: `${id}-active`,
        label: 'Takes mail',
        control: active,
        hint: 'Turned off, mail to it is refused until you turn it on again.',
      }),
    }
    const form = aliasForm({
      ctx,
      fields,
      className: 'alias-edit-form',
      submitText: 'Save',
      extraActions: [
        h('button', {
          type: 'button',
          class: 'secondary',
          text: 'Cancel',
          on: { click: () => toggleEdit(alias.id) },
        }),
      ],
      body: () => ({
        contactPolicy: policy.select.value,
        defaults: parseDefaults(defaults.value),
        active: active.checked,
      }),
      send: async (body) => {
        const saved = await api('PATCH', `/api/v1/mail/aliases/${alias.id}`, body)
        aliases = aliases.map((item) => (item.id === saved.id ? saved : item))
        editing = null
        render()
        ctx.notify(`Alias ${saved.address ?? saved.name} saved`)
      },
    })
    return h(
      'tr',
      { class: 'alias-edit' },
      h('td', { colSpan: 5 }, h('h2', { class: 'visually-hidden', text: `Edit ${alias.name}` }), form),
    )
  }

  async function remove(alias, address) {
    const sure = window.confirm(`Delete the alias ${address}? Mail sent to it will be refused from now on.`)
    if (!sure) return
    try {
      await api('DELETE', `/api/v1/mail/aliases/${alias.id}`)
      aliases = aliases.filter((item) => item.id !== alias.id)
      if (editing === alias.id) editing = null
      render()
      ctx.notify(`Alias ${address} deleted`)
    } catch (error) {
      ctx.report(error)
    }
  }

  const created = aliasCreateForm(ctx, {
    domain: mailDomainOf(aliases),
    onCreated: (alias) => {
      aliases = [...aliases, alias].sort((a, b) => a.name.localeCompare(b.name))
      render()
      ctx.notify(`Alias ${alias.address ?? alias.name} created`)
    },
  })
  replace(
    container,
    h('div', { class: 'view-header' }, title, h('a', { href: MAIL_INCOMING_HASH, text: 'Incoming mail' })),
    h('p', {
      class: 'muted',
      text: 'The addresses mail comes in at. Replies to the node’s own emails need no alias: they find their record by themselves.',
    }),
    table,
    empty,
    created,
  )
  render()
}
