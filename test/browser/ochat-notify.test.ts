import t from 'tap'
import { startTestRelay } from '../e2e/harness.ts'
import { launchBrowser } from './browser.ts'
import { go, logIn, openPage, twoCompanies } from './ochat-helpers.ts'

/**
 * Browser notifications of O'Chat in Chromium, against a real relay and two real nodes: the
 * permission is granted to the browser profile, and the page's Notification calls are recorded.
 */
const browser = await launchBrowser(t)
t.setTimeout(360_000)
const relay = await startTestRelay(t)

/** Records what the page asks of the Notification API (the real one still does the work). */
const RECORD_NOTIFICATIONS = `
  const Real = window.Notification
  window.__notes = []
  window.Notification = class extends Real {
    constructor(title, options) {
      super(title, options)
      window.__notes.push({ title, body: options && options.body, notification: this })
    }
  }
`

/** A notification the page made, as the init script recorded it. */
type Recorded = { title: string; body: string; notification: { onclick(): void } }

/** The page's globals these functions read (they run in the page: each names them itself). */
type Recorder = { __notes: Recorded[]; location: { hash: string } }

t.test(
  'browser notifications: asked for once, shown while looking elsewhere, a click opens the channel',
  async (t) => {
    const { globex, alice, gina, link } = await twoCompanies(t, relay)
    const { page, context } = await openPage(t, browser, globex)
    await context.grantPermissions(['notifications'])
    await page.addInitScript(RECORD_NOTIFICATIONS)
    await logIn(page, gina.login, '#/ochat')
    const toggle = page.locator('.notify-button')
    t.match(await toggle.textContent(), /Notify me of new messages/)
    await toggle.click()
    await page.locator('.notify-button[aria-pressed="true"]', { hasText: 'Notifications on' }).waitFor()

    const text = `Your parcel ${'is on its way and '.repeat(6)}should arrive on Monday`
    await alice.call('POST', `/api/v1/ochat/channels/${link.channelAtA}/messages`, { body: text })
    await page.waitForFunction(() => (globalThis as unknown as Recorder).__notes.length === 1)
    const [note] = await page.evaluate(() =>
      (globalThis as unknown as Recorder).__notes.map((n) => ({ title: n.title, body: n.body })),
    )
    t.equal(note?.title, 'Alice Acme (Acme)', 'who wrote, and from which company')
    t.ok(note?.body.startsWith('Your parcel is on its way'), 'the start of the text')
    t.ok((note?.body.length ?? 0) <= 80, 'at most 80 characters of it')

    await page.evaluate(() => (globalThis as unknown as Recorder).__notes[0]?.notification.onclick())
    await page.waitForSelector(`.view[data-ready] .ochat-message.incoming`)
    t.equal(
      await page.evaluate(() => (globalThis as unknown as Recorder).location.hash),
      `#/ochat/channels/${link.channelAtB}`,
      'clicking it opens the channel',
    )
    await alice.call('POST', `/api/v1/ochat/channels/${link.channelAtA}/messages`, { body: 'Seen here' })
    await page.locator('.ochat-message.incoming', { hasText: 'Seen here' }).waitFor()
    t.equal(
      await page.evaluate(() => (globalThis as unknown as Recorder).__notes.length),
      1,
      'nothing pops up for the channel being read',
    )

    await page.reload()
    await page.waitForSelector('.view[data-ready]')
    await go(page, '#/ochat')
    t.equal(
      await page.locator('.notify-button').getAttribute('aria-pressed'),
      'true',
      'the choice is remembered',
    )
  },
)
