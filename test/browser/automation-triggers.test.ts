import type { Page } from 'playwright-core'
import t from 'tap'
import { startReceiver } from '../../node/test/fixtures/webhooks.ts'
import { buildNode, buildPartner, buildRecord, buildUser } from '../../node/test/helpers.ts'
import { launchBrowser, logIn, nodePage } from './browser.ts'

/**
 * The Automation page's newer triggers and actions, in a real browser: a rule an integrator runs by
 * calling its secret URL (copied from the page, given a new one), a time trigger read as "3 days before
 * a date", and the actions that email contacts, create a record and call a webhook endpoint.
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

/** The node's own address: a test node's public URL says port 0, the port it asked the system for. */
function onNode(page: Page, hookUrl: string): string {
  return new URL(new URL(hookUrl).pathname, page.url()).toString()
}

const callHook = (url: string, recordId: number) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ recordId }),
  })

t.test('an integrator runs a rule by calling the URL the administrator copied from the page', async (t) => {
  const node = await buildNode(t, { listen: true })
  const admin = await buildUser(node, { role: 'admin', name: 'Ada Admin' })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const lead = await buildRecord(sarah, 'lead', { name: 'Big deal' })
  const page = await nodePage(t, browser, node)
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'])
  await logIn(page, admin.login, '#/settings/automation')

  const form = page.locator('form.automation-form')
  await form.getByLabel('Name').fill('Integrator note')
  await form.getByLabel('Trigger').selectOption('webhook')
  t.equal(await form.getByLabel('Field', { exact: true }).isHidden(), true, 'no field to watch')
  await form.locator('.automation-action').first().getByLabel('Text').fill('Synced to the ERP: {{name}}')
  await form.getByRole('button', { name: 'Create rule' }).click()

  const row = page.locator('tr.automation-rule')
  await row.waitFor()
  t.equal(await row.locator('.automation-trigger-words').textContent(), 'when an integrator calls its URL')
  const [rule] = (await admin.call('GET', '/api/v1/automation-rules')).body.items
  t.match(rule, { trigger: { kind: 'webhook' }, hookUrl: /\/api\/v1\/automation-hooks\/./ })

  // The URL shows once the rule is saved, with a Copy button.
  const panel = page.locator('.automation-hook-saved')
  await panel.getByRole('button', { name: 'Copy' }).click()
  await panel.locator('.automation-hook-status', { hasText: 'Copied.' }).waitFor()
  const copied = String(await page.evaluate('navigator.clipboard.readText()'))
  t.equal(copied, rule.hookUrl, 'the clipboard holds the rule’s URL')
  t.equal(
    await panel.getByLabel('Secret URL of Integrator note').inputValue(),
    copied,
    'and the page shows it',
  )

  // With the lead open in the browser, the integrator calls the URL: the note shows without reload.
  await go(page, `#/records/${lead.id}`)
  const called = await callHook(onNode(page, copied), lead.id)
  t.equal(called.status, 200)
  t.same(await called.json(), { ran: true })
  await page.locator('.message-note', { hasText: 'Synced to the ERP: Big deal' }).waitFor()

  // A new secret URL, from the rule's page: the old one stops working.
  await go(page, `#/settings/automation/${rule.id}`)
  const rotating = nextDialog(page)
  await page.getByRole('button', { name: 'New secret URL' }).click()
  t.match(await rotating, /The current one stops working at once/)
  await page.locator('.automation-hook-status', { hasText: 'the old one no longer works' }).waitFor()
  const fresh = await page.getByLabel('Secret URL of Integrator note').inputValue()
  t.not(fresh, copied, 'a different URL')
  t.equal((await admin.call('GET', `/api/v1/automation-rules/${rule.id}`)).body.hookUrl, fresh)
  t.equal((await callHook(onNode(page, copied), lead.id)).status, 404, 'the old URL is refused')
  t.equal((await callHook(onNode(page, fresh), lead.id)).status, 200, 'the new one runs the rule')
})

