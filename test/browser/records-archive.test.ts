import type { Page } from 'playwright-core'
import t from 'tap'
import { buildNode, buildRecord, buildUser } from '../../node/test/helpers.ts'
import { launchBrowser, logIn, nodePage } from './browser.ts'

/**
 * Archiving in a real browser, as a salesperson tidies up lost leads: "Archive" on the lead's page, a
 * banner saying since when with "Restore", the list's "Active / Archived / All" filter, a rule that
 * runs on archiving (or refuses it, saying why), and the Automation form's "When a record is archived".
 */
const browser = await launchBrowser(t)
t.setTimeout(240_000)

/** Goes to `hash` inside the app and waits until its view has loaded. */
async function go(page: Page, hash: string) {
  await page.evaluate(`location.hash = ${JSON.stringify(hash)}`)
  await page.waitForSelector('.view[data-ready]')
}

/** Waits until the record page is live: the socket confirmed it watches this record. */
async function liveOn(page: Page, recordId: number) {
  await page.waitForSelector(`html[data-live-record="${recordId}"]`, { state: 'attached' })
}

/** The names in the list as shown, top to bottom. */
const listed = (page: Page) => page.locator('tr.record-row td:first-child a').allTextContents()

/** A time as the page writes it, in the browser's locale and zone. */
const shownTime = (page: Page, ms: number) =>
  page.evaluate(
    `new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(${ms}))`,
  )

t.test('a lead archived from its page leaves the list, shows under Archived, and comes back', async (t) => {
  const node = await buildNode(t, { listen: true })
  const admin = await buildUser(node, { role: 'admin', name: 'Ada Admin' })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const rule = await admin.call('POST', '/api/v1/automation-rules', {
    name: 'Archived leads: tell the team',
    model: 'lead',
    trigger: { kind: 'archive' },
    actions: [{ type: 'post_message', kind: 'note', body: '{{name}} was archived' }],
  })
  t.equal(rule.status, 201)
  await buildRecord(sarah, 'lead', { name: 'Open chairs' })
  const lead = await buildRecord(sarah, 'lead', { name: 'Lost desks' })

  // Ada has the lead open in her own browser while Sarah archives it.
  const watcher = await nodePage(t, browser, node)
  await logIn(watcher, admin.login, `#/records/${lead.id}`)
  await liveOn(watcher, lead.id)
  const page = await nodePage(t, browser, node)
  await logIn(page, sarah.login, `#/records/${lead.id}`)
  await liveOn(page, lead.id)

  const banner = page.locator('.archived-banner')
  t.equal(await banner.isHidden(), true, 'no banner on an active lead')
  // Sarah archives in the middle of an edit: archiving changes no value, so her edit still saves.
  await page.locator('.sheet').getByLabel('Email').fill('desks@client.test')
  await page.getByRole('button', { name: 'Archive', exact: true }).click()
  await banner.waitFor()
  await page.locator('.save-bar').getByRole('button', { name: 'Save' }).click()
  await page.locator('.toast', { hasText: 'Saved' }).waitFor()
  t.equal(await page.locator('.conflict').isHidden(), true, 'no conflict')
  const { archivedAt, values } = (await sarah.call('GET', `/api/v1/records/${lead.id}`)).body
  t.equal(values.email, 'desks@client.test', 'the edit made while archiving is saved')
  t.equal(archivedAt, Date.parse('2026-11-25T10:00:00Z'), 'archived at the node’s time')
  t.equal(
    await banner.locator('.archived-since').textContent(),
    `Archived on ${await shownTime(page, archivedAt)}: it no longer shows in the Leads list.`,
  )
  t.equal(await page.getByRole('button', { name: 'Archive', exact: true }).isHidden(), true)
  await page.locator('.message-tracking', { hasText: 'Archived' }).waitFor()
  await page.locator('.message-note', { hasText: 'Lost desks was archived' }).waitFor()

  // Ada sees it all without reloading: the banner, and the note the rule logged.
  await watcher.locator('.archived-banner').waitFor()
  await watcher.locator('.message-note', { hasText: 'Lost desks was archived' }).waitFor()

  await page.getByRole('link', { name: 'Leads' }).click()
  await page.waitForSelector('.view[data-ready] table.list')
  t.same(await listed(page), ['Open chairs'], 'gone from the list')
  const filter = page.getByRole('group', { name: 'Show' })
  t.equal(await filter.getByRole('button', { name: 'Active' }).getAttribute('aria-pressed'), 'true')

  await filter.getByRole('button', { name: 'Archived' }).click()
  await page.locator('tr.record-row', { hasText: 'Lost desks' }).waitFor()
  t.same(await listed(page), ['Lost desks'], 'under Archived')

  await filter.getByRole('button', { name: 'All' }).click()
  await page.locator('tr.record-row', { hasText: 'Open chairs' }).waitFor()
  t.same(await listed(page), ['Lost desks', 'Open chairs'], 'both under All')
  t.equal(
    await page.locator('tr.record-row', { hasText: 'Lost desks' }).locator('.archived-badge').textContent(),
    'Archived',
  )
  t.equal(
    await page.locator('tr.record-row', { hasText: 'Open chairs' }).locator('.archived-badge').count(),
    0,
  )

  await page.getByRole('link', { name: 'Lost desks' }).click()
  await page.waitForSelector('.view[data-ready] .record-page')
  await page.getByRole('button', { name: 'Restore' }).click()
  await banner.waitFor({ state: 'hidden' })
  await page.getByRole('button', { name: 'Archive', exact: true }).waitFor()
  await page.locator('.message-tracking', { hasText: 'Restored from the archive' }).waitFor()
  await watcher.locator('.archived-banner').waitFor({ state: 'hidden' })
  t.equal((await sarah.call('GET', `/api/v1/records/${lead.id}`)).body.archivedAt, null)

  // Back to the list, as it was left (All); Active holds the lead again.
  await page.getByRole('link', { name: 'Leads' }).click()
  await page.waitForSelector('.view[data-ready] table.list')
  t.equal(await filter.getByRole('button', { name: 'All' }).getAttribute('aria-pressed'), 'true')
  await filter.getByRole('button', { name: 'Active' }).click()
  await page.locator('tr.record-row .archived-badge').waitFor({ state: 'detached' })
  t.same(await listed(page), ['Lost desks', 'Open chairs'], 'back in the list')
  t.equal(await page.locator('.archived-badge').count(), 0)
})

