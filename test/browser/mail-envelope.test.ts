import type { Page } from 'playwright-core'
import t, { type Test } from 'tap'
import {
  buildNode,
  buildPartner,
  buildRecord,
  buildUser,
  TEST_PASSWORD,
  type TestNode,
} from '../../node/test/helpers.ts'
import { startSmtpSink } from '../../node/test/smtp-sink.ts'
import { launchBrowser, newProfile } from './browser.ts'

/**
 * The email state of chatter messages in a real browser: an envelope per message that went by email,
 * grey while waiting, green once the mail server took it, red when it failed, with the reason and
 * Retry and Cancel; the record's count of failed emails; all of it updated live, without a reload.
 */
const browser = await launchBrowser(t)
t.setTimeout(240_000)

async function openPage(t: Test, node: TestNode): Promise<Page> {
  const address = node.app.server.address()
  if (!address || typeof address === 'string') throw new Error('the node is not listening')
  const { page } = await newProfile(t, browser, {
    baseURL: `http://127.0.0.1:${address.port}`,
    timeoutMs: 20_000,
  })
  return page
}

async function logInTo(page: Page, login: string, recordId: number) {
  await page.goto(`/#/records/${recordId}`)
  await page.fill('#login', login)
  await page.fill('#password', TEST_PASSWORD)
  await page.click('button:has-text("Log in")')
  await page.waitForSelector('.view[data-ready] .record-page')
  await page.waitForSelector(`html[data-live-record="${recordId}"]`, { state: 'attached' })
}

const envelopeOf = (page: Page, text: string) =>
  page.locator('.thread .message', { hasText: text }).locator('.email-envelope')

t.test(
  'a failed email shows red with its reason; Retry with the server now accepting turns it green',
  async (t) => {
    const sink = await startSmtpSink(t)
    sink.answerWith(() => ({ code: 550, message: '5.1.1 <carla@client.test>: mailbox unavailable' }))
    const node = await buildNode(t, {
      listen: true,
      env: {
        NODE_SMTP_URL: sink.url,
        NODE_MAIL_FROM: 'notifications@acme.test',
        NODE_MAIL_DOMAIN: 'acme.test',
      },
    })
    const sarah = await buildUser(node, { name: 'Sarah Sales' })
    const carla = buildPartner(node, { name: 'Carla Customer', email: 'carla@client.test' })
    const lead = await buildRecord(sarah, 'lead', { name: 'Big deal' })
    await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: carla.id })
    const page = await openPage(t, node)
    await logInTo(page, sarah.login, lead.id)

    await page.click('.chatter-toolbar button:has-text("Send message")')
    await page.fill('.composer-text', 'Your quote is attached')
    await page.click('.composer button[type="submit"]')
    const envelope = envelopeOf(page, 'Your quote is attached')
    // The mail server refuses it for good: red, without reloading the page.
    await page.waitForSelector('.thread .email-envelope.email-failed')
    t.match(
      await envelope.getAttribute('title'),
      /Carla Customer <carla@client\.test>: Failed — 550\b.*mailbox unavailable/,
    )
    t.match(await page.textContent('.failed-emails'), /^1 failed email$/, 'the record counts it in red')

    await envelope.click()
    const popover = page.locator('.email-popover')
    t.match(await popover.textContent(), /Carla Customer.*carla@client\.test.*Failed.*mailbox unavailable/)
    t.ok(await popover.locator('button:has-text("Cancel")').isVisible(), 'it can be canceled')

    sink.answerWith(() => null)
    await popover.locator('button:has-text("Retry")').click()
    await page.waitForSelector('.thread .email-envelope.email-sent')
    t.match(await envelope.getAttribute('title'), /Email: sent/, 'green once the server took it')
    t.ok(await page.locator('.failed-emails').isHidden(), 'nothing failed any more')
    t.same((await sink.next()).to, ['carla@client.test'], 'the mail server got it')
  },
)

t.test(
  'a contact without an address: red at once, fixed and retried, then canceled by a colleague, live',
  async (t) => {
    const node = await buildNode(t, { listen: true })
    const sarah = await buildUser(node, { name: 'Sarah Sales' })
    const john = await buildUser(node, { name: 'John Ops' })
    const walter = buildPartner(node, { name: 'Walter Walkin', email: null })
    const lead = await buildRecord(sarah, 'lead', { name: 'Walk-in' })
    await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: walter.id })
    await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: john.partnerId })
    await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
      kind: 'message',
      body: 'Welcome aboard',
    })
    await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, { kind: 'note', body: 'Internal only' })
    const page = await openPage(t, node)
    await logInTo(page, sarah.login, lead.id)

    const envelope = envelopeOf(page, 'Welcome aboard')
    t.equal(await envelope.getAttribute('data-state'), 'failed', 'red: it cannot be sent')
    t.match(
      await envelope.getAttribute('title'),
      /Walter Walkin <no address>: Failed — the contact has no email address/,
    )
    t.equal(await envelopeOf(page, 'Internal only').count(), 0, 'a note has no envelope: it is never emailed')
    t.match(await page.textContent('.failed-emails'), /^1 failed email$/)

    await envelope.click()
    await page.locator('.email-popover button:has-text("Retry")').click()
    await page.waitForSelector('.banner-code:has-text("E_EMAIL_NO_ADDRESS")')
    t.match(
      await page.textContent('.banner-message'),
      /no email address: add one to the contact/,
      'the refusal says what to do',
    )
    t.equal(await envelope.getAttribute('data-state'), 'failed', 'still red')

    t.equal(
      (await sarah.call('PATCH', `/api/v1/partners/${walter.id}`, { email: 'walter@client.test' })).status,
      200,
    )
    await page.locator('.email-popover button:has-text("Retry")').click()
    await page.waitForSelector('.thread .email-envelope.email-queued')
    t.ok(await page.locator('.failed-emails').isHidden(), 'nothing failed any more')
    t.match(await envelope.getAttribute('title'), /Walter Walkin <walter@client\.test>: Waiting to be sent/)

    // A colleague cancels it elsewhere: the open page follows, with no reload.
    const emails = await john.call('GET', `/api/v1/records/${lead.id}/emails`)
    const canceled = await john.call('POST', `/api/v1/notifications/${emails.body.items[0].id}/cancel`)
    t.equal(canceled.status, 200)
    await page.waitForSelector('.thread .email-envelope.email-canceled')
    t.match(await page.locator('.email-popover').textContent(), /Canceled/, 'the open popover shows it too')
  },
)