t.test('a time trigger written as "3 days before" is saved with a negative offset', async (t) => {
  const node = await buildNode(t, { listen: true })
  const admin = await buildUser(node, { role: 'admin', name: 'Ada Admin' })
  const page = await nodePage(t, browser, node)
  await logIn(page, admin.login, '#/settings/automation')

  const form = page.locator('form.automation-form')
  await form.getByLabel('Name').fill('Closing soon')
  await form.getByLabel('Model').selectOption('task')
  await form.getByLabel('Trigger').selectOption('time')
  const zone = form.getByLabel('Time zone')
  t.equal(
    await zone.inputValue(),
    String(await page.evaluate('Intl.DateTimeFormat().resolvedOptions().timeZone')),
    'the zone is the browser’s to begin with',
  )
  await form.getByLabel('Amount').fill('3')
  await form.getByLabel('Unit').selectOption('days')
  await form.getByLabel('Before or after').selectOption('before')
  await form.getByLabel('Date field').selectOption({ label: 'Deadline' })
  await zone.fill('Europe/Brussels')
  await form.getByRole('button', { name: 'Create rule' }).click()

  const row = page.locator('tr.automation-rule')
  await row.waitFor()
  t.equal(
    await row.locator('.automation-trigger-words').textContent(),
    '3 days before Deadline (Europe/Brussels)',
  )
  const [rule] = (await admin.call('GET', '/api/v1/automation-rules')).body.items
  t.match(rule.trigger, {
    kind: 'time',
    field: 'date_deadline',
    offset: -3,
    unit: 'days',
    timeZone: 'Europe/Brussels',
  })

  // Edited: the form reads it back as written, and "2 hours after creation" is saved positive.
  await row.getByRole('button', { name: 'Edit Closing soon' }).click()
  const editing = page.locator('form.automation-form', { hasText: 'Edit Closing soon' })
  t.equal(await editing.getByLabel('Amount').inputValue(), '3')
  t.equal(await editing.getByLabel('Before or after').inputValue(), 'before')
  t.equal(await editing.getByLabel('Date field').inputValue(), 'date_deadline')
  await editing.getByLabel('Amount').fill('2')
  await editing.getByLabel('Unit').selectOption('hours')
  await editing.getByLabel('Before or after').selectOption('after')
  await editing.getByLabel('Date field').selectOption('createdAt')
  await editing.getByRole('button', { name: 'Save rule' }).click()
  await row.locator('.automation-trigger-words', { hasText: '2 hours after Created on' }).waitFor()
  t.match((await admin.call('GET', `/api/v1/automation-rules/${rule.id}`)).body.trigger, {
    kind: 'time',
    field: 'createdAt',
    offset: 2,
    unit: 'hours',
  })

  // A count the form cannot read is said beside the trigger, before asking the node.
  await row.getByRole('button', { name: 'Edit Closing soon' }).click()
  await editing.getByLabel('Amount').fill('1.5')
  await editing.getByRole('button', { name: 'Save rule' }).click()
  await editing.locator('[id$="-kind-error"]', { hasText: 'whole number' }).waitFor()
})

