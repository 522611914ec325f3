import t from 'tap'
import { startTestRelay } from '../e2e/harness.ts'
import { launchBrowser } from './browser.ts'
import { fitsWidth, logIn, openPage, rectOf, twoCompanies, viewportHeight } from './ochat-helpers.ts'

/**
 * A long O'Chat thread in Chromium, against a real relay and two real nodes: the newest message and
 * its status explanation are in view, and Send stays on screen with files waiting, wide and narrow.
 */
const browser = await launchBrowser(t)
t.setTimeout(360_000)
const relay = await startTestRelay(t)

t.test('the newest message with its explanation, and Send, stay on screen', async (t) => {
  // Acme learns of the revocation only when the relay refuses its message (no sync meanwhile).
  const { acme, globex, alice, link } = await twoCompanies(t, relay, { NODE_OCHAT_SYNC_MS: '3600000' })
  for (let n = 1; n <= 25; n++)
    await alice.call('POST', `/api/v1/ochat/channels/${link.channelAtA}/messages`, { body: `Line ${n}` })
  const { page } = await openPage(t, browser, acme)
  await page.setViewportSize({ width: 1400, height: 900 })
  await logIn(page, alice.login, `#/ochat/channels/${link.channelAtA}`)

  const file = (n: number) => ({ name: `part-${n}.txt`, mimeType: 'text/plain', buffer: Buffer.from('x') })
  await page.locator('.ochat-composer input[type="file"]').setInputFiles([1, 2, 3, 4, 5].map(file))
  await page.locator('.pending-file.uploaded').nth(4).waitFor()
  const send = page.locator('.send-button')
  for (const [width, height] of [
    [1400, 900],
    [390, 844],
  ] as const) {
    await page.setViewportSize({ width, height })
    const box = await rectOf(send)
    t.ok(box.top >= 0 && box.bottom <= height, `Send is on screen at ${width} px (${box.top}–${box.bottom})`)
    const files = await rectOf(page.locator('.ochat-composer .pending-files'))
    t.ok(files.height <= 130, `five pending files scroll in their own area at ${width} px`)
    t.ok(await fitsWidth(page), `nothing is wider than the screen at ${width} px`)
  }
  await page.setViewportSize({ width: 1400, height: 900 })
  for (let n = 0; n < 5; n++) await page.locator('.pending-file .icon-button').first().click()

  const revoked = await globex.admin.call('POST', `/api/v1/ochat/connections/${link.connectionId}/revoke`)
  t.equal(revoked.status, 200)
  await page.locator('.ochat-text').fill('Are you still there?')
  await page.locator('.ochat-text').press('Enter')
  const message = page.locator('.ochat-message.outgoing', { hasText: 'Are you still there?' })
  const detail = message.locator('.status-detail-failed')
  await detail.waitFor()
  const thread = await rectOf(page.locator('.ochat-thread'))
  const shown = await rectOf(detail)
  t.ok(
    shown.bottom <= thread.bottom + 1,
    `the explanation is not cut off by the thread (${shown.bottom} ≤ ${thread.bottom})`,
  )
  t.ok(shown.bottom <= (await viewportHeight(page)), 'nor by the window')
  void acme
  await page.screenshot({ path: '/tmp/ochat-thread-end.png' })
})
