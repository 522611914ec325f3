import { readFile } from 'node:fs/promises'
import type { BrowserContext, Page } from 'playwright-core'
import t, { type Test } from 'tap'
import {
  buildNode,
  buildPartner,
  buildRecord,
  buildUser,
  TEST_PASSWORD,
  type TestNode,
} from '../../node/test/helpers.ts'
import { launchBrowser, newProfile } from './browser.ts'

/**
 * The node's web UI in a real browser (Debian's Chromium, driven by playwright-core): log in, post in
 * the chatter, see other people's posts arrive live, upload files, and work with activities. Every
 * check is something a person at the screen would notice.
 */
const browser = await launchBrowser(t)
// Six tests, each with a new browser profile, and in CI two other files share the machine's two cores:
// the default 120 s for the whole file is too tight.
t.setTimeout(300_000)

/** A fresh browser profile (its own cookies) on the node; page errors fail the test. */
async function openPage(t: Test, node: TestNode): Promise<{ page: Page; context: BrowserContext }> {
  // 20 s: CI runs this file beside other heavy ones on two cores, and a page can take seconds to settle.
  return newProfile(t, browser, { baseURL: nodeUrl(node), timeoutMs: 20_000 })
}

function nodeUrl(node: TestNode): string {
  if (node.url) return node.url.replace('://0.0.0.0', '://127.0.0.1')
  const address = node.app.server.address()
  if (!address || typeof address === 'string') throw new Error('the node is not listening')
  return `http://127.0.0.1:${address.port}`
}

/** Opens `hash` (the login form comes first), logs in, and waits until the view has loaded. */
async function logIn(page: Page, login: string, hash = '#/inbox') {
  await page.goto(`/${hash}`)
  await page.fill('#login', login)
  await page.fill('#password', TEST_PASSWORD)
  await page.click('button:has-text("Log in")')
  await page.waitForSelector('.view[data-ready]')
}

async function openRecord(page: Page, recordId: number) {
  await page.evaluate(`location.hash = '#/records/${recordId}'`)
  await page.waitForSelector(`.view[data-ready] .record-page`)
  // Live updates for this record are on once the socket confirmed the subscription.
  await page.waitForSelector(`html[data-live-record="${recordId}"]`, { state: 'attached' })
}

async function post(page: Page, button: 'Send message' | 'Log note', text: string) {
  await page.click(`.chatter-toolbar button:has-text("${button}")`)
  await page.fill('.composer-text', text)
  await page.click(`.composer button[type="submit"]`)
  await page.waitForSelector('.composer', { state: 'detached' })
}

/** The few browser globals the page functions use (the repository compiles without the DOM library). */
type BrowserGlobals = { getComputedStyle(element: unknown): { backgroundColor: string } }

const thread = (page: Page) => page.locator('.thread')
const messageWith = (page: Page, text: string) => page.locator('.thread .message', { hasText: text })

