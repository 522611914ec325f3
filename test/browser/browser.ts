import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import type { Test } from 'tap'
import { TEST_PASSWORD, type TestNode } from '../../node/test/helpers.ts'

/** Debian's Chromium, headless, driven by playwright-core; closed when the test file ends. */
export async function launchBrowser(t: Test): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  })
  t.teardown(() => browser.close())
  return browser
}

/**
 * A fresh browser profile (its own cookies) on `baseURL`, closed when the test ends: a script error
 * in the page fails the test, confirmation dialogs are accepted, and each wait gives up after
 * `timeoutMs`.
 */
export async function newProfile(
  t: Test,
  browser: Browser,
  { baseURL, timeoutMs }: { baseURL: string; timeoutMs: number },
): Promise<{ page: Page; context: BrowserContext }> {
  const context = await browser.newContext({ baseURL, acceptDownloads: true })
  t.teardown(() => context.close())
  const page = await context.newPage()
  page.setDefaultTimeout(timeoutMs)
  page.on('pageerror', (error) => t.fail(`script error in the page: ${error.message}`))
  page.on('dialog', (dialog) => void dialog.accept())
  return { page, context }
}

/** A fresh profile on a listening test node. */
export async function nodePage(t: Test, browser: Browser, node: TestNode): Promise<Page> {
  const address = node.app.server.address()
  if (!address || typeof address === 'string') throw new Error('the node is not listening')
  const { page } = await newProfile(t, browser, {
    baseURL: `http://127.0.0.1:${address.port}`,
    // 20 s: in CI other heavy files share the machine's two cores.
    timeoutMs: 20_000,
  })
  return page
}

/** Opens `hash` (the login form comes first), logs in, and waits until the view has loaded. */
export async function logIn(page: Page, login: string, hash: string): Promise<void> {
  await page.goto(`/${hash}`)
  await page.fill('#login', login)
  await page.fill('#password', TEST_PASSWORD)
  await page.click('button:has-text("Log in")')
  await page.waitForSelector('.view[data-ready]')
}

/**
 * Waits until `expression`, run in the page, is true. Playwright's waitForFunction polls a string
 * through eval, which the UI's Content Security Policy refuses as soon as the first look is false;
 * page.evaluate goes through the DevTools protocol, which the policy does not govern.
 */
export async function waitUntilTrue(page: Page, expression: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await page.evaluate(expression))) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${expression}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
