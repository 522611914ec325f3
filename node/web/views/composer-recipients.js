import { api } from '../api.js'
import { h, replace } from '../dom.js'

let pickers = 0

/**
 * The "To:" of "Send message": besides the followers, the record's customers who do not follow it
 * (as the node suggests, ticked) and anyone added by name. The ticked ones are sent with the message
 * as partners to notify, so they receive it without being made followers.
 */
export function recipientPicker(ctx, { recordId, followers }) {
  const number = ++pickers
  /** partnerId → { partner, box } in the order shown. */
  const shown = new Map()
  const boxes = h('span', { class: 'recipient-list' })
  const search = h('input', {
    type: 'search',
    class: 'recipient-search',
    id: `recipient-search-${number}`,
    placeholder: 'Add a recipient…',
    autocomplete: 'off',
  })
  const results = h('ul', { class: 'search-results recipient-results' })
  let timer = null

  function show(partner, checked) {
    const existing = shown.get(partner.id)
    if (existing) {
      existing.box.checked = true
      return
    }
    const box = h('input', { type: 'checkbox', checked, value: String(partner.id) })
    shown.set(partner.id, { partner, box })
    boxes.append(
      h(
        'label',
        { class: 'recipient', title: partner.email ?? 'no email address' },
        box,
        ` ${partner.name}`,
        partner.email ? h('span', { class: 'muted', text: ` <${partner.email}>` }) : null,
      ),
    )
  }

  async function findPartners() {
    const text = search.value.trim()
    if (!text) return results.replaceChildren()
    const page = await api('GET', `/api/v1/partners?${new URLSearchParams({ search: text, limit: '8' })}`)
    if (search.value.trim() !== text) return
    const following = new Set(followers().map((follower) => follower.partnerId))
    replace(
      results,
      page.items
        .filter((partner) => !following.has(partner.id) && partner.id !== ctx.user.partnerId)
        .map((partner) =>
          h(
            'li',
            {},
            h('button', {
              type: 'button',
              class: 'link-button',
              text: `${partner.name}${partner.email ? ` <${partner.email}>` : ''}`,
              on: {
                click: () => {
                  show(partner, true)
                  search.value = ''
                  results.replaceChildren()
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
    timer = setTimeout(() => findPartners().catch(ctx.report), 200)
  })
  // Enter in the search must not send the message half-addressed.
  search.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') event.preventDefault()
  })

  const element = h(
    'div',
    { class: 'recipients', attrs: { role: 'group', 'aria-label': 'Also send to' } },
    h('span', { class: 'recipients-label', text: 'Also to:' }),
    boxes,
    h('label', { class: 'visually-hidden', htmlFor: search.id, text: 'Add a recipient' }),
    search,
    results,
  )

  return {
    element,
    /** Fills in the node's suggestions; the composer is usable before they arrive. */
    async load() {
      const { items } = await api('GET', `/api/v1/records/${recordId}/suggested-recipients`)
      for (const suggested of items)
        show({ id: suggested.partnerId, name: suggested.name, email: suggested.email }, true)
    },
    /** The partners ticked. */
    partnerIds: () => [...shown.values()].filter(({ box }) => box.checked).map(({ partner }) => partner.id),
  }
}