t.test('logging in: the form, a wrong password, an HttpOnly cookie, and CSRF protection', async (t) => {
  const node = await buildNode(t, { listen: true })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const { page, context } = await openPage(t, node)

  const response = await page.goto('/')
  const headers = response?.headers() ?? {}
  t.match(
    headers['content-security-policy'],
    /script-src 'self'/,
    'the page forbids inline and foreign scripts',
  )
  t.equal(headers['x-content-type-options'], 'nosniff')
  t.equal(headers['referrer-policy'], 'same-origin')

  const script = await node.app.inject({ method: 'GET', url: '/assets/app.js' })
  t.equal(script.headers['content-type'], 'text/javascript; charset=utf-8')
  for (const url of ['/assets/%2e%2e/package.json', '/assets/..%2fpackage.json', '/assets/missing.js'])
    t.equal((await node.app.inject({ method: 'GET', url })).statusCode, 404, `${url}: nothing outside web/`)

  await page.fill('#login', sarah.login)
  await page.fill('#password', 'not the password')
  await page.click('button:has-text("Log in")')
  await page.waitForSelector('.form-error:visible')
  t.match(await page.textContent('.form-error'), /Wrong login or password\./, 'the API’s message is shown')

  await page.fill('#password', TEST_PASSWORD)
  await page.click('button:has-text("Log in")')
  await page.waitForSelector('.view[data-ready]')
  t.equal(await page.textContent('.topbar .me'), 'Sarah Sales')
  t.ok(await page.isVisible('.sidebar a:has-text("Lead")'), 'the models are in the sidebar')

  t.notMatch(
    await page.evaluate<string>('document.cookie'),
    /ochat_session/,
    'scripts cannot read the session',
  )
  const cookie = (await context.cookies()).find((c) => c.name === 'ochat_session')
  t.equal(cookie?.httpOnly, true)
  t.equal(cookie?.sameSite, 'Lax')

  // A script on the page (or a forged form) without the CSRF token cannot write, even with the cookie.
  const forged = await page.evaluate(async () => {
    const answer = await fetch('/api/v1/models/lead/records', {
      method: 'POST',
      credentials: 'include',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ values: { name: 'Forged lead' } }),
    })
    return { status: answer.status, body: (await answer.json()) as { error: { code: string } } }
  })
  t.equal(forged.status, 403)
  t.equal(forged.body.error.code, 'E_CSRF')
  const leads = await sarah.call('GET', '/api/v1/models/lead/records')
  t.equal(leads.body.items.length, 0, 'nothing was written')

  await page.click('button:has-text("Log out")')
  await page.waitForSelector('#login')
  t.equal(
    (await context.cookies()).find((c) => c.name === 'ochat_session'),
    undefined,
    'logged out',
  )
})

t.test('the chatter: Markdown messages, internal notes, filters, a version conflict', async (t) => {
  const node = await buildNode(t, { listen: true })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const lead = await buildRecord(sarah, 'lead', { name: 'Office chairs', stage: 'new' })
  const { page } = await openPage(t, node)
  await logIn(page, sarah.login, `#/records/${lead.id}`)
  await page.waitForSelector(`html[data-live-record="${lead.id}"]`, { state: 'attached' })
  t.equal(await page.textContent('.record-title'), 'Office chairs')

  await post(page, 'Send message', 'Delivery is **confirmed** for Monday')
  const sent = messageWith(page, 'Delivery is')
  t.equal(await sent.locator('.body strong').textContent(), 'confirmed', 'Markdown **bold** shows bold')
  t.equal(await sent.locator('.kind').textContent(), 'Message')
  t.equal(await sent.locator('.author').textContent(), 'Sarah Sales')

  await page.click('.chatter-toolbar button:has-text("Log note")')
  t.match(
    await page.textContent('.composer-note'),
    /only employees see it/,
    'the note composer says it is internal',
  )
  await page.fill('.composer-text', 'Customer sounded unsure about the price')
  await page.click('.composer button[type="submit"]')
  const note = messageWith(page, 'unsure about the price')
  await note.waitFor()
  t.equal(await note.locator('.kind').textContent(), 'Internal note')
  t.match(await note.getAttribute('class'), /internal/)
  const order = await thread(page).locator('.message .body').allTextContents()
  t.match(order[0], /unsure/, 'newest first')

  await page.click('.chip[data-filter="note"]')
  await messageWith(page, 'Delivery is').waitFor({ state: 'detached' })
  t.equal(await thread(page).locator('.message').count(), 1, 'the Notes chip shows the note only')
  await page.click('.chip[data-filter="all"]')
  await messageWith(page, 'Delivery is').waitFor()

  // Edit, then delete: an "edited" marker, then a tombstone.
  const sameNote = page.locator(`.message[data-id="${await note.getAttribute('data-id')}"]`)
  await sameNote.getByRole('button', { name: 'Edit', exact: true }).click()
  await sameNote.locator('textarea').fill('Customer sounded unsure about the total price')
  await sameNote.getByRole('button', { name: 'Save', exact: true }).click()
  await messageWith(page, 'total price').locator('.edited').waitFor()
  await sameNote.getByRole('button', { name: 'Delete', exact: true }).click()
  await page.locator('.message.deleted .tombstone').waitFor()
  t.equal(await page.locator('.message.deleted .tombstone').textContent(), 'This message was deleted.')

  // Someone changes the record while Sarah is editing it: her save is refused, she is told to reload.
  await page.selectOption('#field-stage', 'qualified')
  const changed = await sarah.call('PATCH', `/api/v1/records/${lead.id}`, {
    version: lead.version,
    values: { priority: 'high' },
  })
  t.equal(changed.status, 200)
  await page.click('.save-bar button:has-text("Save")')
  await page.waitForSelector('.conflict:visible')
  t.match(await page.textContent('.conflict'), /changed since you opened it — reload/)
  t.ok(await page.isVisible('.banner'), 'the failure is in the banner too')
  t.match(await page.textContent('.banner'), /E_VERSION_CONFLICT/)
  await page.click('.conflict button:has-text("Reload")')
  await page.waitForSelector('.conflict', { state: 'hidden' })
  t.equal(await page.inputValue('#field-priority'), 'high', 'the reload shows the other change')
  await page.selectOption('#field-stage', 'qualified')
  await page.click('.save-bar button:has-text("Save")')
  const tracking = page.locator('.thread .tracking li', { hasText: 'Stage' })
  await tracking.waitFor()
  t.equal(await tracking.textContent(), 'Stage: New → Qualified', 'the change is tracked in the chatter')
})

