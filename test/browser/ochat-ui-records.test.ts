import type { Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { buildPartner } from '../../node/test/helpers.ts'
import { type E2eNode, register, startTestNode, startTestRelay, until } from '../e2e/harness.ts'
import { launchBrowser } from './browser.ts'
import { twoCompanies as connectedCompanies, go, logIn, openPage as openProfile } from './ochat-helpers.ts'

/**
 * O'Chat in a real browser, continued (the first part is ochat-ui.test.ts): a bulk message with its
 * live summary, a thread bound to a record, and a peer key change that pauses a channel. A real relay
 * and real nodes; every check is something a person at the screen sees.
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

/** Connects a registered node to another one (registered here), each filing the other under a contact. */
async function connectTo(a: E2eNode, b: E2eNode) {
  const bId = (await register(b, relay)).instanceId
  const contact = buildPartner(a.node as never, { name: `${b.node.config.company} desk` })
  const requested = await a.admin.call('POST', '/api/v1/ochat/connections', {
    instanceId: bId,
    message: 'hello',
    contactPartnerId: contact.id,
  })
  await b.admin.call('POST', '/api/v1/ochat/connections/sync')
  const back = buildPartner(b.node as never, { name: `${a.node.config.company} desk` })
  const accepted = await b.admin.call('POST', `/api/v1/ochat/connections/${requested.body.id}/accept`, {
    contactPartnerId: back.id,
  })
  const synced = await a.admin.call('POST', '/api/v1/ochat/connections/sync')
  const atA = synced.body.items.find((c: { id: string }) => c.id === requested.body.id)
  return { channelAtA: atA.channelId as number, channelAtB: accepted.body.channelId as number }
}

t.test('a bulk message to two companies, with a live summary of each one’s status', async (t) => {
  const { acme, globex, link } = await twoCompanies(t)
  const initech = await startTestNode(t, { company: 'Initech' })
  const second = await connectTo(acme, initech)
  const page = await openPage(t, acme)
  await logIn(page, acme.admin.login, '#/ochat/connections')

  await page.locator('.connection', { hasText: 'Globex' }).locator('.bulk-check').check()
  await page.locator('.connection', { hasText: 'Initech' }).locator('.bulk-check').check()
  t.equal(await page.textContent('.bulk-button'), 'Send bulk message (2)')
  await page.click('.bulk-button')
  await page.waitForSelector('.view[data-ready] .bulk-recipients')
  t.match(await page.textContent('.bulk-recipients'), /To 2 companies/)
  t.match(await page.textContent('.recipient-list'), /Globex[\s\S]*Initech|Initech[\s\S]*Globex/)
  await page.locator('.ochat-text').fill('Maintenance on **Saturday** from 8:00')
  await page.locator('.ochat-text').press('Enter')

  await page.waitForSelector('.view[data-ready] .bulk-items')
  t.match(await page.textContent('.view h1'), /Bulk message to 2 companies/)
  t.equal(await page.locator('.bulk-item').count(), 2, 'one line per recipient')
  const count = (status: string) => page.locator(`.bulk-count[data-status="${status}"] .bulk-count-value`)
  await count('delivered').filter({ hasText: /^2$/ }).waitFor()
  t.pass('both reached Delivered, counted live')
  t.equal(await count('failed').textContent(), '0')

  await globex.admin.call('POST', `/api/v1/ochat/channels/${link.channelAtB}/read`)
  await count('read').filter({ hasText: /^1$/ }).waitFor()
  t.equal(await count('delivered').textContent(), '1', 'Globex read it: one Read, one Delivered')
  const globexRow = page.locator(`.bulk-item[data-channel-id="${link.channelAtA}"]`)
  t.equal(await globexRow.getAttribute('data-status'), 'read')
  t.match(await globexRow.textContent(), /Globex/)
  const initechRow = page.locator(`.bulk-item[data-channel-id="${second.channelAtA}"]`)
  t.equal(await initechRow.getAttribute('data-status'), 'delivered')
  const atInitech = await until('the message at Initech', async () => {
    const messages = await initech.admin.call('GET', `/api/v1/ochat/channels/${second.channelAtB}/messages`)
    return messages.body.items[0]
  })
  t.match(atInitech.html, /<strong>Saturday<\/strong>/, 'Initech got the formatted message')
  await page.screenshot({ path: '/tmp/ochat-bulk.png', fullPage: true })
})

t.test(
  'a thread bound to a record: sent from the record, filed on one of theirs, the reply comes back',
  async (t) => {
    const { acme, globex, alice, gina, link } = await twoCompanies(t)
    const lead = await alice.call('POST', '/api/v1/models/lead/records', {
      values: { name: 'Office chairs' },
    })
    t.equal(lead.status, 201)
    const acmeTab = await openPage(t, acme)
    const globexTab = await openPage(t, globex)
    await logIn(acmeTab, alice.login, `#/records/${lead.body.id}`)
    await logIn(globexTab, gina.login, `#/ochat/channels/${link.channelAtB}`)

    const panel = acmeTab.locator('.record-ochat')
    t.match(await panel.locator('.record-ochat-channel').textContent(), /Globex/, 'the channel to write to')
    await panel.locator('.ochat-text').fill('Can you quote **50 chairs**?')
    await panel.locator('.ochat-text').press('Enter')
    await panel.locator('.ochat-message.outgoing', { hasText: '50 chairs' }).waitFor()
    t.pass('the message shows on the record')

    const arrived = globexTab.locator('.ochat-message.incoming', { hasText: '50 chairs' })
    await arrived.waitFor()
    t.match(await arrived.locator('.peer-record').textContent(), /About their Office chairs/)
    await arrived.locator('.file-on-record').click()
    await globexTab.locator('.link-form').waitFor()
    await globexTab.locator('.link-model').selectOption('lead')
    await globexTab.locator('.link-new-name').fill('Acme chairs order')
    await globexTab.click('.link-form button:has-text("Create and file")')
    const filed = arrived.locator('.ochat-about a', { hasText: 'Acme chairs order' })
    await filed.waitFor()
    t.pass('Globex filed it on a new record of theirs')

    await filed.click()
    await globexTab.waitForSelector('.view[data-ready] .record-ochat')
    const theirPanel = globexTab.locator('.record-ochat')
    await theirPanel.locator('.ochat-message.incoming', { hasText: '50 chairs' }).waitFor()
    await theirPanel.locator('.ochat-text').fill('Yes: 4,950 EUR.')
    await theirPanel.locator('.ochat-text').press('Enter')
    const reply = panel.locator('.ochat-message.incoming', { hasText: '4,950 EUR' })
    await reply.waitFor()
    t.pass('the reply comes back to the same record at Acme, live')
    t.equal(await reply.locator('.author').textContent(), 'Gina Globex')
    await acmeTab.setViewportSize({ width: 1280, height: 1000 })
    await acmeTab.screenshot({ path: '/tmp/ochat-record.png', fullPage: true })
  },
)

t.test(
  'a peer key change pauses the channel loudly until an admin verifies the new safety code',
  async (t) => {
    const { acme, globex, link } = await twoCompanies(t)
    const page = await openPage(t, acme)
    await logIn(page, acme.admin.login, `#/ochat/channels/${link.channelAtA}`)
    t.equal(await page.locator('.paused-alert').isHidden(), true, 'not paused to begin with')

    const rotated = await globex.admin.call('POST', '/api/v1/ochat/registration/rotate-keys')
    t.equal(rotated.status, 200, 'Globex replaced its keys')
    // Acme syncs its connections every 500 ms here: the change arrives live.
    await page.locator('.paused-alert:visible').waitFor()
    t.match(await page.textContent('.paused-alert'), /Globex's keys changed: this channel is paused/)
    t.match(
      await page.textContent('.channel-item.paused'),
      /Paused: their keys changed/,
      'marked in the list',
    )
    t.equal(await page.locator('.send-button').isDisabled(), true, 'nothing can be sent meanwhile')

    await go(page, '#/ochat/connections')
    const card = page.locator(`.connection[data-id="${link.connectionId}"]`)
    const alert = card.locator('.paused-alert')
    await alert.waitFor()
    const shown = (await alert.locator('.new-safety-code').textContent()) ?? ''
    const atGlobex = await until('Globex sees its new code', async () => {
      const view = await globex.admin.call('GET', `/api/v1/ochat/connections/${link.connectionId}`)
      return view.body.safetyCode?.display !== undefined && view.body
    })
    t.equal(shown, atGlobex.safetyCode.display, 'the NEW code, as the other company sees it')
    await alert.locator('.verify-button').click()
    await page.locator(`.connection[data-id="${link.connectionId}"]:not(.paused) .safety-code`).waitFor()
    t.equal(
      await page.textContent(`.connection[data-id="${link.connectionId}"] .safety-code`),
      shown,
      'verified: the new code is now the connection’s code',
    )
    const channels = await acme.admin.call('GET', '/api/v1/ochat/channels')
    t.equal(channels.body.items[0].paused, false, 'the channel resumed')
    await page.setViewportSize({ width: 1280, height: 900 })
    await page.screenshot({ path: '/tmp/ochat-connections.png', fullPage: true })
  },
)
