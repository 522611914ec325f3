import t from 'tap'
import { startTestRelay, until } from '../e2e/harness.ts'
import { launchBrowser } from './browser.ts'
import { logIn, openPage, styleOf, twoCompanies } from './ochat-helpers.ts'

/**
 * An O'Chat thread as a person reads it, in Chromium against a real relay and two real nodes: a read
 * channel stops looking unread, days are separated and times are relative, a revoked channel says so
 * at the top and locks its composer.
 */
const browser = await launchBrowser(t)
t.setTimeout(360_000)
const relay = await startTestRelay(t)

t.test('a read channel stops looking unread; days are separated and times are relative', async (t) => {
  const { acme, globex, alice, gina, link } = await twoCompanies(t, relay)
  for (const body of ['The order of yesterday', 'The order of today']) {
    const sent = await alice.call('POST', `/api/v1/ochat/channels/${link.channelAtA}/messages`, { body })
    t.equal(sent.status, 201)
  }
  const arrived = await until('both messages at Globex', async () => {
    const page = await globex.admin.call('GET', `/api/v1/ochat/channels/${link.channelAtB}/messages`)
    return page.body.items.length === 2 && page.body.items
  })
  // The first one arrived yesterday at noon (this machine's zone, which is the browser's).
  const yesterday = new Date()
  yesterday.setDate(yesterday.getDate() - 1)
  yesterday.setHours(12, 0, 0, 0)
  const first = arrived.find((m: { html: string }) => m.html.includes('yesterday'))
  globex.node.database.sqlite
    .prepare('update ochat_messages set created_at = ? where id = ?')
    .run(yesterday.getTime(), first.id)
  void acme

  const { page } = await openPage(t, browser, globex)
  await logIn(page, gina.login, '#/ochat')
  const row = page.locator(`.channel-item[data-channel-id="${link.channelAtB}"]`)
  const weight = () => styleOf(row.locator('.channel-peer'), 'fontWeight')
  await row.locator('.channel-unread', { hasText: /^2$/ }).waitFor()
  t.equal(await weight(), '700', 'an unread channel is bold')

  await row.locator('.channel-link').click()
  await page.locator('.ochat-message.incoming', { hasText: 'The order of today' }).waitFor()
  await page.locator('.ochat-counter').waitFor({ state: 'hidden' })
  await page.locator(`.channel-item[data-channel-id="${link.channelAtB}"]:not(.unread)`).waitFor()
  t.equal(await row.locator('.channel-unread').count(), 0, 'its count is gone from the row')
  t.not(await weight(), '700', 'and the row is no longer bold')

  const separators = page.locator('.ochat-thread .day-separator')
  t.same(await separators.allTextContents(), ['Yesterday', 'Today'], 'one separator per day')
  const old = page.locator('.ochat-message', { hasText: 'The order of yesterday' }).locator('time')
  t.match(await old.textContent(), /^yesterday, 12:00/, 'an older time reads relative')
  t.match(await old.getAttribute('title'), new RegExp(String(yesterday.getFullYear())), 'full date on hover')
  const recent = page.locator('.ochat-message', { hasText: 'The order of today' }).locator('time')
  t.match(await recent.textContent(), /^(just now|\d+ min ago)$/, 'a recent one says how long ago')
  t.equal(await page.locator('.banner:visible').count(), 0, 'no error was shown')
})

t.test('a revoked channel says who ended it and when, and its composer is visibly locked', async (t) => {
  const { acme, globex, alice, link } = await twoCompanies(t, relay)
  const { page } = await openPage(t, browser, acme)
  await logIn(page, alice.login, `#/ochat/channels/${link.channelAtA}`)
  t.equal(await page.locator('.closed-banner').count(), 0, 'an open channel has no such banner')
  const revoked = await globex.admin.call('POST', `/api/v1/ochat/connections/${link.connectionId}/revoke`)
  t.equal(revoked.status, 200)

  // Acme syncs its connections every 500 ms here: the revocation arrives live.
  const banner = page.locator('.closed-banner')
  await banner.waitFor()
  const text = (await banner.textContent()) ?? ''
  t.match(text, /This connection was revoked by Globex on .+: messages can no longer be sent\./)
  t.match(text, /ask an administrator to request a new connection/, 'and what to do next')
  t.equal(await page.locator('.ochat-text').isDisabled(), true, 'nothing can be typed')
  t.equal(await page.locator('.send-button').isDisabled(), true, 'nor sent')
  const attach = page.locator('.attach-button')
  t.equal(await attach.getAttribute('aria-disabled'), 'true', 'the paperclip says it is off')
  t.ok(Number(await styleOf(attach, 'opacity')) < 1, 'and looks it')
  t.equal(await page.locator('.ochat-composer input[type="file"]').isDisabled(), true, 'it opens nothing')
  void acme
  await page.screenshot({ path: '/tmp/ochat-revoked.png' })
})
