import type { Page } from 'playwright-core'
import t from 'tap'
import { buildNode, buildPartner, buildRecord, buildUser } from '../../node/test/helpers.ts'
import { launchBrowser, logIn, nodePage } from './browser.ts'

/**
 * A record list and the inbox as people use them: a fresh visit that logs nothing wrong, the list's
 * search box, filters, sortable columns and activity column, the Customer choice without employees,
 * and an assigned activity that says in the inbox what it is.
 */
const browser = await launchBrowser(t)
t.setTimeout(180_000)

type BrowserGlobals = { getComputedStyle(element: unknown): { color: string } }

/** The names in the list as shown, top to bottom. */
const listed = (page: Page) => page.locator('tr.record-row td:first-child a').allTextContents()

/** Waits until the list shows exactly `names`, in that order. */
async function listShows(page: Page, names: string[]) {
  const deadline = Date.now() + 20_000
  let shown = await listed(page)
  while (JSON.stringify(shown) !== JSON.stringify(names)) {
    if (Date.now() > deadline) throw new Error(`the list shows ${JSON.stringify(shown)}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
    shown = await listed(page)
  }
}

t.test('a fresh visit logs no error and finds its icon', async (t) => {
  const node = await buildNode(t, { listen: true })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const page = await nodePage(t, browser, node)
  const errors: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text())
  })
  page.on('response', (response) => {
    if (response.status() >= 400) errors.push(`${response.status()} ${response.url()}`)
  })
  await page.goto('/')
  await page.waitForSelector('#login')
  const favicon = await page.locator('link[rel="icon"]').getAttribute('href')
  t.equal(favicon, '/assets/favicon.svg', 'the page names its icon')
  const icon = await page.request.get(favicon ?? '')
  t.equal(icon.status(), 200)
  t.match(icon.headers()['content-type'], /image\/svg\+xml/)
  const ico = await page.request.get('/favicon.ico')
  t.equal(ico.status(), 200, '/favicon.ico answers for browsers that ask it anyway')

  t.same(errors, [], 'no failed request and no console error while logged out')

  // Logged in, a reload asks who is logged in again: no 401, and no missing file.
  await page.fill('#login', sarah.login)
  await page.fill('#password', 'correct horse battery')
  await page.click('button:has-text("Log in")')
  await page.waitForSelector('.view[data-ready]')
  await page.reload()
  await page.waitForSelector('.view[data-ready]')
  t.same(
    errors.filter((error) => /^40[14] /.test(error)),
    [],
    'no 401 and no 404 logged in either',
  )
})

t.test('search, filters, sorted columns and the activity column of a list', async (t) => {
  const node = await buildNode(t, { listen: true })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const tom = await buildUser(node, { name: 'Tom Trader' })
  const acme = buildPartner(node, { name: 'Acme Corp' })
  const desks = await buildRecord(sarah, 'lead', { name: 'Oak desks', expected_revenue: 500 })
  await buildRecord(sarah, 'lead', { name: 'Oak chairs', expected_revenue: 100, user_id: tom.userId })
  const lamps = await buildRecord(sarah, 'lead', { name: 'Lamps', expected_revenue: 300 })
  const { id: shelvesId } = await buildRecord(sarah, 'lead', {
    name: 'Shelves',
    description: 'solid OAK please',
  })
  await sarah.call('POST', `/api/v1/records/${desks.id}/activities`, { type: 'call', deadline: '2026-11-20' })
  await sarah.call('POST', `/api/v1/records/${lamps.id}/activities`, { type: 'call', deadline: '2026-11-25' })

  const page = await nodePage(t, browser, node)
  await logIn(page, sarah.login, '#/models/lead')
  await page.evaluate(`sessionStorage.clear()`)
  await page.reload()
  await page.waitForSelector('.view[data-ready]')
  await listShows(page, ['Shelves', 'Lamps', 'Oak chairs', 'Oak desks'])

  const overdue = page.locator('tr.record-row', { hasText: 'Oak desks' }).locator('.activity-cell')
  t.equal(await overdue.textContent(), 'Overdue')
  t.equal(
    await overdue
      .locator('.activity-state')
      .evaluate((el) => (globalThis as unknown as BrowserGlobals).getComputedStyle(el).color),
    'rgb(200, 35, 51)',
    'an overdue record is red',
  )
  const today = page.locator('tr.record-row', { hasText: 'Lamps' }).locator('.activity-cell')
  t.equal(await today.textContent(), 'Due today')

  // An activity scheduled elsewhere shows without a reload.
  await page.waitForSelector('html[data-live="on"]', { state: 'attached' })
  const shelves = page.locator('tr.record-row', { hasText: 'Shelves' }).locator('.activity-cell')
  t.equal(await shelves.textContent(), '')
  const planned = await sarah.call('POST', `/api/v1/records/${shelvesId}/activities`, {
    type: 'call',
    deadline: '2026-12-20',
  })
  t.equal(planned.status, 201)
  await shelves.locator('.state-text-planned', { hasText: 'Planned' }).waitFor()

  const requests: string[] = []
  page.on('request', (request) => {
    if (request.url().includes('/records?')) requests.push(request.url())
  })
  await page.getByRole('searchbox', { name: 'Search leads' }).pressSequentially('oak', { delay: 30 })
  await listShows(page, ['Shelves', 'Oak chairs', 'Oak desks'])
  t.equal(requests.length, 1, 'one request for the word, not one per key')
  t.match(requests[0], /q=oak/, 'the node searches')

  // People sort by name, nobody first; equal ones in the order they were made.
  const salesperson = page.getByRole('button', { name: 'Salesperson' })
  await salesperson.click()
  await listShows(page, ['Oak desks', 'Shelves', 'Oak chairs'])
  t.equal(await page.locator('th', { hasText: 'Salesperson' }).getAttribute('aria-sort'), 'ascending')
  await salesperson.click()
  await listShows(page, ['Oak chairs', 'Shelves', 'Oak desks'])
  t.equal(await page.locator('th', { hasText: 'Salesperson' }).getAttribute('aria-sort'), 'descending')

  await page.getByRole('button', { name: 'My records' }).click()
  await listShows(page, [])
  t.equal(await page.locator('td.empty').textContent(), 'No records match.')
  await page.getByRole('button', { name: 'My records' }).click()
  await page.getByRole('combobox', { name: 'Activity' }).selectOption('overdue')
  await listShows(page, ['Oak desks'])

  // Back from a record, the list is as it was left.
  await page.getByRole('link', { name: 'Oak desks' }).click()
  await page.waitForSelector('.view[data-ready]')
  await page.goBack()
  await listShows(page, ['Oak desks'])
  t.equal(await page.getByRole('searchbox', { name: 'Search leads' }).inputValue(), 'oak')

  // The Customer choice offers customers, not employees.
  await page.getByRole('button', { name: 'New', exact: true }).click()
  const customers = await page.locator('.new-record #field-partner_id option').allTextContents()
  t.ok(customers.includes(acme.name), 'a customer is offered')
  t.notOk(customers.includes('Sarah Sales'), 'an employee is not')
  t.notOk(customers.includes('Tom Trader'))
  t.same(await listed(page), ['Oak desks'])
})

t.test('an activity given to me says in the inbox what it is, and opens its record', async (t) => {
  const node = await buildNode(t, { listen: true })
  const ada = await buildUser(node, { name: 'Ada Admin', role: 'admin' })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const lead = await buildRecord(ada, 'lead', { name: 'Walnut desks' })
  const given = await ada.call('POST', `/api/v1/records/${lead.id}/activities`, {
    type: 'call',
    summary: 'Ask for the PO number',
    deadline: '2026-12-09',
    assigneeId: sarah.userId,
  })
  t.equal(given.status, 201)

  const page = await nodePage(t, browser, node)
  await logIn(page, sarah.login, '#/inbox')
  const entry = page.locator('.inbox-item').first()
  await entry.locator('.inbox-activity').waitFor()
  t.equal(await entry.locator('.inbox-record').textContent(), 'Walnut desks')
  const due = await page.evaluate(
    `new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeZone: 'UTC' }).format(new Date('2026-12-09T00:00:00Z'))`,
  )
  t.equal(
    await entry.locator('.inbox-activity').textContent(),
    `Call: Ask for the PO number · due ${due} · assigned by Ada Admin`,
  )
  t.match(await entry.locator('.message-head').textContent(), /Ada Admin ·/, 'from who assigned it')
  await entry.locator('.inbox-activity').click()
  await page.waitForURL(`**/#/records/${lead.id}`)
})