t.test('a rule that fails refuses the archiving, and the page says why', async (t) => {
  const node = await buildNode(t, { listen: true })
  const admin = await buildUser(node, { role: 'admin', name: 'Ada Admin' })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  await admin.call('POST', '/api/v1/automation-rules', {
    name: 'Call before archiving',
    model: 'lead',
    trigger: { kind: 'archive' },
    actions: [{ type: 'schedule_activity', activityType: 'call', assignee: { field: 'user_id' } }],
  })
  // Nobody is assigned: the rule has no one to schedule the call for.
  const lead = await buildRecord(sarah, 'lead', { name: 'Chairs' })
  const page = await nodePage(t, browser, node)
  await logIn(page, sarah.login, `#/records/${lead.id}`)

  await page.getByRole('button', { name: 'Archive', exact: true }).click()
  const refusal = page.locator('.archive-refusal')
  await refusal.waitFor()
  t.match(await refusal.textContent(), /^Not archived: rule "Call before archiving"/)
  t.equal(await page.locator('.archived-banner').isHidden(), true, 'no banner')
  t.equal(await page.getByRole('button', { name: 'Archive', exact: true }).isEnabled(), true, 'can try again')
  t.equal((await sarah.call('GET', `/api/v1/records/${lead.id}`)).body.archivedAt, null, 'not archived')
})

t.test('the Automation form offers "When a record is archived" and saves it', async (t) => {
  const node = await buildNode(t, { listen: true })
  const admin = await buildUser(node, { role: 'admin', name: 'Ada Admin' })
  const page = await nodePage(t, browser, node)
  await logIn(page, admin.login, '#/settings/automation')

  const form = page.locator('form.automation-form')
  await form.getByLabel('Name').fill('Archived leads: tell the team')
  await form.getByLabel('Trigger').selectOption({ label: 'When a record is archived' })
  t.equal(await form.getByLabel('Field', { exact: true }).isHidden(), true, 'no field to watch')
  t.equal(await form.getByLabel('Changed fields').isHidden(), true)
  await form.locator('.automation-action').first().getByLabel('Text').fill('{{name}} was archived')
  await form.getByRole('button', { name: 'Create rule' }).click()

  const row = page.locator('tr.automation-rule')
  await row.waitFor()
  t.equal(await row.locator('.automation-trigger-words').textContent(), 'when a record is archived')
  const [rule] = (await admin.call('GET', '/api/v1/automation-rules')).body.items
  t.match(rule, { model: 'lead', trigger: { kind: 'archive' } })
  t.same(rule.trigger, { kind: 'archive' })

  // Edited, the form reads the trigger back as it was saved.
  await go(page, '#/settings/automation')
  await row.getByRole('button', { name: 'Edit Archived leads: tell the team' }).click()
  const editing = page.locator('form.automation-form', { hasText: 'Edit Archived leads: tell the team' })
  t.equal(await editing.getByLabel('Trigger').inputValue(), 'archive')
})