t.test('two people on one record: a post appears live, and the inbox counter goes up', async (t) => {
  const node = await buildNode(t, { listen: true })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const john = await buildUser(node, { name: 'John Ops' })
  const lead = await buildRecord(sarah, 'lead', { name: 'Standing desks' })
  t.equal(
    (await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: john.partnerId })).status,
    201,
  )
  const sarahTab = (await openPage(t, node)).page
  const johnTab = (await openPage(t, node)).page
  await logIn(sarahTab, sarah.login, `#/records/${lead.id}`)
  await sarahTab.waitForSelector(`html[data-live-record="${lead.id}"]`, { state: 'attached' })
  await logIn(johnTab, john.login, `#/records/${lead.id}`)
  await johnTab.waitForSelector(`html[data-live-record="${lead.id}"]`, { state: 'attached' })
  t.ok(await johnTab.isHidden('.sidebar .counter'), 'John starts with nothing unread')

  await post(sarahTab, 'Send message', 'Can you check the stock, @John Ops?')
  const arrived = messageWith(johnTab, 'check the stock')
  await arrived.waitFor()
  t.pass('John sees Sarah’s message without reloading')
  t.equal(await arrived.locator('a.o-mention').textContent(), '@John Ops', 'the mention is highlighted')
  await johnTab.waitForSelector('.sidebar .counter:visible')
  t.equal(await johnTab.textContent('.sidebar .counter'), '1', 'his inbox counter went up live')

  // The node drops the sockets: a "reconnecting…" badge shows until the tab is back, and what was
  // posted meanwhile shows up without a reload.
  for (const client of node.app.websocketServer.clients) client.terminate()
  await johnTab.waitForSelector('.live-badge:visible')
  await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'message',
    body: 'Sent while away',
  })
  await messageWith(johnTab, 'Sent while away').waitFor()
  await johnTab.waitForSelector('.live-badge', { state: 'hidden' })
  await johnTab.locator('.sidebar .counter', { hasText: /^2$/ }).waitFor()
  t.pass('after reconnecting, the missed message and the counter are current')

  await johnTab.click('.sidebar a:has-text("Inbox")')
  const entry = johnTab.locator('.inbox-item.unread', { hasText: 'check the stock' })
  await entry.waitFor()
  t.equal(await entry.locator('.inbox-record').textContent(), 'Standing desks')
  await johnTab.click('button:has-text("Mark all read")')
  await johnTab.waitForSelector('.sidebar .counter', { state: 'hidden' })
  t.equal(await johnTab.locator('.inbox-item.unread').count(), 0, 'mark all read clears the inbox')

  // Sarah's followers panel changes the choice of what John hears about.
  await sarahTab.click('.followers-button')
  await sarahTab.selectOption(`.follower[data-partner-id="${john.partnerId}"] .subscription`, 'none')
  await sarahTab.locator('.toast', { hasText: 'Subscription saved' }).waitFor()
  const followers = await sarah.call('GET', `/api/v1/records/${lead.id}/followers`)
  t.equal(
    followers.body.items.find((f: { partnerId: number }) => f.partnerId === john.partnerId)?.subscription,
    'none',
  )
})

