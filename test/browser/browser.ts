import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import type { Test } from 'tap'

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
