import { api } from '../api.js'
import { coalesced } from '../coalesced.js'
import { formatTime, h, replace } from '../dom.js'
import { forbidden, isForbidden, MAIL_ALIASES_HASH, MAIL_INCOMING_HASH } from './mail-settings.js'

const PAGE_SIZE = 50
const exactTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'long' })

/** The filters an administrator looks at most: what went wrong, then everything. */
const FILTERS = [
  [null, 'All', 'No mail received yet.'],
  ['error', 'Errors', 'No mail that could not be read or stored.'],
  ['refused', 'Refused', 'No refused mail.'],
  ['loop', 'Loops', 'No mail dropped as a loop.'],
]

/** What became of a mail, in a person's words; the tag's colour says whether it needs a look. */
const OUTCOMES = {
  posted: ['Posted', 'ok', 'Posted into its record'],
  created: ['Created', 'ok', 'Made a new record'],
  bounce: ['Bounce', 'info', 'A delivery report about one of our emails'],
  duplicate: ['Duplicate', 'info', 'Taken in before (same Message-ID)'],
  auto: ['Auto-reply', 'info', 'An automatic answer (out of office…), not posted'],
  loop: ['Loop', 'warn', 'Dropped: a mail loop'],
  refused: ['Refused', 'bad', 'Refused; the raw message is kept 14 days'],
  error: ['Error', 'bad', 'Could not be read or stored; the raw message is kept 14 days'],
}
/** The outcomes whose raw message the node keeps for a while: without one, it expired. */
const RAW_KEPT = new Set(['refused', 'error'])

/**
 * Settings → Incoming mail (administrators): every mail received, newest first, with what became of
 * it and why, a page at a time. The node tells administrators when a mail comes in: the first page reloads.
 */
export async function renderMailIncoming(ctx, container) {
  ctx.highlight(MAIL_INCOMING_HASH)
  const title = h('h1', { text: 'Incoming mail' })
  if (ctx.user.role !== 'admin') {
    forbidden(container, title)
    return
  }
  const rows = h('tbody')
  const table = h(
    'table',
    { class: 'list stack-table incoming-mails' },
    h('caption', { class: 'visually-hidden', text: 'Incoming mail, newest first' }),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Time', 'From', 'Subject', 'Outcome', 'Reason', 'Record', 'Raw message'].map((label) =>
          h('th', { text: label, attrs: { scope: 'col' } }),
        ),
      ),
    ),
    rows,
  )
  const empty = h('p', { class: 'empty', hidden: true })
  const more = h('button', { type: 'button', class: 'secondary', text: 'Load more', hidden: true })
  const refresh = h('button', { type: 'button', class: 'secondary', text: 'Refresh' })
  let outcome = null
  let cursor = null

  const chips = FILTERS.map(([value, label]) =>
    h('button', {
      type: 'button',
      class: 'chip',
      text: label,
      dataset: { outcome: value ?? 'all' },
      on: {
        click: () => {
          outcome = value
          void loadWith(true)
        },
      },
    }),
  )

  async function load(reset) {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) })
    if (outcome) query.set('outcome', outcome)
    if (!reset && cursor) query.set('cursor', cursor)
    const page = await api('GET', `/api/v1/mail/incoming?${query}`)
    if (reset) rows.replaceChildren()
    for (const mail of page.items) rows.append(mailRow(mail))
    const none = rows.childElementCount === 0
    table.hidden = none
    empty.hidden = !none
    empty.textContent = FILTERS.find(([value]) => value === outcome)?.[2] ?? ''
    cursor = page.nextCursor
    more.hidden = !cursor
    for (const chip of chips) {
      const on = chip.dataset.outcome === (outcome ?? 'all')
      chip.classList.toggle('active', on)
      chip.setAttribute('aria-pressed', String(on))
    }
  }

  /** One load at a time: a double click, a filter or a refresh during "Load more" must not mix pages. */
  async function loadWith(reset) {
    for (const button of [more, refresh, ...chips]) button.disabled = true
    try {
      await load(reset)
    } catch (error) {
      if (isForbidden(error)) forbidden(container, title)
      else ctx.report(error)
    } finally {
      for (const button of [more, refresh, ...chips]) button.disabled = false
    }
  }

  more.addEventListener('click', () => void loadWith(false))
  refresh.addEventListener('click', () => void loadWith(true))
  replace(
    container,
    h('div', { class: 'view-header' }, title, refresh),
    h(
      'p',
      { class: 'muted' },
      'Every mail the node received and what became of it. Refused mail and mail that could not be read are kept 14 days to download as they came. New mail appears as it arrives. Addresses that take mail: ',
      h('a', { href: MAIL_ALIASES_HASH, text: 'Mail aliases' }),
      '.',
    ),
    h('div', { class: 'chips', attrs: { role: 'group', 'aria-label': 'Show' } }, chips),
    table,
    empty,
    more,
  )
  try {
    await load(true)
  } catch (error) {
    // The role was taken away after the app loaded: the node refuses, and the page says what any user sees.
    if (!isForbidden(error)) throw error
    forbidden(container, title)
    return
  }
  // A burst of mail gives at most two reloads of the first page.
  const reload = coalesced(() => loadWith(true), ctx.report)
  return ctx.live.onEvent((event) => {
    if (event.type === 'mail.incoming' || event.type === 'resync') void reload()
  })
}

