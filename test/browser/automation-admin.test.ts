import type { Page } from 'playwright-core'
import t from 'tap'
import { buildNode, buildRecord, buildUser } from '../../node/test/helpers.ts'
import { launchBrowser, logIn, nodePage } from './browser.ts'

/**
 * The administrator's Automation page in a real browser: a rule the node refuses says why beside the
 * form; a rule it accepts runs when a user wins a lead, its note shows in the lead's chatter and its
 * run on the rule's page; a dry run says what it would do to another lead; switching it off and
 * deleting it. A user who is not an administrator sees none of it.
 */
const browser = await launchBrowser(t)
t.setTimeout(240_000)

/** Goes to `hash` inside the app and waits until its view has loaded. */
async function go(page: Page, hash: string) {
  await page.evaluate(`location.hash = ${JSON.stringify(hash)}`)
  await page.waitForSelector('.view[data-ready]')
}

/** The text of a confirmation the next click opens (the profile accepts it). */
const nextDialog = (page: Page) =>
  new Promise<string>((resolve) => page.once('dialog', (dialog) => resolve(dialog.message())))

t.test('an administrator writes a rule, sees it run when a lead is won, and dry-runs it', async (t) => {
  const node = await buildNode(t, { listen: true })
  const admin = await buildUser(node, { role: 'admin', name: 'Ada Admin' })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const lead = await buildRecord(sarah, 'lead', { name: 'Big deal' })
  const other = await buildRecord(sarah, 'lead', { name: 'Small deal' })
  const page = await nodePage(t, browser, node)
  await logIn(page, admin.login, '#/settings/automation')
  t.equal(
    await page.locator('.sidebar a[href="#/settings/automation"]').textContent(),
    'Automation',
    'the sidebar links to the page, under the settings',
  )
  await page.locator('.automation-empty', { hasText: 'No rules yet' }).waitFor()

  const form = page.locator('form.automation-form')
  await form.getByLabel('Name').fill('Won: note')
  await form.getByLabel('Trigger').selectOption('set')
  await form.getByLabel('Field', { exact: true }).selectOption('stage')
  await form.getByLabel('Value', { exact: true }).selectOption({ label: 'Won' })
  // The form starts with one action, a note; its text names a field leads do not have: refused, with
  // the node's reason beside the form and beside the action's text.
  const note = form.locator('.automation-action').first()
  t.equal(await note.getByLabel('Kind').inputValue(), 'note', 'a note to begin with')
  await note.getByLabel('Text').fill('Won: {{colour}}')
  await form.getByRole('button', { name: 'Create rule' }).click()
  const problems = form.locator('.automation-problems')
  await problems.waitFor()
  t.match(await problems.textContent(), /actions\[0\]\.body: the lead model has no field "colour"/)
  t.match(await note.locator('.field-error').textContent(), /no field "colour"/)
  t.equal(await note.getByLabel('Text').getAttribute('aria-invalid'), 'true', 'the text is marked')
  t.same((await admin.call('GET', '/api/v1/automation-rules')).body.items, [], 'nothing was saved')

  await note.getByLabel('Text').fill('Won: {{name}}')
  await form.getByRole('button', { name: 'Create rule' }).click()
  const row = page.locator('tr.automation-rule')
  await row.waitFor()
  const [, model, trigger, state, actions] = await row.getByRole('cell').allTextContents()
  t.same(
    [model, trigger, state, actions],
    ['Lead', 'when stage is set to Won', 'Active', 'log a note: “Won: {{name}}”'],
  )
  t.equal(
    await page.locator('form.automation-form .automation-error').isHidden(),
    true,
    'a fresh form, without the old error',
  )
  const [rule] = (await admin.call('GET', '/api/v1/automation-rules')).body.items
  t.match(rule, {
    name: 'Won: note',
    model: 'lead',
    trigger: { kind: 'set', field: 'stage', value: 'won' },
    actions: [{ type: 'post_message', kind: 'note', body: 'Won: {{name}}' }],
    active: true,
  })

  // Sarah wins the lead through the API: the rule's note lands in its chatter.
  const won = await sarah.call('PATCH', `/api/v1/records/${lead.id}`, {
    version: lead.version,
    values: { stage: 'won' },
  })
  t.equal(won.status, 200)
  await go(page, `#/records/${lead.id}`)
  await page.locator('.message-note', { hasText: 'Won: Big deal' }).waitFor()

  await go(page, `#/settings/automation/${rule.id}`)
  t.equal(await page.textContent('.view h1'), 'Won: note')
  const run = page.locator('tr.automation-run')
  await run.waitFor()
  t.equal(await run.count(), 1, 'one run')
  t.equal(await run.locator('.automation-run-outcome').textContent(), 'Done')
  t.equal(
    await run.locator('.automation-run-record a').getAttribute('href'),
    `#/records/${lead.id}`,
    'the run links to the lead it ran on',
  )

  // A dry run on the other lead: it would log the note, and does not.
  await page.getByLabel('Record id').fill(String(other.id))
  await page.getByRole('button', { name: 'Dry run', exact: true }).click()
  const effects = page.locator('.automation-dry-run-effects li')
  await effects.first().waitFor()
  t.same(await effects.allTextContents(), ['logged a note'], 'what the node says it would do')

  t.match(await page.textContent('.automation-dry-run-matches'), /it would run/)
  const notes = (await admin.call('GET', `/api/v1/records/${other.id}/messages`)).body.items as {
    body: string
  }[]
  t.notOk(
    notes.some((message) => message.body.includes('Won:')),
    'the dry run posted nothing',
  )

  // With the page open, Sarah wins the other lead: its run shows without Refresh.
  const otherWon = await sarah.call('PATCH', `/api/v1/records/${other.id}`, {
    version: other.version,
    values: { stage: 'won' },
  })
  t.equal(otherWon.status, 200)
  await page.locator(`tr.automation-run .automation-run-record a[href="#/records/${other.id}"]`).waitFor()
  t.equal(await run.count(), 2, 'the new run arrived live')

  // Back to the list: switch it off, then delete it.
  await page.click('.view-header a:has-text("All rules")')
  await page.locator('.view[data-ready] h1', { hasText: 'Automation' }).waitFor()
  // Edited in the same form, which opens with what the rule holds.
  await row.getByRole('button', { name: 'Edit Won: note' }).click()
  const editing = page.locator('form.automation-form', { hasText: 'Edit Won: note' })
  t.equal(await editing.getByLabel('Value', { exact: true }).inputValue(), 'won', 'its trigger as saved')
  t.equal(await editing.getByLabel('Model').isDisabled(), true, 'a rule stays on its model')
  await editing.getByLabel('Name').fill('Won: team note')
  await editing.getByRole('button', { name: 'Save rule' }).click()
  await row.locator('.automation-name', { hasText: 'Won: team note' }).waitFor()
  t.match((await admin.call('GET', `/api/v1/automation-rules/${rule.id}`)).body, {
    name: 'Won: team note',
    trigger: { kind: 'set', field: 'stage', value: 'won' },
  })

  await row.getByRole('button', { name: 'Deactivate Won: team note' }).click()
  await row.locator('.automation-state .tag', { hasText: 'Inactive' }).waitFor()
  t.match((await admin.call('GET', `/api/v1/automation-rules/${rule.id}`)).body, { active: false })

  const deleting = nextDialog(page)
  await row.getByRole('button', { name: 'Delete Won: team note' }).click()
  t.match(await deleting, /^Delete the rule Won: team note\?/)
  await page.locator('.automation-empty').waitFor()
  t.same((await admin.call('GET', '/api/v1/automation-rules')).body.items, [], 'deleted on the node')
})

t.test('a user who is not an administrator sees neither the page nor a link to it', async (t) => {
  const node = await buildNode(t, { listen: true })
  const user = await buildUser(node, { name: 'Uma User' })
  const page = await nodePage(t, browser, node)
  await logIn(page, user.login, '#/settings/automation')
  await page
    .locator('.view[data-ready] .empty', { hasText: 'Only administrators can see this page.' })
    .waitFor()
  t.equal(await page.locator('form').count(), 0, 'no form')
  t.equal(await page.locator('.sidebar a[href^="#/settings/automation"]').count(), 0, 'no sidebar entry')
})
