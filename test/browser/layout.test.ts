import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import t from 'tap'
import { buildPartner, buildRecord, buildUser } from '../../node/test/helpers.ts'
import { connectNodes, startTestNode, startTestRelay } from '../e2e/harness.ts'
import { launchBrowser, logIn, newProfile } from './browser.ts'

/**
 * Every page of the node's UI, on a desk (1400 × 900) and on a phone (390 × 844), with something on
 * it: records, a followed record's messages in the inbox, an activity, an O'Chat channel to another
 * company, a webhook, an automation rule and a bulk message. Nothing may stick out past the right edge
 * of the screen, so the page never scrolls sideways and no button is cut off. On the phone the sidebar
 * is a drawer behind a menu button, O'Chat shows one pane at a time, and what a finger taps is at least
 * 40 px high.
 *
 * With OCHAT_SCREENSHOTS_DIR set (`pnpm screenshots`), the main pages are also saved there as PNGs.
 */
const browser = await launchBrowser(t)
// A relay, two nodes and two dozen pages twice: more than tap's default on a busy two-core machine.
t.setTimeout(180_000)
const screenshotsDir = process.env.OCHAT_SCREENSHOTS_DIR

const DESK = { width: 1400, height: 900 }
const PHONE = { width: 390, height: 844 }
/** The smallest height of a control a finger taps on the phone, in CSS pixels. */
const TOUCH_PX = 40

/** The router's patterns, read from the files that declare them: a new page that is not visited below fails the test. */
function routePatterns(): RegExp[] {
  const sources = ['node/web/app.js', 'node/web/views/ochat-nav.js'].map((file) =>
    readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8'),
  )
  return sources.flatMap((source) =>
    [...source.matchAll(/\/(\^#\S*?\$)\//g)].map((found) => new RegExp(found[1] ?? '')),
  )
}

type Probe = {
  scrollWidth: number
  innerWidth: number
  /** Elements whose right edge is past the screen's, outside any box that scrolls or clips them. */
  overflowing: string[]
  /** Visible controls lower than the touch size (only measured when asked). */
  small: string[]
}

/**
 * Runs in the page. An element inside a box that scrolls or clips sideways (a table that scrolls in
 * its own frame) does not widen the page, as long as that box itself fits.
 */
const PROBE = `(touchPx) => {
  const width = window.innerWidth
  const name = (el) => el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '') + ' "' + (el.textContent || '').trim().slice(0, 30) + '"'
  const overflowing = []
  for (const el of document.querySelectorAll('body *')) {
    const rect = el.getBoundingClientRect()
    if ((rect.width === 0 && rect.height === 0) || rect.right <= width + 0.5) continue
    let contained = false
    for (let box = el.parentElement; box && box !== document.body; box = box.parentElement) {
      if (getComputedStyle(box).overflowX !== 'visible' && box.getBoundingClientRect().right <= width + 0.5) {
        contained = true
        break
      }
    }
    if (!contained) overflowing.push(name(el) + ' right=' + Math.round(rect.right))
  }
  const small = []
  if (touchPx)
    for (const el of document.querySelectorAll('button, select, input:not([type=checkbox]):not([type=radio]):not([type=file]), .nav-link')) {
      const rect = el.getBoundingClientRect()
      const style = getComputedStyle(el)
      if (rect.width === 0 || style.visibility === 'hidden' || el.closest('.sidebar:not(.open)')) continue
      if (rect.height < touchPx - 0.5) small.push(name(el) + ' height=' + Math.round(rect.height))
    }
  return { scrollWidth: document.scrollingElement.scrollWidth, innerWidth: width, overflowing, small }
}`

async function probe(page: Page, touch: boolean): Promise<Probe> {
  return (await page.evaluate(`(${PROBE})(${touch ? TOUCH_PX : 0})`)) as Probe
}

/** Opens `hash` in the running app and waits for its view (a page not found has nothing to load). */
async function visit(page: Page, hash: string) {
  // The open view's mark goes first, so the wait below is for the new one (the same hash routes nothing).
  await page.evaluate(
    `if (location.hash !== ${JSON.stringify(hash)}) { document.querySelector('.view')?.removeAttribute('data-ready'); location.hash = ${JSON.stringify(hash)} }`,
  )
  await page.waitForSelector('.view[data-ready], .view > h1:text("Page not found")')
  // Late pieces (a thread's messages, counters) settle within a frame or two of the view.
  await page.evaluate('new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))')
}

async function shoot(page: Page, name: string) {
  if (!screenshotsDir) return
  mkdirSync(screenshotsDir, { recursive: true })
  await page.screenshot({ path: join(screenshotsDir, `${name}.png`) })
}

/** A sidebar's state as a person sees it: open means on screen and announced as expanded. */
async function drawer(page: Page) {
  const expanded = await page.getAttribute('.menu-button', 'aria-expanded')
  const shown = await page.locator('.sidebar').isVisible()
  const box = await page.locator('.sidebar').boundingBox()
  return { expanded, onScreen: shown && (box?.x ?? -1) >= 0 }
}

/** The answer's body, or a failed setup: a page must show what the scene meant to put on it. */
function made<T>(answer: { status: number; body: unknown }, what: string): T {
  if (answer.status !== 200 && answer.status !== 201)
    throw new Error(`${what}: ${answer.status} ${JSON.stringify(answer.body)}`)
  return answer.body as T
}

const relay = await startTestRelay(t)
const acme = await startTestNode(t, { company: 'Acme', env: { NODE_WEBHOOK_ALLOWLIST: '127.0.0.1' } })
const globex = await startTestNode(t, { company: 'Globex' })
const sarah = await buildUser(acme.node as never, { name: 'Sarah Sales' })
const link = await connectNodes(acme, globex, relay)
const admin = acme.admin
const customer = buildPartner(acme.node as never, { name: 'Marie Dubois', companyName: 'Dubois & Fils SARL' })
const lead = await buildRecord(sarah, 'lead', { name: 'Office chairs for the Lyon warehouse, second floor' })
await buildRecord(sarah, 'lead', { name: 'Standing desks' })
made(
  await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: admin.partner.id }),
  'follower',
)
made(
  await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'message',
    body: 'The customer wants a quote for **forty** chairs, delivered before the end of the quarter, with assembly included.',
  }),
  'message',
)
made(
  await sarah.call('POST', `/api/v1/records/${lead.id}/activities`, {
    type: 'call',
    summary: 'Call Marie about the delivery date',
    assigneeId: admin.userId,
  }),
  'activity',
)
made(
  await admin.call('POST', `/api/v1/ochat/channels/${link.channelAtA}/messages`, {
    body: 'Hello Globex, the price list for next year is attached to the record.',
    format: 'markdown',
  }),
  "O'Chat message",
)
const endpoint = made<{ id: number }>(
  await admin.call('POST', '/api/v1/webhooks/endpoints', {
    url: 'http://127.0.0.1:9/erp/webhooks/ochat-events',
    events: ['record.created'],
  }),
  'webhook',
)
const rule = made<{ id: number }>(
  await admin.call('POST', '/api/v1/automation-rules', {
    name: 'Won leads: thank the customer',
    model: 'lead',
    trigger: { kind: 'set', field: 'stage', value: 'won' },
    actions: [{ type: 'post_message', kind: 'note', body: 'Won: send the thank-you letter.' }],
  }),
  'automation rule',
)
const bulk = made<{ id: string }>(
  await admin.call('POST', '/api/v1/ochat/bulk', {
    body: 'Our offices close on Friday.',
    channelIds: [link.channelAtA],
  }),
  'bulk message',
)
const models = made<{ items: { name: string }[] }>(await admin.call('GET', '/api/v1/models'), 'models').items