t.test('hostile message bodies show as text or not at all, and run nothing', async (t) => {
  const node = await buildNode(t, { listen: true })
  const sarah = await buildUser(node)
  const lead = await buildRecord(sarah, 'lead', { name: '<img src=x onerror="window.__pwned=3">' })
  const posted = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'message',
    format: 'html',
    body: '<p>html <img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>end</p>',
  })
  t.equal(posted.status, 201)
  const { page } = await openPage(t, node)
  await logIn(page, sarah.login, `#/records/${lead.id}`)
  await post(
    page,
    'Send message',
    'typed <img src=x onerror="window.__pwned=4"> <script>window.__pwned=5</script>',
  )
  await messageWith(page, 'typed').waitFor()

  t.equal(
    await page.textContent('.record-title'),
    '<img src=x onerror="window.__pwned=3">',
    'the name is text',
  )
  t.match(await messageWith(page, 'typed').textContent(), /<img src=x onerror=/, 'typed markup shows as text')
  t.match(
    await messageWith(page, 'html').locator('.body').textContent(),
    /^html\s*end$/,
    'HTML tags are dropped',
  )
  t.equal(await page.locator('.view img, .view script').count(), 0, 'no image or script element was made')
  await page.waitForTimeout(200)
  t.equal(await page.evaluate<number | undefined>('window.__pwned'), undefined)
})

t.test('attachments: upload with progress, download, and a file over the limit', async (t) => {
  const node = await buildNode(t, { listen: true, env: { NODE_ATTACHMENT_MAX_BYTES: '200000' } })
  const sarah = await buildUser(node)
  const lead = await buildRecord(sarah, 'lead', { name: 'Conference booth' })
  const { page } = await openPage(t, node)
  await logIn(page, sarah.login, `#/records/${lead.id}`)

  const content = Buffer.alloc(150_000, 'quote line\n')
  await page.click('.chatter-toolbar button:has-text("Send message")')
  await page.setInputFiles('.composer input[type="file"]', {
    name: 'quote.txt',
    mimeType: 'text/plain',
    buffer: content,
  })
  const pending = page.locator('.pending-file', { hasText: 'quote.txt' })
  await pending.locator('.upload-status', { hasText: 'uploaded' }).waitFor()
  t.equal(
    await pending.locator('progress').evaluate((bar) => (bar as unknown as { value: number }).value),
    1,
    'progress: full',
  )
  await page.fill('.composer-text', 'Here is the quote')
  await page.click('.composer button[type="submit"]')
  const link = messageWith(page, 'Here is the quote').locator('a.attachment')
  await link.waitFor()
  t.equal(await link.textContent(), 'quote.txt')
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()])
  t.equal(download.suggestedFilename(), 'quote.txt')
  t.ok((await readFile(await download.path())).equals(content), 'the downloaded file is the uploaded one')

  await page.click('.chatter-toolbar button:has-text("Send message")')
  await page.setInputFiles('.composer input[type="file"]', {
    name: 'video.bin',
    mimeType: 'application/octet-stream',
    buffer: Buffer.alloc(300_000, 1),
  })
  const refused = page.locator('.pending-file.failed', { hasText: 'video.bin' })
  await refused.waitFor()
  t.match(await refused.textContent(), /The file is larger than the node accepts\./)
  t.match(await refused.textContent(), /at most 200000/, 'with the limit')
  t.match(await page.textContent('.banner'), /E_ATTACHMENT_TOO_LARGE/)
})

