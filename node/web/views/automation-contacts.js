import { api } from '../api.js'
import { h, replace } from '../dom.js'
import { icon } from '../icon.js'

/** Contacts already looked up, by id, so that a page of rules names each contact with one request. */
const known = new Map()

/** The contacts with these ids (those that still exist), looked up once each. */
export async function loadContacts(ids) {
  const missing = [...new Set(ids)].filter((id) => !known.has(id))
  await Promise.all(
    missing.map(async (id) => {
      try {
        known.set(id, await api('GET', `/api/v1/partners/${id}`))
      } catch (error) {
        // A contact deleted since the rule was saved: the rule shows its id; anything else is an error.
        if (error.status !== 404) throw error
      }
    }),
  )
}

/** A contact's name as loaded, or its id when it is gone. */
export const contactName = (id) => known.get(id)?.name ?? `contact ${id}`

const describe = (partner) =>
  `${partner.name}${partner.email ? ` <${partner.email}>` : ''}${partner.internal ? '' : ' (external)'}`

/**
 * Contacts chosen by searching, as the record's "Add follower" does: the chosen ones as chips with a
 * remove button each, then a search box whose results add one on click.
 */
export function contactPicker(ctx, { id, label, partnerIds }) {
  let chosen = [...partnerIds]
  const chips = h('ul', { class: 'chips automation-contacts' })
  const search = h('input', {
    id,
    type: 'search',
    placeholder: 'Type a name or email',
    autocomplete: 'off',
    attrs: { 'aria-label': label },
  })
  const results = h('ul', { class: 'search-results' })
  let timer = null

  function render() {
    chips.hidden = chosen.length === 0
    replace(
      chips,
      chosen.map((partnerId) =>
        h(
          'li',
          { class: 'chip', dataset: { partnerId: String(partnerId) } },
          contactName(partnerId),
          h(
            'button',
            {
              type: 'button',
              class: 'link-button',
              attrs: { 'aria-label': `Remove ${contactName(partnerId)}` },
              on: {
                click: () => {
                  chosen = chosen.filter((item) => item !== partnerId)
                  render()
                },
              },
            },
            icon('x'),
          ),
        ),
      ),
    )
  }

  async function find() {
    const text = search.value.trim()
    if (!text) return results.replaceChildren()
    const page = await api('GET', `/api/v1/partners?${new URLSearchParams({ search: text, limit: '8' })}`)
    replace(
      results,
      page.items
        .filter((partner) => !chosen.includes(partner.id))
        .map((partner) =>
          h(
            'li',
            {},
            h('button', {
              type: 'button',
              class: 'link-button',
              text: describe(partner),
              on: {
                click: () => {
                  known.set(partner.id, partner)
                  chosen = [...chosen, partner.id]
                  search.value = ''
                  results.replaceChildren()
                  render()
                  search.focus()
                },
              },
            }),
          ),
        ),
    )
  }
  search.addEventListener('input', () => {
    clearTimeout(timer)
    timer = setTimeout(() => find().catch(ctx.report), 250)
  })
  loadContacts(chosen).then(render, ctx.report)
  render()

  return {
    control: search,
    nodes: h('div', { class: 'automation-contact-picker' }, chips, search, results),
    value: () => [...chosen],
  }
}
