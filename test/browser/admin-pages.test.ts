import type { Page } from 'playwright-core'
import t from 'tap'
import { buildNode, buildRecord, buildUser } from '../../node/test/helpers.ts'
import { launchBrowser, logIn, nodePage } from './browser.ts'

/**
 * The administrator's pages in a real browser: users (create, deactivate, new password), activity
 * types (an icon drawn in the schedule form) and plans (launched on a record); and, on a record,
 * "Done & schedule next".
 */
const browser = await launchBrowser(t)
t.setTimeout(240_000)

/** Logs in with a password typed in the form (not the test users' shared one). */
async function logInWith(page: Page, login: string, password: string) {
  await page.fill('#login', login)
  await page.fill('#password', password)
  await page.click('button:has-text("Log in")')
}

t.test('an administrator creates a user, deactivates them, and sets a new password', async (t) => {
  const node = await buildNode(t, { listen: true })
  const ada = await buildUser(node, { role: 'admin', name: 'Ada Admin' })
  const page = await nodePage(t, browser, node)
  await logIn(page, ada.login, '#/inbox')
  await page.click('.sidebar a:has-text("Users")')
  await page.waitForSelector('.view[data-ready] table.admin-users')

  await page.click('button:has-text("New user")')
  await page.fill('#new-login', 'una')
  await page.fill('#new-name', 'Una Newcomer')
  await page.fill('#new-email', 'una@acme.test')
  await page.fill('#new-password', 'first-password')
  await page.click('button:has-text("Create user")')
  const una = page.locator('tr.admin-user', { hasText: 'Una Newcomer' })
  await una.waitFor()
  t.match(await una.textContent(), /una.*una@acme\.test.*Active/, 'listed with login, email, status')

  const other = await nodePage(t, browser, node)
  await other.goto('/#/inbox')
  await logInWith(other, 'una', 'first-password')
  await other.locator('.me', { hasText: 'Una Newcomer' }).waitFor()
  t.pass('the new user logs in with the password the administrator chose')

  await una.getByRole('button', { name: 'Deactivate Una Newcomer' }).click()
  await una.locator('.user-status', { hasText: 'Deactivated' }).waitFor()
  await other.reload()
  await other.locator('#login').waitFor()
  t.pass('their session ended: the login form is back')
  await logInWith(other, 'una', 'first-password')
  await other.locator('.form-error:not([hidden])').waitFor()
  t.equal(await other.locator('.me').count(), 0, 'and a deactivated user cannot log in')

  await una.getByRole('button', { name: 'Reactivate Una Newcomer' }).click()
  await una.locator('.user-status', { hasText: 'Active' }).waitFor()
  await una.getByRole('button', { name: 'Set password for Una Newcomer' }).click()
  await una.locator('input[type="password"]').fill('second-password')
  await una.locator('button[type="submit"]:has-text("Set password")').click()
  await page.locator('.toast', { hasText: 'New password set for Una Newcomer' }).waitFor()
  await other.goto('/#/inbox')
  await other.reload()
  await logInWith(other, 'una', 'second-password')
  await other.locator('.me', { hasText: 'Una Newcomer' }).waitFor()
  t.pass('the new password works')

  const me = page.locator('tr.admin-user', { hasText: 'Ada Admin' })
  await me.locator('select.user-role').selectOption('user')
  await page.locator('.banner', { hasText: 'you cannot demote or deactivate yourself' }).waitFor()
  t.equal(await me.locator('select.user-role').inputValue(), 'admin', 'the API refused, and said why')
})

t.test('a new activity type with its icon is offered in the schedule form', async (t) => {
  const node = await buildNode(t, { listen: true })
  const ada = await buildUser(node, { role: 'admin', name: 'Ada Admin' })
  const lead = await buildRecord(ada, 'lead', { name: 'Depot lease' })
  const page = await nodePage(t, browser, node)
  await logIn(page, ada.login, '#/settings/activity-types')
  await page.waitForSelector('.view[data-ready] table.activity-types')
  t.ok(
    await page.locator('tr[data-key="call"] svg.icon-phone').count(),
    'the types are drawn with their icons',
  )

  await page.click('button:has-text("New type")')
  await page.fill('#type-name', 'Site visit')
  await page.click('.icon-choice[data-icon="truck"]')
  await page.fill('#type-delay', '3')
  await page.click('button:has-text("Create type")')
  await page.locator('tr[data-key="site_visit"] svg.icon-truck').waitFor()

  await page.evaluate(`location.hash = '#/records/${lead.id}'`)
  await page.waitForSelector('.view[data-ready] .chatter-toolbar')
  await page.click('.chatter-toolbar button:has-text("Activities")')
  await page.selectOption('#activity-type', 'site_visit')
  await page.locator('.schedule-form .type-icon svg.icon-truck').waitFor()
  await page.click('.schedule-form button:has-text("Schedule")')
  const item = page.locator('.activity', { hasText: 'Site visit' })
  await item.waitFor()
  t.ok(await item.locator('svg.icon-truck').count(), 'the scheduled activity shows the icon')
  t.match(await item.textContent(), /Due Nov 28, 2026/, 'with the type’s delay')
})