t.test('activities: red when overdue, orange today, mark done leaves a message', async (t) => {
  // The node's clock says 2026-11-25 (UTC); the browser's own date does not matter.
  const node = await buildNode(t, { listen: true })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const customer = buildPartner(node, { name: 'Carla Customer' })
  const lead = await buildRecord(sarah, 'lead', { name: 'Fleet renewal', partner_id: customer.id })
  await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: customer.id })
  const { page } = await openPage(t, node)
  await logIn(page, sarah.login, `#/records/${lead.id}`)

  async function schedule(summary: string, deadline: string) {
    await page.click('.chatter-toolbar button:has-text("Activities")')
    await page.selectOption('#activity-type', 'call')
    await page.fill('#activity-summary', summary)
    await page.fill('#activity-deadline', deadline)
    await page.click('.schedule-form button:has-text("Schedule")')
    await page.locator('.activity', { hasText: summary }).waitFor()
  }
  await schedule('Call about the contract', '2026-11-24')
  await schedule('Send the new prices', '2026-11-25')
  const overdue = page.locator('.activity', { hasText: 'Call about the contract' })
  const today = page.locator('.activity', { hasText: 'Send the new prices' })
  t.equal(await overdue.getAttribute('data-state'), 'overdue')
  const colour = (locator: typeof overdue) =>
    locator
      .locator('.state-dot')
      .evaluate((dot) => (globalThis as unknown as BrowserGlobals).getComputedStyle(dot).backgroundColor)
  t.equal(await colour(overdue), 'rgb(200, 35, 51)', 'yesterday: red')
  t.equal(await colour(today), 'rgb(240, 173, 78)', 'today: orange')
  t.match(await overdue.textContent(), /Overdue/)

  await overdue.locator('button:has-text("Mark done")').click()
  await overdue.locator('textarea.feedback').fill('Reached them, they agree')
  await overdue.getByRole('button', { name: 'Done', exact: true }).click()
  await page.locator('.toast', { hasText: 'Done: Call' }).waitFor()
  await overdue.waitFor({ state: 'detached' })
  t.equal(await page.locator('.activity').count(), 1, 'the done activity left the list')
  const done = page.locator('.thread .message-activity', { hasText: 'Reached them, they agree' })
  await done.waitFor()
  t.pass('the chatter has the activity-done message with the feedback')

  // The external customer follows: "Send message" warns that they get it; a note does not.
  await page.click('.chatter-toolbar button:has-text("Send message")')
  t.match(await page.textContent('.external-warning'), /Carla Customer/)
  await page.fill('.composer-text', 'We will send the **renewal** offer tomorrow.')
  await page.click('.composer button[type="submit"]')
  await messageWith(page, 'renewal offer').waitFor()

  await page.click('.sidebar a:has-text("My activities")')
  await page.waitForSelector('.view[data-ready] .activity-group')
  t.equal(await page.textContent('.group-today .count'), '(1)')
  t.equal(await page.textContent('.group-overdue .count'), '(0)')

  await openRecord(page, lead.id)
  await page.setViewportSize({ width: 1280, height: 1100 })
  await page.screenshot({ path: '/tmp/ochat-record-page.png', fullPage: true })
})

