import type { Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { buildPartner } from '../../node/test/helpers.ts'
import { type E2eNode, register, startTestNode, startTestRelay, until } from '../e2e/harness.ts'
import { launchBrowser } from './browser.ts'
import { twoCompanies as connectedCompanies, go, logIn, openPage as openProfile } from './ochat-helpers.ts'

/**
 * O'Chat in a real browser (Debian's Chromium, driven by playwright-core) against a real relay and
 * two real nodes, Acme and Globex: people log in through the UI, write, read, attach, accept a
 * connection and deal with a failed message. Every check is something a person at the screen sees.
 */
const browser = await launchBrowser(t)
// Two nodes and a browser per test, on a machine that may be busy: more than the default 120 s in all.
t.setTimeout(360_000)
/** One relay for the file: each test's nodes are new instances on it, so tests do not see each other. */
const relay = await startTestRelay(t)

/** A fresh browser profile on a node. */
const openPage = async (t: Test, node: E2eNode): Promise<Page> => (await openProfile(t, browser, node)).page
/** Acme and Globex on the file's relay, connected, each with a user in their channel. */
const twoCompanies = (t: Test, acmeEnv: Record<string, string> = {}) => connectedCompanies(t, relay, acmeEnv)

t.test(
  'Acme writes a formatted message; Globex sees it arrive live, opens it, and Acme sees Read without reloading',
  async (t) => {
    const { acme, globex, alice, gina, link } = await twoCompanies(t)
    const acmeTab = await openPage(t, acme)
    const globexTab = await openPage(t, globex)
    await logIn(globexTab, gina.login, '#/ochat')
    await logIn(acmeTab, alice.login, `#/ochat/channels/${link.channelAtA}`)
    t.match(await acmeTab.textContent('.thread-head'), /Globex/, 'the thread names the other company')
    t.match(await acmeTab.textContent('.thread-head'), /Contact: Globex contact/, 'and its contact')
    await acmeTab.evaluate('window.__sameDocument = true')

    // The toolbar inserts Markdown around the selection; Shift+Enter adds a line, Enter sends.
    const text = acmeTab.locator('.ochat-text')
    await text.fill('The order is confirmed')
    await text.evaluate((el) =>
      (el as unknown as { setSelectionRange(a: number, b: number): void }).setSelectionRange(13, 22),
    )
    await acmeTab.click('.format-bold')
    t.equal(await text.inputValue(), 'The order is **confirmed**', 'Bold wraps the selection in **')
    await text.press('End')
    await text.press('Shift+Enter')
    await text.type('Delivery on Monday')
    t.equal(
      await text.inputValue(),
      'The order is **confirmed**\nDelivery on Monday',
      'Shift+Enter: a new line',
    )
    await text.press('Enter')
    const sent = acmeTab.locator('.ochat-message.outgoing', { hasText: 'Delivery on Monday' })
    await sent.waitFor()
    t.equal(await text.inputValue(), '', 'Enter sent the message and emptied the composer')
    t.equal(await sent.locator('.body strong').textContent(), 'confirmed', 'shown bold')
    t.equal(await sent.locator('.author').textContent(), 'Alice Acme')

    // Globex: the channel shows one unread message, and so does the O'Chat entry, without a reload.
    const channel = globexTab.locator(`.channel-item[data-channel-id="${link.channelAtB}"]`)
    await channel.locator('.channel-unread', { hasText: /^1$/ }).waitFor()
    await globexTab.locator('.ochat-counter', { hasText: /^1$/ }).waitFor()
    t.match(await channel.textContent(), /Acme/, 'the channel names Acme')
    t.match(await channel.textContent(), /Acme contact/, 'and the contact it is filed under')
    await sent.locator('.ochat-status[data-status="delivered"]').waitFor()
    t.pass('Acme sees Delivered once Globex stored it')

    await channel.locator('.channel-link').click()
    const arrived = globexTab.locator('.ochat-message.incoming', { hasText: 'Delivery on Monday' })
    await arrived.waitFor()
    t.equal(await arrived.locator('.body strong').textContent(), 'confirmed', 'Globex sees the bold text')
    t.equal(await arrived.locator('.author').textContent(), 'Alice Acme', 'and who sent it')
    t.equal(await arrived.locator('.author-company').textContent(), 'Acme', 'from which company')
    t.match(
      await arrived.locator('.author-contact').textContent(),
      /Acme contact/,
      'filed under which contact',
    )
    await globexTab.locator('.ochat-counter').waitFor({ state: 'hidden' })
    t.pass('opening the thread read it: the unread badge is gone')

    const read = sent.locator('.ochat-status[data-status="read"]')
    await read.waitFor()
    t.pass('Acme sees the icon turn to Read')
    const tooltip = (await read.getAttribute('title')) ?? ''
    for (const status of ['Pending', 'Sent', 'Delivered', 'Read'])
      t.match(tooltip, new RegExp(`${status}: `), `the tooltip gives the ${status} time`)
    t.match(await sent.locator('.status-line').textContent(), /^Read /, 'the status line says Read')
    t.equal(await acmeTab.evaluate('window.__sameDocument'), true, 'all of it without reloading the page')

    // Globex answers while Alice has the thread open: it appears there, and Globex sees Read at once.
    await globexTab.locator('.ochat-text').fill('Thanks, _noted_.')
    await globexTab.locator('.ochat-text').press('Enter')
    const reply = acmeTab.locator('.ochat-message.incoming', { hasText: 'Thanks' })
    await reply.waitFor()
    t.equal(await reply.locator('.body em').textContent(), 'noted', 'italic arrives italic')
    await globexTab
      .locator('.ochat-message.outgoing', { hasText: 'Thanks' })
      .locator('.ochat-status[data-status="read"]')
      .waitFor()
    t.pass('a message arriving in an open thread is read there, and the sender sees it')
    t.equal(await acmeTab.locator('.banner:visible').count(), 0, 'no error was shown')
    await acmeTab.setViewportSize({ width: 1280, height: 900 })
    await acmeTab.screenshot({ path: '/tmp/ochat-thread.png' })
  },
)

t.test('attachments: the limits are checked before any upload, with a clear message', async (t) => {
  const { acme, alice, link } = await twoCompanies(t)
  const page = await openPage(t, acme)
  let uploads = 0
  page.on('request', (request) => {
    if (request.url().includes('/api/v1/attachments') && request.method() === 'POST') uploads++
  })
  await logIn(page, alice.login, `#/ochat/channels/${link.channelAtA}`)
  const file = (n: number) => ({
    name: `part-${n}.txt`,
    mimeType: 'text/plain',
    buffer: Buffer.from(`part ${n}\n`),
  })
  const input = page.locator('.ochat-composer input[type="file"]')
  const error = page.locator('.composer-error')

  await input.setInputFiles([1, 2, 3, 4, 5, 6].map(file))
  await error.waitFor()
  t.match(await error.textContent(), /At most 5 files per message: you chose 6\. Nothing was uploaded/)
  t.equal(await page.locator('.pending-file').count(), 0, 'no file is listed')
  t.equal(uploads, 0, 'nothing was uploaded')

  await input.setInputFiles([1, 2, 3, 4, 5].map(file))
  await page.locator('.pending-file.uploaded').nth(4).waitFor()
  t.equal(await error.isHidden(), true, 'five files are fine')
  t.equal(uploads, 5, 'each uploaded once, with its progress bar full')
  t.equal(
    await page
      .locator('.pending-file progress')
      .evaluateAll((bars) => bars.every((bar) => (bar as unknown as { value: number }).value === 1)),
    true,
  )

  await input.setInputFiles([file(6)])
  await error.waitFor()
  t.match(await error.textContent(), /you chose 6/, 'a 6th file is refused')
  t.equal(await page.locator('.pending-file').count(), 5)

  // A file over 100 MB is refused from its size alone (the browser never reads it).
  await page.locator('.pending-file .icon-button').first().click()
  await page.evaluate(() => {
    const g = globalThis as unknown as {
      DataTransfer: new () => { items: { add(file: unknown): void }; files: unknown }
      File: new (parts: unknown[], name: string) => unknown
      document: { querySelector(s: string): { files: unknown; dispatchEvent(e: unknown): void } }
      Event: new (type: string) => unknown
    }
    const transfer = new g.DataTransfer()
    transfer.items.add(new g.File([new Uint8Array(100_000_001)], 'video.mp4'))
    const field = g.document.querySelector('.ochat-composer input[type="file"]')
    field.files = transfer.files
    field.dispatchEvent(new g.Event('change'))
  })
  await error.locator('text=/at most 100 MB per file/').waitFor()
  t.match(
    await error.textContent(),
    /“video\.mp4” is 100\.0 MB: at most 100 MB per file\. Nothing was uploaded/,
  )
  t.equal(uploads, 5, 'still nothing more uploaded')
  t.equal(await page.locator('.pending-file').count(), 4)
})

t.test(
  'an admin registers Globex, accepts an incoming request (a contact is required) and sees the safety code',
  async (t) => {
    const acme = await startTestNode(t, { company: 'Acme' })
    const globex = await startTestNode(t, { company: 'Globex' })
    await register(acme, relay)
    const page = await openPage(t, globex)
    await logIn(page, globex.admin.login, '#/ochat/registration')

    await page.fill('#relay-url', relay.baseUrl)
    await page.click('.register-form button[type="submit"]')
    await page.waitForSelector('.registration-status[data-status="valid"]')
    const registration = (await globex.admin.call('GET', '/api/v1/ochat/registration')).body
    t.equal(await page.textContent('.registration-facts .instance-id'), registration.instanceId)
    await page.locator('.socket-state', { hasText: 'connected' }).waitFor()
    t.pass('the registration is valid and the socket to the relay is up')

    const contactAtAcme = buildPartner(acme.node as never, {
      name: 'Globex purchasing',
      companyName: 'Globex',
    })
    const requested = await acme.admin.call('POST', '/api/v1/ochat/connections', {
      instanceId: registration.instanceId,
      message: 'Hello from Acme: shall we exchange orders here?',
      contactPartnerId: contactAtAcme.id,
    })
    t.equal(requested.status, 201)

    await go(page, '#/ochat/connections')
    t.equal(
      await page.textContent('.self-card .instance-id'),
      registration.instanceId,
      'our own id, to give out',
    )
    await page.click('.refresh-button')
    const incoming = page.locator(`.connection[data-id="${requested.body.id}"]`)
    await incoming.waitFor()
    t.equal(await incoming.getAttribute('data-state'), 'pending')
    t.equal(await incoming.locator('.direction-tag').textContent(), 'Incoming')
    t.match(await incoming.textContent(), /shall we exchange orders here\?/, 'with their message')

    await incoming.locator('.accept-button').click()
    const why = incoming.locator('.accept-why')
    await why.waitFor()
    t.match(await why.textContent(), /Choose the contact this company is filed under first/)
    const still = await globex.admin.call('GET', `/api/v1/ochat/connections/${requested.body.id}`)
    t.equal(still.body.state, 'pending', 'nothing was accepted without a contact')

    await incoming.locator('.contact-select').selectOption('new')
    await incoming.locator('.new-contact-name').fill('Wile E. Coyote')
    await incoming.locator('.accept-button').click()
    const accepted = page.locator(`.connection[data-id="${requested.body.id}"][data-state="accepted"]`)
    await accepted.waitFor()
    t.match(await accepted.textContent(), /Contact: Wile E\. Coyote/, 'filed under the new contact')

    const code = (await accepted.locator('.safety-code').textContent()) ?? ''
    t.equal(code.split('\n').length, 3, 'three lines')
    t.ok(
      code.split('\n').every((line) => /^\d{5} \d{5} \d{5} \d{5}$/.test(line)),
      'of four groups of five digits',
    )
    const atAcme = await until('Acme sees the connection accepted', async () => {
      await acme.admin.call('POST', '/api/v1/ochat/connections/sync')
      const view = await acme.admin.call('GET', `/api/v1/ochat/connections/${requested.body.id}`)
      return view.body.state === 'accepted' && view.body
    })
    t.equal(code, atAcme.safetyCode.display, "Acme's admin sees the same code")
    t.ok(await accepted.locator('a', { hasText: 'Open channel' }).isVisible(), 'a channel opened')
  },
)

t.test('a Failed message shows why, what to check, and a Retry that sends it again', async (t) => {
  // Acme does not sync connections by itself during the test: it learns of the revocation only when
  // the relay refuses its message, as a node would between two syncs.
  const { acme, globex, alice, link } = await twoCompanies(t, { NODE_OCHAT_SYNC_MS: '3600000' })
  const page = await openPage(t, acme)
  await logIn(page, alice.login, `#/ochat/channels/${link.channelAtA}`)
  const revoked = await globex.admin.call('POST', `/api/v1/ochat/connections/${link.connectionId}/revoke`)
  t.equal(revoked.status, 200, 'Globex revoked the connection')

  await page.locator('.ochat-text').fill('Are you still there?')
  await page.locator('.ochat-text').press('Enter')
  const message = page.locator('.ochat-message.outgoing', { hasText: 'Are you still there?' })
  await message.locator('.ochat-status[data-status="failed"]').waitFor()
  const failure = message.locator('.status-detail-failed')
  t.match(
    await failure.locator('.status-reason').textContent(),
    /^blocked: /,
    'the reason, as the relay gave it',
  )
  t.match(
    await failure.locator('.next-step').textContent(),
    /What to check: The connection is not accepted any more/,
    'and what to check',
  )
  t.match(await message.locator('.ochat-status').getAttribute('title'), /Failed: /, 'with its time')

  const id = Number(await message.getAttribute('data-id'))
  const before = await alice.call('GET', `/api/v1/ochat/channels/${link.channelAtA}/messages`)
  const firstFailure = before.body.items.find((item: { id: number }) => item.id === id).times.failed
  await failure.locator('.retry-button').click()
  const again = await until('the retried message to fail again', async () => {
    const page = await alice.call('GET', `/api/v1/ochat/channels/${link.channelAtA}/messages`)
    const item = page.body.items.find((m: { id: number }) => m.id === id)
    return item.status === 'failed' && item.times.failed > firstFailure && item
  })
  t.ok(again.times.pending > firstFailure, 'Retry queued it again (a new Pending time)')
  await message.locator(`.ochat-status[data-status="failed"][data-at="${again.statusAt}"]`).waitFor()
  t.pass('the page shows the new attempt live, failed again since the connection is gone')
  t.equal(await page.locator('.banner:visible').count(), 0, 'Retry itself did not fail')
})