t.test('an administrator emails a contact, creates a record and calls an endpoint from a rule', async (t) => {
  const node = await buildNode(t, { listen: true, env: { NODE_WEBHOOK_ALLOWLIST: '127.0.0.1' } })
  const admin = await buildUser(node, { role: 'admin', name: 'Ada Admin' })
  const ann = buildPartner(node, { name: 'Ann Smith', email: 'ann@client.test' })
  const page = await nodePage(t, browser, node)
  await logIn(page, admin.login, '#/settings/automation')

  const form = page.locator('form.automation-form')
  await form.getByLabel('Name').fill('Won: follow-up')
  await form.getByLabel('Trigger').selectOption('message_received')
  await form.getByLabel('Channel').selectOption('email')
  await form.getByRole('button', { name: 'Remove action: Post a message or log a note' }).click()

  // No endpoint yet: the action says where to add one.
  await form.getByLabel('Kind of action').selectOption('call_webhook')
  await form.getByRole('button', { name: 'Add action' }).click()
  const hint = form.locator('.automation-no-endpoint')
  await hint.waitFor()
  t.equal(await hint.textContent(), 'No endpoint yet: add one under Webhooks.')
  t.equal(await hint.getByRole('link', { name: 'Webhooks' }).getAttribute('href'), '#/settings/webhooks')

  const receiver = await startReceiver(t)
  const endpoint = await admin.call('POST', '/api/v1/webhooks/endpoints', {
    url: receiver.url,
    description: 'ERP',
  })
  t.equal(endpoint.status, 201)
  await page.reload()
  await page.waitForSelector('.view[data-ready]')
  await form.getByLabel('Name').fill('Won: follow-up')
  await form.getByLabel('Trigger').selectOption('message_received')
  await form.getByLabel('Channel').selectOption('email')
  await form.getByRole('button', { name: 'Remove action: Post a message or log a note' }).click()

  await form.getByLabel('Kind of action').selectOption('send_email')
  await form.getByRole('button', { name: 'Add action' }).click()
  const email = form.locator('.automation-action[data-type="send_email"]')
  await email.getByLabel('To', { exact: true }).fill('Ann')
  await email.getByRole('button', { name: 'Ann Smith <ann@client.test> (external)' }).click()
  await email.locator('.chip', { hasText: 'Ann Smith' }).waitFor()
  await email.getByLabel('Subject').fill('Thanks for writing about {{name}}')
  await email.getByLabel('Text').fill('We read it.')

  await form.getByLabel('Kind of action').selectOption('create_record')
  await form.getByRole('button', { name: 'Add action' }).click()
  const create = form.locator('.automation-action[data-type="create_record"]')
  await create.getByLabel('Model').selectOption({ label: 'Task' })
  // A task without its title: the node's reason shows beside this action.
  await create.getByLabel('Values').fill('{ "description": "Answer {{name}}" }')
  await form.getByRole('button', { name: 'Create rule' }).click()
  await form.locator('.automation-problems', { hasText: 'actions[1].values' }).waitFor()
  t.match(await create.locator('.field-error').textContent(), /^name: /, 'the title (name) is missing')
  t.equal(await create.getByLabel('Values').getAttribute('aria-invalid'), 'true', 'the values are marked')
  t.equal(await email.locator('.field-error').isHidden(), true, 'the email action is fine')
  await create.getByLabel('Values').fill('{ "name": "Answer {{name}}" }')

  await form.getByLabel('Kind of action').selectOption('call_webhook')
  await form.getByRole('button', { name: 'Add action' }).click()
  const call = form.locator('.automation-action[data-type="call_webhook"]')
  await call.getByLabel('Endpoint').selectOption({ label: `${receiver.url} (ERP)` })
  await form.getByRole('button', { name: 'Create rule' }).click()

  const row = page.locator('tr.automation-rule')
  await row.waitFor()
  t.equal(await row.locator('.automation-trigger-words').textContent(), 'when a message comes in by email')
  t.same(await row.locator('.automation-action-words li').allTextContents(), [
    'email Ann Smith: “Thanks for writing about {{name}}”',
    'create a Task',
    `call ${receiver.url}`,
  ])
  const [rule] = (await admin.call('GET', '/api/v1/automation-rules')).body.items
  t.match(rule, {
    trigger: { kind: 'message_received', via: 'email' },
    actions: [
      {
        type: 'send_email',
        to: { partnerIds: [ann.id] },
        subject: 'Thanks for writing about {{name}}',
        body: 'We read it.',
      },
      { type: 'create_record', model: 'task', values: { name: 'Answer {{name}}' } },
      { type: 'call_webhook', endpointId: endpoint.body.id },
    ],
  })
})
