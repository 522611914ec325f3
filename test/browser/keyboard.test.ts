import t from 'tap'
import { launchBrowser, logIn, newProfile } from './browser.ts'
import { everyPageScene, visit } from './pages-scene.ts'

/**
 * Every page of the node's UI with only a keyboard, on a desk (1400 px): from the top of the page,
 * the Tab key reaches every visible link, button and field of the top bar, the sidebar and the view,
 * within twice as many presses as there are of them. The pages are those of layout.test.ts (axe.test.ts
 * checks that none is missing).
 */
const browser = await launchBrowser(t)
// A relay, two nodes, and a few dozen key presses on each of two dozen pages.
t.setTimeout(120_000)

const { acme, admin, pages } = await everyPageScene(t)

/**
 * Runs in the page: the visible controls a keyboard user must be able to reach, each marked with a
 * number. Disabled ones are skipped, and so are those taken out of the Tab order on purpose
 * (tabindex -1: a list the arrow keys move in). Radio buttons count once per group: Tab enters the
 * group, the arrows choose. Answers their names.
 */
const MARK_CONTROLS = `(() => {
  const visible = (el) => {
    const rect = el.getBoundingClientRect()
    const style = getComputedStyle(el)
    return rect.width > 0 && rect.height > 0 && style.visibility !== 'hidden' && !el.closest('[inert], [hidden]')
  }
  const radios = new Set()
  const controls = []
  for (const el of document.querySelectorAll('a[href], button, input, select, textarea')) {
    if (el.disabled || el.type === 'hidden' || el.getAttribute('tabindex') === '-1' || !visible(el)) continue
    if (el.type === 'radio') {
      if (radios.has(el.name)) continue
      radios.add(el.name)
    }
    el.dataset.tabProbe = String(controls.length)
    controls.push(el.tagName.toLowerCase() + ' "' + (el.getAttribute('aria-label') || el.textContent || el.name || '').trim().slice(0, 30) + '"')
  }
  window.__reached = new Set()
  document.addEventListener('focusin', (event) => {
    const el = event.target
    window.__reached.add(el.type === 'radio' ? 'radio:' + el.name : el.dataset?.tabProbe)
  })
  // Tab starts from the top of the page, not from what the view focused (a composer, a search box).
  document.activeElement?.blur()
  document.body.tabIndex = -1
  document.body.focus()
  document.body.removeAttribute('tabindex')
  return controls
})()`

/** Whether focus has reached every marked control. */
const REACHED_ALL = `[...document.querySelectorAll('[data-tab-probe]')].every((el) =>
  window.__reached.has(el.type === 'radio' ? 'radio:' + el.name : el.dataset.tabProbe))`

/** The marked controls focus never reached, by name; the marks go. */
const UNREACHED = `(() => {
  const missed = []
  for (const el of document.querySelectorAll('[data-tab-probe]')) {
    const key = el.type === 'radio' ? 'radio:' + el.name : el.dataset.tabProbe
    if (!window.__reached.has(key)) missed.push(el.tagName.toLowerCase() + ' "' + (el.getAttribute('aria-label') || el.textContent || el.name || '').trim().slice(0, 30) + '"')
    el.removeAttribute('data-tab-probe')
  }
  return missed
})()`

t.test('at 1400 px Tab reaches every visible link, button and field of every page', async (t) => {
  const { page } = await newProfile(t, browser, { baseURL: acme.url, timeoutMs: 20_000 })
  await page.setViewportSize({ width: 1400, height: 900 })
  await logIn(page, admin.login, '#/inbox')
  const devtools = await page.context().newCDPSession(page)
  /**
   * Presses Tab `times` times, as a keyboard would, in one go: the key events are queued in order
   * over the DevTools protocol without a round trip for each (a page takes some forty presses).
   */
  const pressTab = (times: number) =>
    Promise.all(
      Array.from({ length: times }, () =>
        (['rawKeyDown', 'keyUp'] as const).map((type) =>
          devtools.send('Input.dispatchKeyEvent', {
            type,
            key: 'Tab',
            code: 'Tab',
            windowsVirtualKeyCode: 9,
          }),
        ),
      ).flat(),
    )
  for (const hash of pages) {
    await visit(page, hash)
    const controls = (await page.evaluate(MARK_CONTROLS)) as string[]
    // One press per control, and as many again for other stops (a box that scrolls takes the focus
    // too), checked every ten presses.
    for (let pressed = 0; pressed < 2 * controls.length + 10; pressed += 10) {
      await pressTab(10)
      if (await page.evaluate(REACHED_ALL)) break
    }
    const missed = (await page.evaluate(UNREACHED)) as string[]
    t.same(missed, [], `${hash}: Tab reaches all ${controls.length} controls`)
  }
})