/** Every page, and the name of its screenshot for the main ones. */
const PAGES: [hash: string, screenshot?: string][] = [
  ['#/inbox', 'inbox'],
  ['#/activities', 'activities'],
  ...models.map((model): [string, string?] => [
    `#/models/${model.name}`,
    model.name === 'lead' ? 'records' : undefined,
  ]),
  [`#/records/${lead.id}`, 'record'],
  [`#/partners/${customer.id}`],
  ['#/preferences'],
  ['#/security'],
  ['#/settings/mail'],
  ['#/settings/mail/aliases'],
  ['#/settings/mail/incoming'],
  ['#/settings/webhooks'],
  [`#/settings/webhooks/${endpoint.id}`],
  ['#/settings/automation'],
  ['#/settings/users'],
  ['#/settings/activity-types'],
  ['#/settings/activity-plans'],
  [`#/settings/automation/${rule.id}`],
  ['#/ochat'],
  [`#/ochat/channels/${link.channelAtA}`, 'ochat'],
  ['#/ochat/connections', 'connections'],
  ['#/ochat/registration'],
  [`#/ochat/bulk/new?channels=${link.channelAtA}`],
  [`#/ochat/bulk/${bulk.id}`],
  ['#/no-such-page'],
]

t.test('every route of the app is among the pages checked', async (t) => {
  for (const pattern of routePatterns())
    t.ok(
      PAGES.some(([hash]) => pattern.test(hash)),
      `a page for ${pattern.source}`,
    )
})

