import type { Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { buildNode, buildRecord, buildUser, type TestNode } from '../../node/test/helpers.ts'
import { launchBrowser, logIn, nodePage, waitUntilTrue } from './browser.ts'

/**
 * How the chatter shows what was written, in a real browser: days apart with a line between them,
 * "5 min ago" with the full date on hover, code on a grey ground, pictures as thumbnails, PDFs opened
 * in a tab, an edited message's earlier versions, and followers invited with a message.
 */
const browser = await launchBrowser(t)
t.setTimeout(240_000)

const MINUTE_MS = 60_000
const DAY_MS = 24 * 60 * MINUTE_MS
/** The smallest PNG there is: one pixel. */
const PIXEL_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
)
const TINY_PDF = Buffer.from(
  '%PDF-1.1\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n' +
    '3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 72 72]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n',
)

async function openLead(t: Test, node: TestNode, login: string, leadId: number) {
  const page = await nodePage(t, browser, node)
  await logIn(page, login, `#/records/${leadId}`)
  await page.waitForSelector(`html[data-live-record="${leadId}"]`, { state: 'attached' })
  return page
}

const messageWith = (page: Page, text: string) => page.locator('.thread .message', { hasText: text })

/** The few browser globals the page functions use (the repository compiles without the DOM library). */
type BrowserGlobals = { getComputedStyle(element: unknown): { backgroundColor: string } }

t.test('days apart get a line between them, recent times read "min ago", code has a ground', async (t) => {
  const node = await buildNode(t, { listen: true })
  // The browser counts from its own clock: the node's is set to the real time around it.
  node.clock.set(Date.now() - DAY_MS)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const lead = await buildRecord(sarah, 'lead', { name: 'Desks' })
  await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'message',
    body: 'We met the buyer',
  })
  node.clock.set(Date.now() - 5 * MINUTE_MS)
  const recent = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'note',
    body: 'Run `npm test` before sending',
  })
  const page = await openLead(t, node, sarah.login, lead.id)

  await messageWith(page, 'npm test').waitFor()
  t.same(await page.locator('.thread .day-separator').allTextContents(), ['Today', 'Yesterday'])
  const order = await page
    .locator('.thread > li')
    .evaluateAll((items) =>
      items.map((item) => (item as unknown as { className: string }).className.split(' ')[0]),
    )
  // Yesterday holds the message and, below it, the lead's creation.
  t.same(
    order,
    ['day-separator', 'message', 'day-separator', 'message', 'message'],
    'each day under its line',
  )
  const time = messageWith(page, 'npm test').locator('time')
  t.match(await time.textContent(), /^[56] min ago$/, 'a recent time says how long ago')
  t.equal(
    await time.getAttribute('title'),
    await page.evaluate(
      `new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short' }).format(new Date(${recent.body.createdAt}))`,
    ),
    'the full date on hover',
  )
  const ground = await messageWith(page, 'npm test')
    .locator('.body code')
    .evaluate((code) => (globalThis as unknown as BrowserGlobals).getComputedStyle(code).backgroundColor)
  t.not(ground, 'rgba(0, 0, 0, 0)', `inline code has a background (${ground})`)
})

t.test('a picture shows as a thumbnail, a PDF opens in a tab, other files keep their link', async (t) => {
  const node = await buildNode(t, { listen: true })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const lead = await buildRecord(sarah, 'lead', { name: 'Booth' })
  const page = await openLead(t, node, sarah.login, lead.id)

  await page.getByRole('button', { name: 'Send message' }).click()
  await page.setInputFiles('.composer input[type="file"]', [
    { name: 'booth.png', mimeType: 'image/png', buffer: PIXEL_PNG },
    { name: 'plan.pdf', mimeType: 'application/pdf', buffer: TINY_PDF },
    { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('notes') },
  ])
  await page.locator('.pending-file.uploaded').nth(2).waitFor()
  await page.locator('.composer-text').fill('The booth, its plan and notes')
  await page.locator('.composer button[type="submit"]').click()
  const posted = messageWith(page, 'The booth')
  await posted.waitFor()

  const thumb = posted.getByRole('img', { name: 'booth.png' })
  await thumb.waitFor()
  await waitUntilTrue(
    page,
    `document.querySelector('.attachment-thumb')?.complete && document.querySelector('.attachment-thumb').naturalWidth > 0`,
  )
  t.equal(await thumb.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth), 1)
  t.equal(await posted.locator('.attachment-thumb').count(), 1, 'only the picture gets a thumbnail')
  t.same((await posted.locator('a.attachment').allTextContents()).sort(), [
    'booth.png',
    'notes.txt',
    'plan.pdf',
  ])

  const [tab] = await Promise.all([
    page.waitForEvent('popup'),
    posted.getByRole('button', { name: 'Open plan.pdf in a new tab' }).click(),
  ])
  await tab.waitForURL(/^blob:/)
  t.match(tab.url(), /^blob:http:\/\/127\.0\.0\.1:\d+\//, 'the PDF opens in a tab of its own')
})

t.test('"(edited)" opens the earlier versions; Esc closes them', async (t) => {
  const node = await buildNode(t, { listen: true })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const lead = await buildRecord(sarah, 'lead', { name: 'Chairs' })
  const posted = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'message',
    body: 'Price is **900**',
  })
  node.clock.advance(10 * MINUTE_MS)
  await sarah.call('PATCH', `/api/v1/messages/${posted.body.id}`, { body: 'Price is **950**' })
  const page = await openLead(t, node, sarah.login, lead.id)

  await messageWith(page, '950').getByRole('button', { name: '(edited)' }).click()
  const dialog = page.getByRole('dialog', { name: 'Earlier versions' })
  await dialog.waitFor()
  const versions = dialog.locator('.history-version .body')
  t.same(await versions.allTextContents(), ['Price is 900', 'Price is 950'], 'the old body, then the new')
  t.equal(await dialog.locator('.history-version strong').first().textContent(), '900', 'formatted as posted')
  await page.keyboard.press('Escape')
  await dialog.waitFor({ state: 'detached' })
})

t.test('followers added with a message: the new follower receives it', async (t) => {
  const node = await buildNode(t, { listen: true })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const bob = await buildUser(node, { name: 'Bob Builder' })
  const lead = await buildRecord(sarah, 'lead', { name: 'Tables' })
  const page = await openLead(t, node, sarah.login, lead.id)

  await page.locator('.followers-button').click()
  await page.getByLabel('Find people to add as followers').fill('Bob')
  await page.getByRole('button', { name: /Bob Builder/ }).click()
  await page.getByRole('list', { name: 'To add' }).getByText('Bob Builder').waitFor()
  await page.getByLabel('Invitation message').fill('Could you **price** the tables?')
  await page.getByRole('button', { name: 'Add followers' }).click()
  await page.locator(`.follower[data-partner-id="${bob.partnerId}"]`).waitFor()
  t.equal(await page.locator('.invite-form').isHidden(), true, 'the form empties once they are added')

  const inbox = (await bob.call('GET', '/api/v1/inbox')).body.items
  t.equal(inbox.length, 1, 'Bob is told')
  t.equal(inbox[0].message.body, '<p>Could you <strong>price</strong> the tables?</p>')
  await messageWith(page, 'the tables?').waitFor()
})
