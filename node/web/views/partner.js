import { api } from '../api.js'
import { h, replace } from '../dom.js'

/** Where a mention links to: who the partner is. */
export async function renderPartner(_ctx, container, id) {
  const partner = await api('GET', `/api/v1/partners/${id}`)
  replace(
    container,
    h('h1', { text: partner.name }),
    h(
      'dl',
      { class: 'facts' },
      h('dt', { text: 'Email' }),
      h('dd', { text: partner.email ?? '—' }),
      h('dt', { text: 'Company' }),
      h('dd', { text: partner.companyName ?? '—' }),
      h('dt', { text: 'Kind' }),
      h('dd', { text: partner.internal ? 'Employee' : 'External contact' }),
    ),
  )
}
