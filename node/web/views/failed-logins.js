import { ApiError, api } from '../api.js'
import { formatTime, h, replace } from '../dom.js'

/** The page's address, for the sidebar link and its highlight. */
const FAILED_LOGINS_HASH = '#/security'

const PAGE_SIZE = 50
const exactTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'long' })

/** The sidebar's administration entries: only administrators get them. */
export function securityNav(user) {
  if (user.role !== 'admin') return []
  return [
    h('div', { class: 'nav-title', text: 'Security' }),
    h('a', { href: FAILED_LOGINS_HASH, class: 'nav-link', text: 'Failed logins' }),
  ]
}

/**
 * Security → Failed logins (administrators): wrong passwords and throttled attempts of the last 30
 * days, newest first, a page at a time. The node keeps them only that long.
 */
export async function renderFailedLogins(ctx, container) {
  ctx.highlight(FAILED_LOGINS_HASH)
  const title = h('h1', { text: 'Failed logins' })
  if (ctx.user.role !== 'admin') {
    forbidden(container, title)
    return
  }
  const rows = h('tbody')
  const table = h(
    'table',
    { class: 'list login-attempts' },
    h('caption', { class: 'visually-hidden', text: 'Failed logins, newest first' }),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Time', 'Login tried', 'Address', 'Browser', 'Result'].map((label) =>
          h('th', { text: label, attrs: { scope: 'col' } }),
        ),
      ),
    ),
    rows,
  )
  const empty = h('p', { class: 'empty', text: 'No failed logins in the last 30 days.', hidden: true })
  const more = h('button', { type: 'button', class: 'secondary', text: 'Load more', hidden: true })
  const refresh = h('button', { type: 'button', class: 'secondary', text: 'Refresh' })
  let cursor = null

  async function load(reset) {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) })
    if (!reset && cursor) query.set('cursor', cursor)
    const page = await api('GET', `/api/v1/login-attempts?${query}`)
    if (reset) rows.replaceChildren()
    for (const attempt of page.items) rows.append(attemptRow(attempt))
    const none = rows.childElementCount === 0
    table.hidden = none
    empty.hidden = !none
    cursor = page.nextCursor
    more.hidden = !cursor
  }

  /** One load at a time: a double click or a refresh during "Load more" must not mix up the pages. */
  async function loadWith(reset) {
    more.disabled = refresh.disabled = true
    try {
      await load(reset)
    } catch (error) {
      if (isForbidden(error)) forbidden(container, title)
      else ctx.report(error)
    } finally {
      more.disabled = refresh.disabled = false
    }
  }

  more.addEventListener('click', () => void loadWith(false))
  refresh.addEventListener('click', () => void loadWith(true))
  replace(
    container,
    h('div', { class: 'view-header' }, title, refresh),
    h('p', {
      class: 'muted',
      text: 'Wrong passwords and attempts refused for being too many, from the last 30 days. The login tried may name no user.',
    }),
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
  }
}

function forbidden(container, title) {
  replace(container, title, h('p', { class: 'empty', text: 'Only administrators can see this page.' }))
}

function isForbidden(error) {
  return error instanceof ApiError && (error.status === 403 || error.status === 404)
}

function attemptRow(attempt) {
  const at = new Date(attempt.at)
  return h(
    'tr',
    { class: 'login-attempt', dataset: { id: String(attempt.id) } },
    h(
      'td',
      {},
      h('time', {
        text: formatTime(attempt.at),
        title: exactTime.format(at),
        attrs: { datetime: at.toISOString() },
      }),
    ),
    h('td', {}, h('code', { class: 'attempt-login', text: attempt.login })),
    h('td', {}, h('code', { class: 'attempt-address', text: attempt.address })),
    h('td', {
      class: 'attempt-agent',
      text: attempt.userAgent ? shortUserAgent(attempt.userAgent) : 'Not given',
      title: attempt.userAgent ?? undefined,
    }),
    h(
      'td',
      {},
      attempt.throttled
        ? h('span', {
            class: 'tag tag-throttled',
            text: 'Throttled',
            title: 'Refused without checking the password: too many failures just before',
          })
        : h('span', { class: 'muted', text: 'Wrong login or password' }),
    ),
  )
}

const BROWSERS = [
  ['Edge', /Edg(?:e|A|iOS)?\/(\d+)/],
  ['Opera', /OPR\/(\d+)/],
  ['Firefox', /(?:Firefox|FxiOS)\/(\d+)/],
  ['Chrome', /(?:Chrome|CriOS)\/(\d+)/],
  ['Safari', /Version\/(\d+)[^ ]* (?:Mobile\/\S+ )?Safari\//],
  ['curl', /^curl\/([\d.]+)/],
]
const SYSTEMS = [
  ['Android', /Android/],
  ['iOS', /iPhone|iPad|iPod/],
  ['Windows', /Windows/],
  ['macOS', /Mac OS X|Macintosh/],
  ['ChromeOS', /CrOS/],
  ['Linux', /Linux/],
]
/** Past this many characters an unrecognized user agent is cut; the whole one is in the cell's title. */
const AGENT_CHARS = 40

/**
 * "Mozilla/5.0 (Windows NT 10.0; Win64; x64) … Firefox/128.0" → "Firefox 128 on Windows": what a
 * person reads at a glance. A user agent is whatever the client sent, so it is only a hint.
 */
export function shortUserAgent(userAgent) {
  const browser = BROWSERS.map(([name, pattern]) => [name, pattern.exec(userAgent)]).find(
    ([, found]) => found,
  )
  const system = SYSTEMS.find(([, pattern]) => pattern.test(userAgent))?.[0]
  if (!browser) return userAgent.length > AGENT_CHARS ? `${userAgent.slice(0, AGENT_CHARS - 1)}…` : userAgent
  const [name, found] = browser
  return `${name} ${found[1]}${system ? ` on ${system}` : ''}`
}