function mailRow(mail) {
  const at = new Date(mail.receivedAt)
  const [label, tone, meaning] = OUTCOMES[mail.outcome] ?? [mail.outcome, 'info', '']
  const subject = mail.subject || '(no subject)'
  return h(
    'tr',
    { class: 'incoming-mail', dataset: { id: String(mail.id), outcome: mail.outcome } },
    h(
      'td',
      { dataset: { label: 'Time' } },
      h('time', {
        text: formatTime(mail.receivedAt),
        title: `${exactTime.format(at)}, by ${mail.via.toUpperCase()}`,
        attrs: { datetime: at.toISOString() },
      }),
    ),
    h(
      'td',
      { class: 'incoming-sender', dataset: { label: 'From' } },
      mail.sender ? h('code', { text: mail.sender }) : h('span', { class: 'muted', text: 'Unknown' }),
    ),
    h('td', { class: 'incoming-subject', dataset: { label: 'Subject' }, text: subject }),
    h(
      'td',
      { dataset: { label: 'Outcome' } },
      h('span', { class: `tag outcome outcome-${tone}`, text: label, title: meaning }),
    ),
    h(
      'td',
      { class: 'incoming-reason', dataset: { label: 'Reason' } },
      mail.reason ?? h('span', { class: 'muted', text: '—' }),
    ),
    h(
      'td',
      { dataset: { label: 'Record' } },
      mail.recordId === null
        ? h('span', { class: 'muted', text: '—' })
        : h('a', { href: `#/records/${mail.recordId}`, text: `Record ${mail.recordId}` }),
    ),
    h('td', { class: 'incoming-raw', dataset: { label: 'Raw message' } }, rawCell(mail, subject)),
  )
}

/** "Download raw" while the node keeps it; said plainly when it expired or was never kept. */
function rawCell(mail, subject) {
  if (mail.rawUntil !== null)
    return h('a', {
      href: `/api/v1/mail/incoming/${mail.id}/raw`,
      download: `incoming-${mail.id}.eml`,
      text: 'Download raw',
      title: `Kept until ${formatTime(mail.rawUntil)}`,
      attrs: { 'aria-label': `Download raw: “${subject}”` },
    })
  if (RAW_KEPT.has(mail.outcome)) return h('span', { class: 'muted', text: 'raw expired' })
  return h('span', { class: 'muted', text: 'not kept', title: 'Only refused and unreadable mail is kept' })
}
