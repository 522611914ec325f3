import type { Page } from 'playwright-core'
import t from 'tap'
import { buildPartner, buildUser, TEST_PASSWORD } from '../../node/test/helpers.ts'
import { buildOchatNode, startFakeRelay } from '../../node/test/ochat-helpers.ts'
import { startSmtpSink } from '../../node/test/smtp-sink.ts'
import { launchBrowser, newProfile } from './browser.ts'

/**
 * A partner without a node, in a real browser (Debian's Chromium, driven by playwright-core): an
 * administrator adds it by its email address, a user writes to it, and the screen says plainly that
 * the channel goes by email, not end-to-end encrypted, and how each email went (Sent, Failed with the
 * mail server's words, Retry). The node sends to a real SMTP server in the test process; its relay is
 * the node tests' fake one (no PostgreSQL needed).
 */
const browser = await launchBrowser(t)
t.setTimeout(240_000)

async function logIn(page: Page, login: string, hash: string) {
  await page.goto(`/${hash}`)
  await page.fill('#login', login)
  await page.fill('#password', TEST_PASSWORD)
  await page.click('button:has-text("Log in")')
  await page.waitForSelector('.view[data-ready]')
  await page.waitForSelector('html[data-live="on"]', { state: 'attached' })
}

t.test(
  'an admin adds a partner by email; messages to it say so, and show Sent, Failed and Retry',
  async (t) => {
    const sink = await startSmtpSink(t)
    const relay = await startFakeRelay(t)
    const { node, admin } = await buildOchatNode(t, relay, {
      listen: true,
      env: { NODE_SMTP_URL: sink.url, NODE_MAIL_FROM: 'ochat@acme.test', NODE_MAIL_DOMAIN: 'mail.acme.test' },
    })
    buildPartner(node, { name: 'Gina Globex', companyName: 'Globex' })
    const mia = await buildUser(node, { name: 'Mia Member' })
    const { page } = await newProfile(t, browser, { baseURL: node.url as string, timeoutMs: 20_000 })

    await logIn(page, admin.login, '#/ochat/connections')
    const form = page.locator('.email-partner-form')
    t.match(
      await form.textContent(),
      /by email, not end-to-end encrypted/,
      'the form says what such a channel is',
    )
    await form.locator('#email-partner-name').fill('Globex')
    await form.locator('#email-partner-address').fill('orders@globex.test')
    await form.locator('.contact-select').selectOption({ label: 'Gina Globex (Globex)' })
    await form.locator('button[type="submit"]').click()
    const card = page.locator('.connection', { hasText: 'orders@globex.test' })
    await card.waitFor()
    t.match(await card.textContent(), /Globex.*orders@globex\.test.*by email, not end-to-end encrypted/s)
    t.equal(await card.locator('.safety-code').count(), 0, 'no safety code: there are no keys')

    // A person may not add the same address twice: the form says why.
    await form.locator('#email-partner-name').fill('Globex again')
    await form.locator('#email-partner-address').fill('ORDERS@globex.test')
    await form.locator('.contact-select').selectOption({ label: 'Gina Globex (Globex)' })
    await form.locator('button[type="submit"]').click()
    await form.locator('.form-error:not([hidden])').waitFor()
    t.match(await form.locator('.form-error').textContent(), /already a contact/)

    // Mia writes; the channel and the message say how it travels; the sink's 550 makes it Failed.
    await page.context().clearCookies()
    sink.answerWith(() => ({ code: 550, message: '5.1.1 <orders@globex.test>: mailbox unknown' }))
    const channels = await mia.call('GET', '/api/v1/ochat/channels')
    const channelId = channels.body.items[0].id
    await logIn(page, mia.login, `#/ochat/channels/${channelId}`)
    t.match(await page.textContent('.thread-head'), /orders@globex\.test/)
    t.match(
      await page.textContent('.thread-head'),
      /by email, not end-to-end encrypted/,
      'the header says it plainly',
    )
    t.match(await page.textContent('.channel-item.active'), /orders@globex\.test/)

    const text = page.locator('.ochat-text')
    await text.fill('Your order ships on Monday')
    await text.press('Enter')
    const message = page.locator('.ochat-message.outgoing', { hasText: 'Your order ships on Monday' })
    await message.waitFor()
    t.match(await message.textContent(), /by email, not end-to-end encrypted/, 'and so does each message')
    await message.locator('.ochat-status[data-status="failed"]').waitFor()
    const failure = message.locator('.status-detail-failed')
    t.match(await failure.textContent(), /550.*mailbox unknown/, 'Failed shows the mail server’s words')
    t.match(await failure.textContent(), /What to check:.*refused the email/)

    sink.answerWith(() => null)
    await failure.locator('.retry-button').click()
    await message.locator('.ochat-status[data-status="sent"]').waitFor()
    t.match(await message.locator('.status-line').textContent(), /Sent/, 'Sent, live, without reloading')
    t.equal(sink.mails.length, 1, 'the partner got it once')
    t.same(sink.mails[0]?.to, ['orders@globex.test'])
  },
)
