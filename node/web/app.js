import { ApiError, api, currentSession, setCsrfToken, whenSessionLost } from './api.js'
import { avatar } from './avatar.js'
import { h, replace } from './dom.js'
import { LiveSocket } from './live.js'
import { renderAdminActivityPlans } from './views/admin-activity-plans.js'
import { renderAdminActivityTypes } from './views/admin-activity-types.js'
import { adminNav, renderAdminUsers } from './views/admin-users.js'
import { automationNav, renderAutomation } from './views/automation.js'
import { renderAutomationRuns } from './views/automation-runs.js'
import { renderFailedLogins, securityNav } from './views/failed-logins.js'
import { renderInbox } from './views/inbox.js'
import { renderLogin } from './views/login.js'
import { renderMailAliases } from './views/mail-aliases.js'
import { renderMailIncoming } from './views/mail-incoming.js'
import { mailSettingsNav, renderMailSettings } from './views/mail-settings.js'
import { renderMyActivities } from './views/my-activities.js'
import { navDrawer } from './views/nav-mobile.js'
import { OCHAT_ROUTES, ochatNav } from './views/ochat-nav.js'
import { renderPartner } from './views/partner.js'
import { renderPreferences } from './views/preferences.js'
import { renderRecord } from './views/record.js'
import { renderRecordList } from './views/records.js'
import { searchButton } from './views/search.js'
import { renderWebhookLog } from './views/webhook-log.js'
import { renderWebhooks, webhooksNav } from './views/webhooks.js'

/**
 * The node's web UI: hash routes (#/models/lead, #/records/12, #/inbox, #/activities), one live socket
 * per tab, one banner for every failed request. Views get a context and a container, and return a
 * cleanup function that runs when the route changes.
 */
const root = document.getElementById('app')
const live = new LiveSocket()
const state = { user: null, models: [], cleanup: null, routeToken: 0, ochat: null, drawer: null }

const banner = h('div', { class: 'banner', hidden: true, attrs: { role: 'alert' } })
const badge = h('span', { class: 'live-badge', hidden: true, text: 'reconnecting…' })
const counter = h('span', { class: 'counter', hidden: true })
const main = h('main', { class: 'main' })
const nav = h('nav', { class: 'sidebar' })
const me = h('a', { href: '#/preferences', class: 'me', title: 'Your preferences' })

/** The top bar's name, with the picture when there is one (no initials beside the name itself). */
function showMe() {
  replace(
    me,
    state.user.avatarUrl ? avatar(state.user, 'avatar-small') : null,
    h('span', { class: 'me-name', text: state.user.name }),
  )
}

/** After the user changed their own profile: the top bar follows at once. */
function setUser(user) {
  state.user = user
  showMe()
}

/** Shows a failed request's message and reason in the banner (the API's words, unchanged). */
export function report(error) {
  if (!(error instanceof ApiError)) console.error(error)
  const message = error instanceof ApiError ? error.message : 'Something went wrong in the page.'
  const reason = error instanceof ApiError ? error.reason : String(error?.message ?? error)
  replace(
    banner,
    h('strong', { class: 'banner-message', text: message }),
    reason ? h('span', { class: 'banner-reason', text: reason }) : null,
    error instanceof ApiError && error.code ? h('code', { class: 'banner-code', text: error.code }) : null,
    h('button', {
      type: 'button',
      class: 'banner-close',
      text: '×',
      attrs: { 'aria-label': 'Dismiss' },
      on: { click: () => (banner.hidden = true) },
    }),
  )
  banner.hidden = false
}

/** A short confirmation ("Activity done") that fades by itself. */
export function notify(text) {
  const toast = h('div', { class: 'toast', text, attrs: { role: 'status' } })
  document.body.append(toast)
  setTimeout(() => toast.remove(), 4000)
}

async function refreshCounter() {
  try {
    const counters = await api('GET', '/api/v1/inbox/counters')
    counter.textContent = String(counters.unread)
    counter.hidden = counters.unread === 0
  } catch (error) {
    report(error)
  }
}

/** Marks the sidebar link of what is shown (a record page marks its model). */
function highlight(href) {
  for (const link of nav.querySelectorAll('a'))
    link.classList.toggle('active', link.getAttribute('href') === href)
}

function context() {
  return { user: state.user, models: state.models, live, report, notify, refreshCounter, highlight, setUser }
}

