import type { Page } from 'playwright-core'
import t from 'tap'
import { RETRY_DELAYS_MS } from '../../node/src/webhooks/queue.ts'
import { settled, startReceiver } from '../../node/test/fixtures/webhooks.ts'
import { buildNode, buildRecord, buildUser } from '../../node/test/helpers.ts'
import { launchBrowser, logIn, nodePage } from './browser.ts'

/**
 * The administrator's Webhooks page in a real browser: adding an endpoint (a refused URL says why
 * beside it), its secret, the delivery log following deliveries live as they fail and succeed,
 * replay of one delivery and of every failed one since a time, pause, rotation and deletion; and a
 * user who is not an administrator, who sees none of it.
 */
const browser = await launchBrowser(t)
t.setTimeout(240_000)

/** The text of a confirmation the next click opens (the profile accepts it). */
/** True when the page is no wider than the window: nothing scrolls sideways. */
async function fitsPhone(page: Page): Promise<boolean> {
  await page.setViewportSize({ width: 375, height: 800 })
  const fits = await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')
  await page.setViewportSize({ width: 1280, height: 900 })
  return fits === true
}

const nextDialog = (page: Page) =>
  new Promise<string>((resolve) => page.once('dialog', (dialog) => resolve(dialog.message())))

t.test(
  'an administrator adds an endpoint, watches a failing delivery live, and replays it once the receiver works',
  async (t) => {
    const node = await buildNode(t, { listen: true, env: { NODE_WEBHOOK_ALLOWLIST: '127.0.0.1' } })
    const admin = await buildUser(node, { role: 'admin', name: 'Ada Admin' })
    const sarah = await buildUser(node, { name: 'Sarah Sales' })
    // Made before any endpoint: its own events (created, its creation note) go nowhere.
    const lead = await buildRecord(sarah, 'lead', { name: 'Big deal' })
    const receiver = await startReceiver(t)
    receiver.answerWith(() => ({ status: 500, body: 'database is down' }))
    const page = await nodePage(t, browser, node)
    await logIn(page, admin.login, '#/settings/webhooks')
    t.equal(
      await page.locator('.sidebar a[href="#/settings/webhooks"]').textContent(),
      'Webhooks',
      'the sidebar links to the page, under the settings',
    )
    await page.locator('.webhooks-empty', { hasText: 'No endpoints yet' }).waitFor()

    // The cloud metadata address: refused, with the node's reason beside the URL.
    await page.getByLabel('URL').fill('http://169.254.169.254/latest/meta-data/')
    await page.click('button:has-text("Add endpoint")')
    const urlError = page.locator('#webhook-url-error')
    await urlError.waitFor()
    t.match(await urlError.textContent(), /169\.254\.169\.254 is the cloud metadata address/)
    t.equal(await page.getAttribute('#webhook-url', 'aria-invalid'), 'true')
    t.same((await admin.call('GET', '/api/v1/webhooks/endpoints')).body.items, [], 'nothing was added')

    await page.getByLabel('URL').fill(receiver.url)
    await page.getByLabel('Description').fill('CRM sync')
    await page.getByLabel('message.posted', { exact: true }).check()
    await page.click('button:has-text("Add endpoint")')
    const row = page.locator('tr.webhook-endpoint')
    await row.waitFor()
    t.ok(await urlError.isHidden(), 'the error is gone')
    t.equal(await page.inputValue('#webhook-url'), '', 'the form is empty again for the next one')
    const [endpoint] = (await admin.call('GET', '/api/v1/webhooks/endpoints')).body.items
    t.match(endpoint, {
      url: receiver.url,
      description: 'CRM sync',
      events: ['message.posted'],
      internal: false,
    })
    t.match(await row.locator('.webhook-target').textContent(), /CRM sync/)
    t.equal(await row.locator('.webhook-events-cell').textContent(), 'message.posted')
    t.equal(await row.locator('.webhook-state .tag').textContent(), 'Working')
    t.equal(
      await row.locator('.webhook-secret-value').textContent(),
      endpoint.secret,
      'the new endpoint’s secret is shown, for the receiver to verify with',
    )
    await row.getByRole('button', { name: 'Hide the secret' }).click()
    t.notOk((await row.locator('.webhook-secret-value').textContent())?.includes(endpoint.secret), 'hidden')

    await row.getByRole('link', { name: 'Delivery log' }).click()
    await page.locator('.view[data-ready] h1', { hasText: 'Delivery log' }).waitFor()
    await page.locator('.view .empty', { hasText: 'Nothing was sent to this endpoint yet.' }).waitFor()
    await page.waitForSelector('html[data-live="on"]')

    // Sarah writes on a lead: the receiver answers 500, and the open log shows it without a reload.
    const posted = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
      kind: 'message',
      body: 'Can we meet on Friday?',
    })
    t.equal(posted.status, 201)
    const delivery = page.locator('tr.webhook-message').first()
    await delivery.locator('.webhook-message-error', { hasText: 'answered 500' }).waitFor()
    const [, type, status, attempts] = await delivery.getByRole('cell').allTextContents()
    t.equal(type, 'message.posted')
    t.match(status, /^Will retry\s*next attempt /, 'pending, with when it goes next')
    t.equal(attempts, '1')
    t.match(
      await page.textContent('.webhook-log-endpoint .tag'),
      /^Failing since /,
      'the endpoint is failing',
    )

    await delivery.getByRole('button', { name: /^Details of delivery/ }).click()
    const detail = page.locator('tr.webhook-detail')
    await detail.locator('tr.webhook-try').waitFor()
    const [, answer, took, response, error] = await detail
      .locator('tr.webhook-try')
      .getByRole('cell')
      .allTextContents()
    t.same(
      [answer, response, error],
      ['HTTP 500', 'database is down', 'answered 500'],
      'the attempt, as it went',
    )
    t.match(took, /^\d+ ms$/)
    t.match(
      await detail.locator('.webhook-payload').textContent(),
      /"type": "message\.posted"[\s\S]*Can we meet on Friday\?/,
    )

    // Fixed: one click sends it again, and the log follows it to Delivered.
    receiver.answerWith(() => ({ status: 200 }))
    await delivery.getByRole('button', { name: /^Replay delivery/ }).click()
    await delivery.locator('.webhook-message-status .tag', { hasText: 'Delivered' }).waitFor()
    t.equal(await delivery.locator('.webhook-message-error').textContent(), '—', 'no error left')
    t.equal(receiver.received.length, 2, 'sent twice in all')
    t.equal(
      receiver.received[1]?.headers['webhook-id'],
      receiver.received[0]?.headers['webhook-id'],
      'with the same webhook-id, so the receiver can tell it is the same event',
    )
    await page.locator('.webhook-log-endpoint .tag', { hasText: 'Working' }).waitFor()
    t.equal(await detail.locator('tr.webhook-try').count(), 2, 'the open details gained the second attempt')

    t.ok(await fitsPhone(page), 'the log, with a delivery’s details open, fits a phone’s width')

    // A delivery that gives up: Failed, then replayed with every failed one since a time.
    receiver.answerWith(() => ({ status: 503 }))
    await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, { kind: 'message', body: 'Or Monday?' })
    await settled(node)
    for (const delay of RETRY_DELAYS_MS.slice(1)) {
      node.clock.advance(delay)
      await settled(node)
    }
    const newest = page.locator('tr.webhook-message').first()
    await newest.locator('.webhook-message-status .tag', { hasText: 'Failed' }).waitFor()
    t.match(await newest.locator('.webhook-message-status').textContent(), /gave up after 8 attempts/)
    receiver.answerWith(() => ({ status: 204 }))
    await page.fill('#webhook-replay-since', '2026-11-20T00:00')
    await page.click('button:has-text("Replay failed")')
    await page
      .locator('.webhook-replay-result', { hasText: '1 failed delivery is being sent again.' })
      .waitFor()
    await newest.locator('.webhook-message-status .tag', { hasText: 'Delivered' }).waitFor()
    t.same(await page.locator('tr.webhook-message .webhook-message-status .tag').allTextContents(), [
      'Delivered',
      'Delivered',
    ])

    // Back to the list: pause, resume, rotate the secret, delete.
    await page.click('.view-header a:has-text("All endpoints")')
    await page.locator('.view[data-ready] h1', { hasText: 'Webhooks' }).waitFor()
    await row.getByRole('button', { name: 'Pause CRM sync' }).click()
    await row.locator('.webhook-state .tag', { hasText: 'Paused' }).waitFor()
    t.match((await admin.call('GET', `/api/v1/webhooks/endpoints/${endpoint.id}`)).body, { enabled: false })
    await row.getByRole('button', { name: 'Resume CRM sync' }).click()
    await row.locator('.webhook-state .tag', { hasText: 'Working' }).waitFor()

    const asked = nextDialog(page)
    await row.getByRole('button', { name: 'Rotate secret of CRM sync' }).click()
    t.match(await asked, /old one keeps signing beside it for 24 hours more/)
    await row.locator('.webhook-previous').waitFor()
    const rotated = (await admin.call('GET', `/api/v1/webhooks/endpoints/${endpoint.id}`)).body
    t.not(rotated.secret, endpoint.secret)
    t.equal(
      await row.locator('.webhook-secret-value').textContent(),
      rotated.secret,
      'the new secret is shown',
    )
    t.match(await row.locator('.webhook-previous').textContent(), /^The previous secret also signs until /)

    t.ok(await fitsPhone(page), 'the endpoints page fits a phone’s width')

    const deleting = nextDialog(page)
    await row.getByRole('button', { name: 'Delete CRM sync' }).click()
    t.match(await deleting, /^Delete the endpoint CRM sync\?/)
    await page.locator('.webhooks-empty').waitFor()
    t.same((await admin.call('GET', '/api/v1/webhooks/endpoints')).body.items, [], 'deleted on the node')
  },
)

t.test('a user who is not an administrator sees neither the page nor a link to it', async (t) => {
  const node = await buildNode(t, { listen: true })
  const user = await buildUser(node, { name: 'Uma User' })
  const page = await nodePage(t, browser, node)
  await logIn(page, user.login, '#/settings/webhooks')
  await page
    .locator('.view[data-ready] .empty', { hasText: 'Only administrators can see this page.' })
    .waitFor()
  t.equal(await page.locator('form').count(), 0, 'no form')
  t.equal(await page.locator('.sidebar a[href^="#/settings/webhooks"]').count(), 0, 'no sidebar entry')
})