for (const [label, size] of [
  ['1400 px', DESK],
  ['390 px', PHONE],
] as const)
  t.test(`at ${label} no page is wider than the screen`, async (t) => {
    const { page } = await newProfile(t, browser, { baseURL: acme.url, timeoutMs: 20_000 })
    await page.setViewportSize(size)
    await logIn(page, admin.login, '#/inbox')
    const phone = size === PHONE
    for (const [hash, screenshot] of PAGES) {
      await visit(page, hash)
      const found = await probe(page, phone)
      t.ok(found.scrollWidth <= found.innerWidth, `${hash}: the page does not scroll sideways`, {
        scrollWidth: found.scrollWidth,
      })
      t.same(found.overflowing, [], `${hash}: nothing sticks out past the right edge`)
      if (phone) t.same(found.small, [], `${hash}: every control is at least ${TOUCH_PX} px high`)
      if (screenshot) await shoot(page, `${screenshot}-${phone ? 'phone' : 'desk'}`)
    }
    t.equal(await page.locator('.menu-button').isVisible(), phone, phone ? 'a menu button' : 'no menu button')
    t.equal(
      await page.locator('.sidebar').isVisible(),
      !phone,
      phone ? 'the sidebar is put away' : 'the sidebar is in place',
    )
  })

t.test('at 390 px the menu opens the sidebar, and it closes as a phone user expects', async (t) => {
  const { page } = await newProfile(t, browser, { baseURL: acme.url, timeoutMs: 20_000 })
  await page.setViewportSize(PHONE)
  // No sliding: the drawer is where it ends up as soon as it opens.
  await page.emulateMedia({ reducedMotion: 'reduce' })
  await logIn(page, admin.login, '#/inbox')
  t.same(await drawer(page), { expanded: 'false', onScreen: false }, 'closed at first')

  await page.click('.menu-button')
  await page.locator('.sidebar').waitFor({ state: 'visible' })
  t.same(await drawer(page), { expanded: 'true', onScreen: true }, 'the menu button opens it')
  t.equal(
    await page.evaluate(
      'document.activeElement?.closest(".sidebar") ? document.activeElement.getAttribute("href") : null',
    ),
    '#/inbox',
    'focus moves to the current page in it',
  )
  t.same((await probe(page, true)).overflowing, [], 'the open drawer fits the screen')
  await shoot(page, 'menu-phone')

  await page.keyboard.press('Escape')
  await page.locator('.sidebar').waitFor({ state: 'hidden' })
  t.same(await drawer(page), { expanded: 'false', onScreen: false }, 'Escape closes it')
  t.equal(
    await page.evaluate('document.activeElement?.className'),
    'menu-button',
    'and gives focus back to the button',
  )

  await page.click('.menu-button')
  await page.locator('.sidebar').waitFor({ state: 'visible' })
  await page.mouse.click(PHONE.width - 20, PHONE.height / 2)
  await page.locator('.sidebar').waitFor({ state: 'hidden' })
  t.equal(await page.getAttribute('.menu-button', 'aria-expanded'), 'false', 'a tap beside it closes it')

  await page.click('.menu-button')
  await page.click('.sidebar a:has-text("My activities")')
  await page.waitForSelector('.view[data-ready] .activity-group')
  t.match(page.url(), /#\/activities$/, 'a link in it opens its page')
  await page.locator('.sidebar').waitFor({ state: 'hidden' })
  t.same(await drawer(page), { expanded: 'false', onScreen: false }, 'and the drawer closes')
  t.match(await page.textContent('.view'), /Call Marie about the delivery date/, 'the page is in view')

  // O'Chat, one pane at a time: the list, then the thread alone, then back to the list.
  await visit(page, '#/ochat')
  t.ok(await page.locator('.channel-pane').isVisible(), 'the channel list')
  t.notOk(await page.locator('.ochat-thread-pane').isVisible(), 'without an empty thread pane beside it')
  await page.click(`.channel-item[data-channel-id="${link.channelAtA}"] .channel-link`)
  await page.waitForSelector('.view[data-ready] .thread-head')
  t.notOk(await page.locator('.channel-pane').isVisible(), 'an open channel takes the whole screen')
  t.match(await page.textContent('.ochat-thread'), /price list for next year/, 'its messages are shown')
  await page.click('.pane-back')
  await page.waitForSelector('.view[data-ready] .ochat-pick', { state: 'attached' })
  t.ok(await page.locator('.channel-pane').isVisible(), 'Back shows the channel list again')
})
