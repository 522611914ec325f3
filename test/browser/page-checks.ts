import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import axe from 'axe-core'
import type { Page } from 'playwright-core'
import type { Test } from 'tap'

/**
 * What pages-desk.test.ts and pages-phone.test.ts check on every page of the UI, on one visit each:
 * the layout (nothing wider than the screen, controls big enough for a finger), accessibility
 * (axe-core) and, on the desk, keyboard reach.
 */

/** The smallest height of a control a finger taps on the phone, in CSS pixels. */
export const TOUCH_PX = 40

type Layout = {
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
const LAYOUT = `(touchPx) => {
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

export async function measureLayout(page: Page, touch: boolean): Promise<Layout> {
  return (await page.evaluate(`(${LAYOUT})(${touch ? TOUCH_PX : 0})`)) as Layout
}

/** Asserts the page fits the screen's width and, on a phone, that every control is big enough. */
export async function assertFits(t: Test, page: Page, where: string, phone: boolean) {
  const found = await measureLayout(page, phone)
  t.ok(found.scrollWidth <= found.innerWidth, `${where}: the page does not scroll sideways`, {
    scrollWidth: found.scrollWidth,
  })
  t.same(found.overflowing, [], `${where}: nothing sticks out past the right edge`)
  if (phone) t.same(found.small, [], `${where}: every control is at least ${TOUCH_PX} px high`)
}

/** What a violation must reach to fail the test: axe's two highest impacts. */
const BLOCKING = new Set(['serious', 'critical'])

type Violation = { id: string; impact: string; help: string; helpUrl: string; targets: string[] }

/**
 * axe-core over the whole document, with its default rules (WCAG 2 A and AA, and best practices).
 * Its source goes in through the DevTools protocol: the UI's CSP refuses inline scripts, so a
 * <script> tag holding the source would never run. A colour contrast failure says which colours.
 */
async function violations(page: Page): Promise<Violation[]> {
  if (!(await page.evaluate('typeof window.axe === "object"'))) await page.evaluate(axe.source)
  return (await page.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then((results) =>
    results.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      helpUrl: v.helpUrl,
      targets: v.nodes.map((node) => {
        const colours = node.any.find((check) => check.data && check.data.fgColor)?.data
        return node.target.join(' ') + (colours
          ? ' (' + colours.fgColor + ' on ' + colours.bgColor + ': ' + colours.contrastRatio + ':1, needs ' + colours.expectedContrastRatio + ')'
          : '')
      }),
    })),
  )`)) as Violation[]
}

/**
 * Asserts axe finds nothing serious or critical on the page, printing each violation that is with its
 * rule, impact, elements and help, so the failure says what to fix.
 */
export async function assertAccessible(t: Test, page: Page, where: string) {
  const blocking = (await violations(page)).filter((v) => BLOCKING.has(v.impact))
  for (const v of blocking)
    t.comment(`${where}: ${v.id} (${v.impact}) ${v.targets.join(' | ')}: ${v.help} ${v.helpUrl}`)
  t.same(
    blocking.map((v) => `${v.id}: ${v.targets.length} element(s)`),
    [],
    `${where}: no serious or critical accessibility violation`,
  )
}

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

/**
 * Asserts that, from the top of the page, the Tab key reaches every visible link, button and field
 * within twice as many presses as there are of them (plus ten). The key events are queued over the
 * DevTools protocol without a round trip for each, as a keyboard sends them.
 */
export async function assertTabReachesAll(t: Test, page: Page, where: string) {
  const devtools = await page.context().newCDPSession(page)
  try {
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
    const controls = (await page.evaluate(MARK_CONTROLS)) as string[]
    // One press per control, and as many again for other stops (a box that scrolls takes the focus
    // too), checked every ten presses.
    for (let pressed = 0; pressed < 2 * controls.length + 10; pressed += 10) {
      await pressTab(10)
      if (await page.evaluate(REACHED_ALL)) break
    }
    const missed = (await page.evaluate(UNREACHED)) as string[]
    t.same(missed, [], `${where}: Tab reaches all ${controls.length} controls`)
  } finally {
    await devtools.detach()
  }
}

/** With OCHAT_SCREENSHOTS_DIR set (`pnpm screenshots`), saves the page there as `name`.png. */
export async function shoot(page: Page, name: string) {
  const dir = process.env.OCHAT_SCREENSHOTS_DIR
  if (!dir) return
  mkdirSync(dir, { recursive: true })
  await page.screenshot({ path: join(dir, `${name}.png`) })
}
