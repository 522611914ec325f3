import t from 'tap'
import { buildPartner } from '../../node/test/helpers.ts'
import { register, startTestNode, startTestRelay } from '../e2e/harness.ts'
import { launchBrowser, waitUntilTrue } from './browser.ts'
import { logIn, openPage, twoCompanies } from './ochat-helpers.ts'

/**
 * O'Chat around the threads, in Chromium against a real relay and real nodes: asking for a connection
 * with a wrong id, a request that arrives while the admins look elsewhere, the answer reaching the
 * requester, and the way back from a bulk message.
 */
const browser = await launchBrowser(t)
t.setTimeout(360_000)
const relay = await startTestRelay(t)

t.test('a wrong instance id is caught first, and a refusal is said once, clearly', async (t) => {
  const acme = await startTestNode(t, { company: 'Acme' })
  await register(acme, relay)
  const nobody = buildPartner(acme.node as never, { name: 'Nobody desk' })
  const { page } = await openPage(t, browser, acme)
  await logIn(page, acme.admin.login, '#/ochat/connections')
  const error = page.locator('.request-form .form-error')

  await page.fill('#request-instance', 'hello')
  await page.click('.request-form button[type="submit"]')
  await error.waitFor()
  t.match(
    await error.textContent(),
    /^“hello” is not an instance id: one starts with oc_ .* Ask their administrator/,
    'the id is checked before anything else (no contact chosen yet)',
  )

  await page.fill('#request-instance', `oc_${'a'.repeat(26)}`)
  await page.locator('#request-contact').selectOption(String(nobody.id))
  await page.click('.request-form button[type="submit"]')
  await error.filter({ hasText: 'No company is registered' }).waitFor()
  const said = (await error.textContent()) ?? ''
  t.match(
    said,
    /^No company is registered at the relay under this instance id: check it with their administrator/,
  )
  t.notMatch(said, /relay refused|E_NOT_FOUND|Not found/, 'in plain words, without the relay’s echo')
  t.equal(await page.locator('.banner:visible').count(), 0, 'shown once: no banner repeats it')
})

t.test('an incoming request shows on Connections at once; the requester sees the answer live', async (t) => {
  const acme = await startTestNode(t, { company: 'Acme' })
  const globex = await startTestNode(t, { company: 'Globex' })
  await register(acme, relay)
  const globexId = (await register(globex, relay)).instanceId
  const desk = buildPartner(acme.node as never, { name: 'Globex desk' })
  const back = buildPartner(globex.node as never, { name: 'Acme desk' })

  const globexTab = (await openPage(t, browser, globex)).page
  await logIn(globexTab, globex.admin.login, '#/ochat')
  const badge = globexTab.locator('.connections-link .requests-counter')
  t.equal(await badge.isHidden(), true, 'no request, no badge')
  const acmeTab = (await openPage(t, browser, acme)).page
  await logIn(acmeTab, acme.admin.login, '#/ochat/connections')

  const requested = await acme.admin.call('POST', '/api/v1/ochat/connections', {
    instanceId: globexId,
    message: 'Hello from Acme',
    contactPartnerId: desk.id,
  })
  t.equal(requested.status, 201)
  // Globex reads its connections every 500 ms here: the request arrives without a reload.
  await badge.filter({ hasText: /^1$/ }).waitFor()
  t.match(await badge.getAttribute('title'), /1 connection request to answer/)
  await globexTab.locator('.connections-link').click()
  await globexTab.waitForSelector(`.view[data-ready] .connection[data-id="${requested.body.id}"]`)
  t.pass('the badge leads to the request')

  const waiting = acmeTab.locator(`.connection[data-id="${requested.body.id}"]`)
  await waiting.waitFor()
  t.equal(await waiting.getAttribute('data-state'), 'pending')
  const accepted = await globex.admin.call('POST', `/api/v1/ochat/connections/${requested.body.id}/accept`, {
    contactPartnerId: back.id,
  })
  t.equal(accepted.status, 200)
  await badge.waitFor({ state: 'hidden' })
  t.pass('answered: the badge is gone')
  const open = acmeTab.locator(`.connection[data-id="${requested.body.id}"][data-state="accepted"] a`, {
    hasText: 'Open channel',
  })
  await open.waitFor()
  t.pass("Acme's page shows the connection accepted, with its channel, without a reload")
})

t.test('a bulk summary shows the message as sent, and leads back where it began', async (t) => {
  const { acme } = await twoCompanies(t, relay)
  const { page } = await openPage(t, browser, acme)
  await logIn(page, acme.admin.login, '#/ochat/connections')
  await page.locator('.connection', { hasText: 'Globex' }).locator('.bulk-check').check()
  await page.click('.bulk-button')
  await page.waitForSelector('.view[data-ready] .bulk-recipients')
  t.match(await page.textContent('.bulk-back'), /Back to Connections/, 'the composer leads back too')
  await page.locator('.ochat-text').fill('Maintenance on **Saturday**, _8:00_')
  await page.locator('.ochat-text').press('Enter')
  await page.waitForSelector('.view[data-ready] .bulk-items')
  t.equal(await page.textContent('.bulk-preview strong'), 'Saturday', 'bold stays bold')
  t.equal(await page.textContent('.bulk-preview em'), '8:00', 'italic stays italic')
  await page.click('.bulk-back')
  await page.waitForSelector('.view[data-ready] .request-form')
  t.equal(await page.textContent('.view h1'), 'Connections', 'back where the bulk message began')
})

t.test(
  "a partner's queue shows on Connections while it is offline, and empties live when it is back",
  async (t) => {
    const { acme, globex, link } = await twoCompanies(t, relay)
    const { page } = await openPage(t, browser, acme)
    await logIn(page, acme.admin.login, '#/ochat/connections')
    const card = page.locator('.connection', { hasText: 'Globex' })
    t.equal(await card.locator('.connection-waiting').count(), 0, 'nothing waits at first')

    await globex.stop()
    for (const body of ['Invoice 1', 'Invoice 2'])
      t.equal(
        (await acme.admin.call('POST', `/api/v1/ochat/channels/${link.channelAtA}/messages`, { body }))
          .status,
        201,
      )
    const waiting = card.locator('.connection-waiting')
    await waiting.waitFor()
    await waitUntilTrue(
      page,
      `/^2 messages/.test(document.querySelector('.connection-waiting')?.textContent ?? '')`,
    )
    t.match(
      await waiting.textContent(),
      /^2 messages not yet received by Globex, the oldest written /,
      'without a reload',
    )

    await globex.restart()
    await waiting.waitFor({ state: 'detached' })
    t.pass('the line goes once Globex has taken them, without a reload')
  },
)
