import axe from 'axe-core'
import type { Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { launchBrowser, logIn, newProfile } from './browser.ts'
import { everyPageScene, routePatterns, visit } from './pages-scene.ts'

/**
 * Every page of the node's UI, as someone with a screen reader, low vision or a phone meets it:
 * axe-core finds no serious or critical accessibility violation on a desk (1400 px) or a phone
 * (390 px). The login form is checked too. Each violation is printed with its rule, impact, elements
 * and help, so the failure says what to fix. Keyboard reach is keyboard.test.ts.
 */
const browser = await launchBrowser(t)
// A relay, two nodes, and axe over two dozen pages twice.
t.setTimeout(120_000)

const DESK = { width: 1400, height: 900 }
const PHONE = { width: 390, height: 844 }
/** What a violation must reach to fail the test: axe's two highest impacts. */
const BLOCKING = new Set(['serious', 'critical'])

const { acme, admin, pages } = await everyPageScene(t)

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

/** Asserts `found` holds nothing serious or critical, printing each violation that is. */
function assertNoBlocking(t: Test, where: string, found: Violation[]) {
  const blocking = found.filter((v) => BLOCKING.has(v.impact))
  for (const v of blocking)
    t.comment(`${where}: ${v.id} (${v.impact}) ${v.targets.join(' | ')}: ${v.help} ${v.helpUrl}`)
  t.same(
    blocking.map((v) => `${v.id}: ${v.targets.length} element(s)`),
    [],
    `${where}: no serious or critical violation`,
  )
}

t.test('every route of the app is among the pages checked', async (t) => {
  for (const pattern of routePatterns())
    t.ok(
      pages.some((hash) => pattern.test(hash)),
      `a page for ${pattern.source}`,
    )
})

for (const [label, size] of [
  ['1400 px', DESK],
  ['390 px', PHONE],
] as const)
  t.test(`at ${label} axe finds no serious or critical violation on any page`, async (t) => {
    const login = await newProfile(t, browser, { baseURL: acme.url, timeoutMs: 20_000 })
    await login.page.setViewportSize(size)
    await login.page.goto('/#/inbox')
    await login.page.waitForSelector('#login')
    assertNoBlocking(t, `${label} login form`, await violations(login.page))

    const { page } = await newProfile(t, browser, { baseURL: acme.url, timeoutMs: 20_000 })
    await page.setViewportSize(size)
    await logIn(page, admin.login, '#/inbox')
    for (const hash of pages) {
      await visit(page, hash)
      assertNoBlocking(t, `${label} ${hash}`, await violations(page))
    }
  })
