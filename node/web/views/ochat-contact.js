import { api } from '../api.js'
import { h } from '../dom.js'

/** External partners (customers, vendors): the contacts another company can be filed under. */
export async function loadContacts() {
  const page = await api('GET', '/api/v1/partners?limit=200')
  return page.items.filter((partner) => !partner.internal)
}

const NEW = 'new'

/**
 * Picks the contact a company is filed under: an existing external partner, or a new one created
 * through the partners API when the form is submitted. `resolve()` answers the partner id, or null
 * when nothing was chosen.
 */
export function contactPicker({ contacts, id, suggestedName = '' }) {
  const select = h(
    'select',
    { class: 'contact-select', id, attrs: { 'aria-label': 'Contact' } },
    h('option', { value: '', text: 'Choose a contact…' }),
    contacts.map((partner) =>
      h('option', {
        value: String(partner.id),
        text: partner.companyName ? `${partner.name} (${partner.companyName})` : partner.name,
      }),
    ),
    h('option', { value: NEW, text: 'Create a new contact…' }),
  )
  const name = h('input', {
    type: 'text',
    class: 'new-contact-name',
    placeholder: 'Contact name',
    attrs: { 'aria-label': 'New contact name' },
  })
  const company = h('input', {
    type: 'text',
    class: 'new-contact-company',
    placeholder: 'Company',
    value: suggestedName,
    attrs: { 'aria-label': 'New contact company' },
  })
  const fields = h('div', { class: 'new-contact', hidden: true }, name, company)
  select.addEventListener('change', () => {
    fields.hidden = select.value !== NEW
    if (!fields.hidden) name.focus()
  })
  return {
    el: h('div', { class: 'contact-picker' }, select, fields),
    select,
    /** Whether something is chosen (a new contact needs its name). */
    chosen: () => (select.value === NEW ? name.value.trim() !== '' : select.value !== ''),
    async resolve() {
      if (select.value === '') return null
      if (select.value !== NEW) return Number(select.value)
      if (!name.value.trim()) return null
      const partner = await api('POST', '/api/v1/partners', {
        name: name.value.trim(),
        companyName: company.value.trim() || null,
      })
      // Chosen from now on, if the form is used again after a refused request.
      select.insertBefore(h('option', { value: String(partner.id), text: partner.name }), select.lastChild)
      select.value = String(partner.id)
      fields.hidden = true
      return partner.id
    },
  }
}
