import t from 'tap'
import { launchBrowser, logIn, newProfile } from './browser.ts'
import { assertAccessible, assertFits, assertTabReachesAll, shoot } from './page-checks.ts'
import { assertEveryRouteVisited, everyPageScene, visit } from './pages-scene.ts'

/**
 * Every page of the node's UI on a desk (1400 × 900), with something on it, checked on one visit each
 * as three kinds of users meet it:
 *   - nothing sticks out past the right edge of the screen, so the page never scrolls sideways;
 *   - axe-core finds no serious or critical accessibility violation (a screen reader, low vision);
 *   - from the top of the page, the Tab key reaches every visible link, button and field of the top
 *     bar, the sidebar and the view (a keyboard alone).
 * The phone is pages-phone.test.ts. With OCHAT_SCREENSHOTS_DIR set (`pnpm screenshots`), the main
 * pages are also saved there as PNGs.
 */
const browser = await launchBrowser(t)
// A relay, two nodes, and three checks on each of two dozen pages.
t.setTimeout(120_000)
const DESK = { width: 1400, height: 900 }

const { acme, admin, pages } = await everyPageScene(t)

t.test('every route of the app is among the pages checked', async (t) => {
  assertEveryRouteVisited(t, pages)
})

t.test('the login form is accessible', async (t) => {
  const { page } = await newProfile(t, browser, { baseURL: acme.url, timeoutMs: 20_000 })
  await page.setViewportSize(DESK)
  await page.goto('/#/inbox')
  await page.waitForSelector('#login')
  await assertAccessible(t, page, 'the login form')
  await assertFits(t, page, 'the login form', false)
})

t.test('at 1400 px every page fits, is accessible, and Tab reaches all of it', async (t) => {
  const { page } = await newProfile(t, browser, { baseURL: acme.url, timeoutMs: 20_000 })
  await page.setViewportSize(DESK)
  await logIn(page, admin.login, '#/inbox')
  for (const { hash, screenshot } of pages) {
    await visit(page, hash)
    await assertFits(t, page, hash, false)
    await assertAccessible(t, page, hash)
    if (screenshot) await shoot(page, `${screenshot}-desk`)
    // Last: it moves the focus through the page.
    await assertTabReachesAll(t, page, hash)
  }
  t.notOk(await page.locator('.menu-button').isVisible(), 'no menu button')
  t.ok(await page.locator('.sidebar').isVisible(), 'the sidebar is in place')
})