t.test('a plan of two steps launched on a record schedules both at once', async (t) => {
  const node = await buildNode(t, { listen: true })
  const ada = await buildUser(node, { role: 'admin', name: 'Ada Admin' })
  await buildUser(node, { name: 'John Ops' })
  const lead = await buildRecord(ada, 'lead', { name: 'Fleet renewal' })
  const page = await nodePage(t, browser, node)
  await logIn(page, ada.login, '#/settings/activity-plans')
  await page.click('button:has-text("New plan")')
  await page.fill('#plan-name', 'Onboarding')
  await page.selectOption('#plan-model', 'lead')
  const steps = page.locator('li.plan-step')
  await steps.nth(0).locator('.step-type').selectOption('call')
  await steps.nth(0).locator('.step-summary').fill('Welcome call')
  await page.click('button:has-text("Add a step")')
  await steps.nth(1).locator('.step-type').selectOption('meeting')
  await steps.nth(1).locator('.step-assignee').selectOption('on_demand')
  await steps.nth(1).locator('.step-delay').fill('1')
  await steps.nth(1).locator('.step-unit').selectOption('weeks')
  await page.click('button:has-text("Create plan")')
  const card = page.locator('.activity-plan', { hasText: 'Onboarding' })
  await card.waitFor()
  t.match(await card.textContent(), /Welcome call.*Meeting.*1 week after.*asked at launch/)

  const watcher = await nodePage(t, browser, node)
  await logIn(watcher, ada.login, `#/records/${lead.id}`)
  await page.evaluate(`location.hash = '#/records/${lead.id}'`)
  await page.waitForSelector('.view[data-ready] .chatter-toolbar')
  await page.click('.chatter-toolbar button:has-text("Activities")')
  await page.click('button:has-text("Launch a plan")')
  await page.fill('#launch-date', '2026-12-01')
  await page.locator('.launch-assignee').selectOption({ label: 'John Ops' })
  await page.click('.launch-plan button:has-text("Launch")')
  await page.locator('.activity', { hasText: 'Welcome call' }).waitFor()
  t.equal(await page.locator('.activity').count(), 2, 'both activities are on the record')

  await watcher.locator('.activity', { hasText: 'John Ops' }).waitFor()
  t.equal(await watcher.locator('.activity').count(), 2, 'and appear live on another open page')
  t.match(await watcher.locator('.activity', { hasText: 'John Ops' }).textContent(), /Due Dec 8, 2026/)
})

t.test('Done & schedule next opens the schedule form on the suggested type', async (t) => {
  const node = await buildNode(t, { listen: true })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const lead = await buildRecord(sarah, 'lead', { name: 'Big deal' })
  await sarah.call('POST', `/api/v1/records/${lead.id}/activities`, { type: 'email', summary: 'Send prices' })
  const page = await nodePage(t, browser, node)
  await logIn(page, sarah.login, `#/records/${lead.id}`)
  const item = page.locator('.activity', { hasText: 'Send prices' })
  await item.locator('button:has-text("Mark done")').click()
  await item.locator('textarea.feedback').fill('Sent')
  await item.getByRole('button', { name: 'Done & schedule next' }).click()
  await page.locator('.toast', { hasText: 'Done: Email' }).waitFor()
  await page.locator('.schedule-form #activity-type').waitFor()
  t.equal(await page.locator('#activity-type').inputValue(), 'call', 'Email suggests a call: preselected')
  await page.click('.schedule-form button:has-text("Schedule")')
  await page.locator('.activity', { hasText: 'Call' }).waitFor()
  t.pass('the next activity is scheduled')
})
