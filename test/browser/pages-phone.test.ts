import type { Page } from 'playwright-core'
import t from 'tap'
import { launchBrowser, logIn, newProfile } from './browser.ts'
import { assertAccessible, assertFits, measureLayout, shoot } from './page-checks.ts'
import { everyPageScene, visit } from './pages-scene.ts'

/**
 * Every page of the node's UI on a phone (390 × 844), with something on it, checked on one visit each:
 * nothing sticks out past the right edge of the screen, what a finger taps is at least 40 px high, and
 * axe-core finds no serious or critical accessibility violation. The sidebar is a drawer behind a menu
 * button, and O'Chat shows one pane at a time. The desk, and the list of routes, is
 * pages-desk.test.ts. With OCHAT_SCREENSHOTS_DIR set (`pnpm screenshots`), the main pages are also
 * saved there as PNGs.
 */
const browser = await launchBrowser(t)
// A relay, two nodes, and two checks on each of two dozen pages.
t.setTimeout(120_000)
const PHONE = { width: 390, height: 844 }

const { acme, admin, link, pages } = await everyPageScene(t)

/** A sidebar's state as a person sees it: open means on screen and announced as expanded. */
async function drawer(page: Page) {
  const expanded = await page.getAttribute('.menu-button', 'aria-expanded')
  const shown = await page.locator('.sidebar').isVisible()
  const box = await page.locator('.sidebar').boundingBox()
  return { expanded, onScreen: shown && (box?.x ?? -1) >= 0 }
}

t.test('the login form is accessible and fits', async (t) => {
  const { page } = await newProfile(t, browser, { baseURL: acme.url, timeoutMs: 20_000 })
  await page.setViewportSize(PHONE)
  await page.goto('/#/inbox')
  await page.waitForSelector('#login')
  await assertAccessible(t, page, 'the login form')
  await assertFits(t, page, 'the login form', true)
})

t.test('at 390 px every page fits, with controls a finger can tap, and is accessible', async (t) => {
  const { page } = await newProfile(t, browser, { baseURL: acme.url, timeoutMs: 20_000 })
  await page.setViewportSize(PHONE)
  await logIn(page, admin.login, '#/inbox')
  for (const { hash, screenshot } of pages) {
    await visit(page, hash)
    await assertFits(t, page, hash, true)
    await assertAccessible(t, page, hash)
    if (screenshot) await shoot(page, `${screenshot}-phone`)
  }
  t.ok(await page.locator('.menu-button').isVisible(), 'a menu button')
  t.notOk(await page.locator('.sidebar').isVisible(), 'the sidebar is put away')
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
  t.same((await measureLayout(page, true)).overflowing, [], 'the open drawer fits the screen')
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
