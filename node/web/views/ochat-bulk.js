import { api } from '../api.js'
import { coalesced } from '../coalesced.js'
import { h, replace, setSanitizedHtml } from '../dom.js'
import { icon } from '../icon.js'
import { mountOchatComposer } from './ochat-composer.js'
import { formatMoment, STATUSES } from './ochat-parts.js'
import { timeView } from './ochat-time.js'

const COUNTS = ['sent', 'delivered', 'read', 'failed', 'pending', 'retrying']

/** Where a bulk message was started from (this tab), for the way back from its pages. */
const ORIGIN_KEY = 'ochat.bulk.from'
const ORIGINS = { '#/ochat/connections': 'Connections', '#/ochat': "O'Chat" }

/** Opens the bulk composer for these channels, remembering the page to come back to. */
export function startBulk(channelIds) {
  const here = location.hash.startsWith('#/ochat/channels/') ? '#/ochat' : location.hash
  sessionStorage.setItem(ORIGIN_KEY, here)
  location.hash = `#/ochat/bulk/new?channels=${channelIds.join(',')}`
}

/** A link back to where the bulk message was started (Connections or O'Chat), O'Chat when unknown. */
function backLink() {
  const from = sessionStorage.getItem(ORIGIN_KEY) ?? ''
  const href = from in ORIGINS ? from : '#/ochat'
  return h('a', { href, class: 'bulk-back' }, icon('arrow-left'), ` Back to ${ORIGINS[href]}`)
}

/**
 * A bulk message: the chosen channels (from the connections or channel list), one message with its
 * files (uploaded once), sent to each; then the summary page.
 */
export async function renderBulkCompose(ctx, container, channelIds) {
  ctx.highlight('#/ochat')
  const channels = (await api('GET', '/api/v1/ochat/channels')).items
  const recipients = channelIds
    .map((id) => channels.find((channel) => channel.id === id))
    .filter((channel) => channel && channel.state === 'accepted' && !channel.paused)
  const composerSlot = h('div')
  replace(
    container,
    backLink(),
    h('div', { class: 'view-header' }, h('h1', { text: 'Send a bulk message' })),
    h(
      'div',
      { class: 'sheet bulk-recipients' },
      h('h2', { text: `To ${recipients.length} compan${recipients.length === 1 ? 'y' : 'ies'}` }),
      recipients.length
        ? h(
            'ul',
            { class: 'recipient-list' },
            recipients.map((channel) =>
              h(
                'li',
                { dataset: { channelId: String(channel.id) } },
                h('strong', { text: channel.peer.name }),
                channel.contact ? h('span', { class: 'muted', text: ` — ${channel.contact.name}` }) : null,
              ),
            ),
          )
        : h('p', { class: 'empty', text: 'No active channel is selected: go back and select some.' }),
      h('p', {
        class: 'muted',
        text: 'Each company receives its own copy and has its own status. Use it for announcements, not for spam.',
      }),
    ),
    composerSlot,
  )
  const composer = mountOchatComposer(ctx, composerSlot, {
    placeholder: 'The message every selected company receives…',
    send: async ({ body, attachmentIds }) => {
      const summary = await api('POST', '/api/v1/ochat/bulk', {
        channelIds: recipients.map((channel) => channel.id),
        body,
        format: 'markdown',
        attachmentIds,
      })
      location.hash = `#/ochat/bulk/${encodeURIComponent(summary.id)}`
    },
  })
  composer.block(recipients.length ? null : 'Select at least one active channel.')
}

/** The summary of a bulk message: live counts, and each recipient's status. */
export async function renderBulkSummary(ctx, container, bulkId) {
  ctx.highlight('#/ochat')
  const countsEl = h('div', { class: 'bulk-counts' })
  const rows = h('tbody')
  const title = h('h1', { text: 'Bulk message' })
  const body = h('div', { class: 'body' })
  const preview = h('blockquote', { class: 'bulk-preview' }, body)
  let ids = new Set()
  replace(
    container,
    backLink(),
    h('div', { class: 'view-header' }, title),
    preview,
    countsEl,
    h(
      'table',
      { class: 'list bulk-items' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Company', 'Contact', 'Status', 'Since', 'Details'].map((label) => h('th', { text: label })),
        ),
      ),
      rows,
    ),
  )

  async function load() {
    const summary = await api('GET', `/api/v1/ochat/bulk/${encodeURIComponent(bulkId)}`)
    ids = new Set(summary.items.map((item) => item.messageId))
    setSanitizedHtml(body, summary.html)
    title.textContent = `Bulk message to ${summary.recipients} compan${summary.recipients === 1 ? 'y' : 'ies'} · ${formatMoment(summary.createdAt)}`
    replace(
      countsEl,
      COUNTS.filter(
        (key) =>
          key in summary.counts &&
          (summary.counts[key] > 0 || ['sent', 'delivered', 'read', 'failed'].includes(key)),
      ).map((key) =>
        h(
          'div',
          { class: `bulk-count count-${key}`, dataset: { status: key } },
          h('span', { class: 'bulk-count-value', text: String(summary.counts[key]) }),
          h('span', { class: 'bulk-count-label', text: STATUSES[key].label }),
        ),
      ),
    )
    replace(
      rows,
      summary.items.map((item) =>
        h(
          'tr',
          {
            class: `bulk-item status-row-${item.status}`,
            dataset: { channelId: String(item.channelId), status: item.status },
          },
          h('td', {}, h('a', { href: `#/ochat/channels/${item.channelId}`, text: item.peer.name })),
          h('td', { text: item.contact?.name ?? '—' }),
          h(
            'td',
            {},
            h(
              'span',
              { class: `ochat-status status-${item.status}` },
              STATUSES[item.status] ? icon(STATUSES[item.status].icon) : null,
            ),
            ` ${STATUSES[item.status]?.label ?? item.status}`,
          ),
          h('td', {}, item.statusAt ? timeView(item.statusAt) : '—'),
          h(
            'td',
            {},
            item.reason ? h('div', { class: 'status-reason', text: item.reason }) : null,
            item.nextStep ? h('div', { class: 'next-step muted', text: item.nextStep }) : null,
          ),
        ),
      ),
    )
  }

  const refresh = coalesced(load, ctx.report)
  await load()
  return ctx.live.onEvent((event) => {
    if (
      event.type === 'resync' ||
      (event.type === 'ochat.bulk' && event.bulkId === bulkId) ||
      (event.type === 'ochat.message' && ids.has(event.messageId))
    )
      void refresh()
  })
}