const ROUTES = [
  [/^#\/models\/([a-z0-9_]+)$/, (ctx, el, [model]) => renderRecordList(ctx, el, model)],
  [/^#\/records\/(\d+)$/, (ctx, el, [id]) => renderRecord(ctx, el, Number(id))],
  [/^#\/inbox$/, (ctx, el) => renderInbox(ctx, el)],
  [/^#\/activities$/, (ctx, el) => renderMyActivities(ctx, el)],
  [/^#\/partners\/(\d+)$/, (ctx, el, [id]) => renderPartner(ctx, el, Number(id))],
  [/^#\/preferences$/, (ctx, el) => renderPreferences(ctx, el)],
  [/^#\/security$/, (ctx, el) => renderFailedLogins(ctx, el)],
  [/^#\/settings\/mail$/, (ctx, el) => renderMailSettings(ctx, el)],
  [/^#\/settings\/mail\/aliases$/, (ctx, el) => renderMailAliases(ctx, el)],
  [/^#\/settings\/mail\/incoming$/, (ctx, el) => renderMailIncoming(ctx, el)],
  [/^#\/settings\/webhooks$/, (ctx, el) => renderWebhooks(ctx, el)],
  [/^#\/settings\/webhooks\/(\d+)$/, (ctx, el, [id]) => renderWebhookLog(ctx, el, Number(id))],
  [/^#\/settings\/automation$/, (ctx, el) => renderAutomation(ctx, el)],
  [/^#\/settings\/users$/, (ctx, el) => renderAdminUsers(ctx, el)],
  [/^#\/settings\/activity-types$/, (ctx, el) => renderAdminActivityTypes(ctx, el)],
  [/^#\/settings\/activity-plans$/, (ctx, el) => renderAdminActivityPlans(ctx, el)],
  [/^#\/settings\/automation\/(\d+)$/, (ctx, el, [id]) => renderAutomationRuns(ctx, el, Number(id))],
  ...OCHAT_ROUTES,
]

async function route() {
  if (!state.user) return
  const token = ++state.routeToken
  state.cleanup?.()
  state.cleanup = null
  live.watchRecord(null)
  banner.hidden = true
  const hash = location.hash || '#/inbox'
  highlight(hash)
  const match = ROUTES.map(([pattern, view]) => [pattern.exec(hash), view]).find(([found]) => found)
  const container = h('div', { class: 'view' })
  replace(main, container)
  // A route reached some other way than the drawer (Back, a link in the page) closes it too.
  state.drawer?.close()
  if (!match) {
    replace(
      container,
      h('h1', { text: 'Page not found' }),
      h('a', { href: '#/inbox', text: 'Go to the inbox' }),
    )
    return
  }
  const [found, view] = match
  try {
    const cleanup = await view(context(), container, found.slice(1))
    if (token !== state.routeToken) cleanup?.()
    else {
      state.cleanup = cleanup ?? null
      // The view has loaded what it shows (the browser tests wait for this).
      container.dataset.ready = 'true'
    }
  } catch (error) {
    report(error)
  }
}

function renderShell() {
  const logout = h('button', {
    type: 'button',
    class: 'link-button',
    text: 'Log out',
    on: {
      click: async () => {
        try {
          await api('DELETE', '/api/v1/session')
        } catch (error) {
          report(error)
        }
        loggedOut()
      },
    },
  })
  showMe()
  state.ochat = ochatNav(state.user, report)
  state.drawer?.stop()
  state.drawer = navDrawer(nav)
  replace(
    nav,
    h('div', { class: 'nav-title', text: 'Discuss' }),
    h('a', { href: '#/inbox', class: 'nav-link' }, h('span', { text: 'Inbox' }), counter),
    state.ochat.links,
    h('a', { href: '#/activities', class: 'nav-link', text: 'My activities' }),
    h('div', { class: 'nav-title', text: 'Records' }),
    state.models.map((model) =>
      h('a', { href: `#/models/${model.name}`, class: 'nav-link', text: model.label }),
    ),
    state.ochat.settings,
    mailSettingsNav(state.user),
    webhooksNav(state.user),
    automationNav(state.user),
    adminNav(state.user),
    securityNav(state.user),
  )
  replace(
    root,
    h(
      'header',
      { class: 'topbar' },
      state.drawer.button,
      h('a', { href: '#/inbox', class: 'brand', text: "O'Chat" }),
      badge,
      h('span', { class: 'spacer' }),
      searchButton(),
      me,
      logout,
    ),
    banner,
    h('div', { class: 'layout' }, nav, state.drawer.backdrop, main),
  )
}

async function loggedIn(session) {
  setCsrfToken(session.csrfToken)
  state.user = session.user
  state.models = (await api('GET', '/api/v1/models')).items
  renderShell()
  live.start()
  await Promise.all([refreshCounter(), state.ochat.refresh()])
  await route()
}

function loggedOut() {
  state.cleanup?.()
  state.cleanup = null
  state.drawer?.stop()
  state.drawer = null
  state.user = null
  setCsrfToken(null)
  live.stop()
  renderLogin(root, { onLoggedIn: (session) => loggedIn(session).catch(report) })
}

live.onStatus((connected) => {
  // Before the first connection there is nothing to re-establish: no badge while starting.
  badge.hidden = connected || !state.user
})
live.onEvent((event) => {
  if (event.type === 'inbox.changed' || event.type === 'resync') void refreshCounter()
  state.ochat?.onEvent(event)
})
whenSessionLost(() => {
  if (state.user) loggedOut()
})
window.addEventListener('hashchange', () => void route())

async function boot() {
  try {
    const session = await currentSession()
    if (session) await loggedIn(session)
    else loggedOut()
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) loggedOut()
    else {
      replace(root, banner)
      report(error)
    }
  }
}

void boot()
