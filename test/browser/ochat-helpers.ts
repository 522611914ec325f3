import type { Browser, BrowserContext, Locator, Page } from 'playwright-core'
import type { Test } from 'tap'
import { buildUser, TEST_PASSWORD } from '../../node/test/helpers.ts'
import { connectNodes, type E2eNode, startTestNode } from '../e2e/harness.ts'
import { newProfile } from './browser.ts'

/**
 * What the O'Chat browser tests share: a fresh profile on a node, logging in through the form, and
 * two companies (Acme and Globex) connected through a real relay, each with a user in the channel.
 */

/** A fresh browser profile on a node; a script error in the page fails the test. */
export async function openPage(
  t: Test,
  browser: Browser,
  node: E2eNode,
): Promise<{ page: Page; context: BrowserContext }> {
  // 20 s: beside other heavy files on two cores; a live update normally takes well under 1 s.
  return newProfile(t, browser, { baseURL: node.url, timeoutMs: 20_000 })
}

/** Logs in through the form, waits for the view and for live updates to flow. */
export async function logIn(page: Page, login: string, hash: string) {
  await page.goto(`/${hash}`)
  await page.fill('#login', login)
  await page.fill('#password', TEST_PASSWORD)
  await page.click('button:has-text("Log in")')
  await page.waitForSelector('.view[data-ready]')
  await page.waitForSelector('html[data-live="on"]', { state: 'attached' })
}

export async function go(page: Page, hash: string) {
  await page.evaluate(`location.hash = '${hash}'`)
  await page.waitForSelector('.view[data-ready]')
}

/** Acme and Globex, connected, each with a user who is a member of their channel. */
export async function twoCompanies(
  t: Test,
  relay: { baseUrl: string },
  acmeEnv: Record<string, string> = {},
) {
  const acme = await startTestNode(t, { company: 'Acme', env: acmeEnv })
  const globex = await startTestNode(t, { company: 'Globex' })
  // Users who exist when the channel opens become its members.
  const alice = await buildUser(acme.node as never, { name: 'Alice Acme' })
  const gina = await buildUser(globex.node as never, { name: 'Gina Globex' })
  const link = await connectNodes(acme, globex, relay)
  return { acme, globex, alice, gina, link }
}

/** The page's DOM, as the functions run in it see it (this project type-checks without the DOM library). */
type InPage = {
  getComputedStyle(el: unknown): Record<string, string>
  innerHeight: number
  innerWidth: number
  document: { documentElement: { scrollWidth: number } }
}
type Box = { getBoundingClientRect(): { top: number; bottom: number; height: number } }

/** Where an element is on the screen (CSS px). */
export async function rectOf(locator: Locator) {
  return locator.evaluate((el) => {
    const r = (el as unknown as Box).getBoundingClientRect()
    return { top: r.top, bottom: r.bottom, height: r.height }
  })
}

/** One computed style property of an element. */
export async function styleOf(locator: Locator, property: string): Promise<string> {
  return locator.evaluate(
    (el, name) => (globalThis as unknown as InPage).getComputedStyle(el)[name] ?? '',
    property,
  )
}

export async function viewportHeight(page: Page): Promise<number> {
  return page.evaluate(() => (globalThis as unknown as InPage).innerHeight)
}

export async function fitsWidth(page: Page): Promise<boolean> {
  return page.evaluate(() => {
    const g = globalThis as unknown as InPage
    return g.document.documentElement.scrollWidth <= g.innerWidth
  })
}