t.test('failed logins: administrators page through them from the sidebar, others are told no', async (t) => {
  const node = await buildNode(t, { listen: true })
  const ada = await buildUser(node, { name: 'Ada Admin', role: 'admin' })
  const uma = await buildUser(node, { name: 'Uma User' })
  const { page } = await openPage(t, node)
  await logIn(page, ada.login)
  await page.click('.sidebar a:has-text("Failed logins")')
  await page
    .locator('.view[data-ready] .empty', { hasText: 'No failed logins in the last 30 days.' })
    .waitFor()

  const failLogin = (login: string, address: string, userAgent: string) =>
    node.app.inject({
      method: 'POST',
      url: '/api/v1/session',
      remoteAddress: address,
      headers: { 'user-agent': userAgent },
      payload: { login, password: 'not the password' },
    })
  // Older ones first, to fill more than a page (50): 48 wrong passwords from as many addresses, three
  // from one address, then one refused there as too many (refusals are listed once a minute).
  const statuses: number[] = []
  for (let i = 1; i <= 48; i++)
    statuses.push((await failLogin(uma.login, `198.18.0.${i}`, 'python-requests/2.31.0')).statusCode)
  for (let i = 0; i < 4; i++)
    statuses.push((await failLogin(uma.login, '203.0.113.9', 'python-requests/2.31.0')).statusCode)
  t.same(
    [statuses.filter((s) => s === 401).length, statuses.filter((s) => s === 429).length],
    [51, 1],
    'the guesses were refused, then throttled',
  )
  const curl = await failLogin(ada.login, '198.51.100.23', 'curl/8.5.0')
  const firefox = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0'
  const elsewhere = await failLogin(uma.login, '192.0.2.44', firefox)
  t.same([curl.statusCode, elsewhere.statusCode], [401, 401])

  await page.click('button:has-text("Refresh")')
  const table = page.getByRole('table', { name: 'Failed logins, newest first' })
  await table.waitFor()
  t.same(await table.getByRole('columnheader').allTextContents(), [
    'Time',
    'Login tried',
    'Address',
    'Browser',
    'Result',
  ])
  const rows = table.locator('tbody tr')
  t.equal(await rows.count(), 50, 'one page, newest first')
  const cells = (index: number) => rows.nth(index).getByRole('cell').allTextContents()
  t.same((await cells(0)).slice(1), [
    uma.login,
    '192.0.2.44',
    'Firefox 128 on Windows',
    'Wrong login or password',
  ])
  t.same((await cells(1)).slice(1), [ada.login, '198.51.100.23', 'curl 8.5.0', 'Wrong login or password'])
  t.same((await cells(2)).slice(1), [uma.login, '203.0.113.9', 'python-requests/2.31.0', 'Throttled'])
  t.equal(
    await rows.nth(0).locator('time').getAttribute('datetime'),
    '2026-11-25T10:00:00.000Z',
    'at the node’s time',
  )
  t.match((await cells(0))[0], /2026/, 'shown as a date and time')
  t.notOk(await page.isVisible('.view .empty'), 'the empty state is gone')

  await page.click('button:has-text("Load more")')
  await rows.nth(53).waitFor()
  t.equal(await rows.count(), 54, 'the next page is added below')
  t.same(
    (await cells(53)).slice(2),
    ['198.18.0.1', 'python-requests/2.31.0', 'Wrong login or password'],
    'the oldest last',
  )
  t.notOk(await page.isVisible('button:has-text("Load more")'), 'nothing more to load')

  // Someone else at this browser, on the same address.
  await page.click('button:has-text("Log out")')
  await page.fill('#login', uma.login)
  await page.fill('#password', TEST_PASSWORD)
  await page.click('button:has-text("Log in")')
  await page
    .locator('.view[data-ready] .empty', { hasText: 'Only administrators can see this page.' })
    .waitFor()
  t.equal(await page.getByRole('table').count(), 0, 'no list for a user')
  t.equal(await page.locator('.sidebar a[href="#/security"]').count(), 0, 'and no sidebar entry')
})
