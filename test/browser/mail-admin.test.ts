import { readFile } from 'node:fs/promises'
import type { Page } from 'playwright-core'
import t from 'tap'
import { buildNode, buildUser, type TestNode } from '../../node/test/helpers.ts'
import { launchBrowser, logIn, nodePage } from './browser.ts'

/**
 * The administrator's mail pages in a real browser: mail aliases (list, create with its errors beside
 * the field, change, delete) and the incoming mail log (outcome, reason, record, raw download); and a
 * user who is not an administrator, who sees neither.
 */
const browser = await launchBrowser(t)
t.setTimeout(240_000)

const DOMAIN = 'acme.test'

/** Goes to `hash` as a typed address would, and waits for that page (by its title) to have loaded. */
async function go(page: Page, hash: string, title: string) {
  await page.evaluate(`location.hash = '${hash}'`)
  await page.locator('.view[data-ready] h1', { hasText: title }).waitFor()
}

function email(input: { from: string; to: string; subject: string; messageId: string }): Buffer {
  return Buffer.from(
    [
      `From: ${input.from}`,
      `To: ${input.to}`,
      `Subject: ${input.subject}`,
      `Message-ID: <${input.messageId}>`,
      'Date: Wed, 25 Nov 2026 09:00:00 +0000',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'The printer in room 4 is on fire again.',
      '',
    ].join('\r\n'),
  )
}

/** Mail handed over as a provider's webhook would: filed like mail arriving over SMTP. */
async function handOver(node: TestNode, secret: string, raw: Buffer) {
  const response = await node.app.inject({
    method: 'POST',
    url: '/api/v1/mail/inbound',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'message/rfc822' },
    payload: raw,
  })
  if (response.statusCode !== 200) throw new Error(`not handed over: ${response.statusCode} ${response.body}`)
  return response.json() as { outcome: string; reason: string | null; recordId: number | null }
}

/** True when the page is no wider than the window: nothing scrolls sideways. */
const fitsWidth = (page: Page) =>
  page.evaluate('document.documentElement.scrollWidth <= window.innerWidth') as Promise<boolean>

t.test(
  'an administrator creates help@ for tickets, sees a stranger’s mail refused with its reason, and downloads it',
  async (t) => {
    const node = await buildNode(t, { listen: true, env: { NODE_MAIL_DOMAIN: DOMAIN } })
    const admin = await buildUser(node, { role: 'admin', name: 'Ada Admin' })
    const page = await nodePage(t, browser, node)
    await logIn(page, admin.login, '#/settings/mail')
    const mailLinks = page.getByRole('navigation', { name: 'Incoming mail settings' })
    t.same(
      await mailLinks.getByRole('link').allTextContents(),
      ['Mail aliases', 'Incoming mail'],
      'the mail settings page links to both pages',
    )
    t.same(
      await page.locator('.sidebar a[href^="#/settings/mail"]').allTextContents(),
      ['Outgoing mail', 'Mail aliases', 'Incoming mail'],
      'and so does the sidebar',
    )

    await mailLinks.getByRole('link', { name: 'Mail aliases' }).click()
    await page.waitForSelector('.view[data-ready] table.mail-aliases')
    const aliasRow = (name: string) => page.locator(`tr.mail-alias[data-name="${name}"]`)
    t.match(
      await aliasRow('support').textContent(),
      /support@acme\.test.*New Ticket for each new mail.*Known contacts.*None/,
      'the aliases the node starts with are listed with their address, target and policy',
    )
    t.equal(await page.textContent('.alias-domain'), '@acme.test', 'the new address ends with the domain')

    await page.getByLabel('Address').fill('help')
    await page.getByLabel('Model').selectOption({ label: 'Ticket' })
    await page.getByLabel('Who may write').selectOption({ label: 'Followers' })
    await page.getByLabel('Defaults').fill('{"priority": high}')
    await page.click('button:has-text("Create alias")')
    const defaultsError = page.locator('#alias-defaults-error')
    await defaultsError.waitFor()
    t.match(
      await defaultsError.textContent(),
      /^This is not valid JSON \(.+\)\. Write an object such as \{"priority": "high"\}\.$/,
      'bad JSON is refused beside the field, with an example',
    )
    t.equal(await page.getAttribute('#alias-defaults', 'aria-invalid'), 'true')

    // Valid JSON, but a field tickets do not have: the node's refusal goes beside the same field.
    await page.getByLabel('Defaults').fill('{"mood": "grumpy"}')
    await page.click('button:has-text("Create alias")')
    await page.locator('#alias-defaults-error', { hasText: 'mood' }).waitFor()
    const names = (await admin.call('GET', '/api/v1/mail/aliases')).body.items.map(
      (alias: { name: string }) => alias.name,
    )
    t.notOk(names.includes('help'), 'nothing was created')

    await page.getByLabel('Defaults').fill('{"priority": "high"}')
    await page.click('button:has-text("Create alias")')
    await aliasRow('help').waitFor()
    t.match(
      await aliasRow('help').textContent(),
      /help@acme\.test.*New Ticket for each new mail.*Followers.*\{"priority":"high"\}/,
    )
    t.ok(await defaultsError.isHidden(), 'the error is gone')
    t.equal(await page.inputValue('#alias-name'), '', 'the form is empty again for the next one')
    const help = (await admin.call('GET', '/api/v1/mail/aliases')).body.items.find(
      (alias: { name: string }) => alias.name === 'help',
    )
    t.match(help, {
      model: 'ticket',
      recordId: null,
      contactPolicy: 'followers',
      defaults: { priority: 'high' },
    })

    // A name the node keeps for itself: its reason, beside the address.
    await page.getByLabel('Address').fill('postmaster')
    await page.click('button:has-text("Create alias")')
    await page.locator('#alias-name-error', { hasText: 'reserved' }).waitFor()

    await page.setViewportSize({ width: 375, height: 800 })
    t.ok(await fitsWidth(page), 'the aliases page fits a phone’s width')
    await page.setViewportSize({ width: 1280, height: 900 })

    // A stranger writes to help@: only followers (and users) may.
    const raw = email({
      from: 'Stan Stranger <stan@unknown.test>',
      to: `help@${DOMAIN}`,
      subject: 'Printer on fire',
      messageId: 'fire-1@unknown.test',
    })
    const refused = await handOver(node, admin.secret, raw)
    t.equal(refused.outcome, 'refused')

    await page.click('.view-header a:has-text("Incoming mail")')
    const list = page.getByRole('table', { name: 'Incoming mail, newest first' })
    await list.waitFor()
    // The table shows before its rows arrive: wait for the mail itself.
    await list.locator('tbody tr', { hasText: 'Printer on fire' }).waitFor()
    const first = list.locator('tbody tr').first()
    const [, sender, subject, outcome, reason, record, rawMessage] = await first
      .getByRole('cell')
      .allTextContents()
    t.same(
      [sender, subject, outcome, record, rawMessage],
      ['stan@unknown.test', 'Printer on fire', 'Refused', '—', 'Download raw'],
    )
    t.match(reason, /^help@ takes mail from the followers of its record only\b/, 'with the node’s reason')
    t.equal(
      await first.locator('time').getAttribute('datetime'),
      '2026-11-25T10:00:00.000Z',
      'at the node’s time',
    )
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      first.getByRole('link', { name: 'Download raw: “Printer on fire”' }).click(),
    ])
    t.equal(download.suggestedFilename(), `incoming-${await first.getAttribute('data-id')}.eml`)
    t.ok((await readFile(await download.path())).equals(raw), 'the raw message, byte for byte')

    await page.setViewportSize({ width: 375, height: 800 })
    t.ok(await fitsWidth(page), 'the incoming mail page fits a phone’s width')
    await page.setViewportSize({ width: 1280, height: 900 })

    // Opened to everyone from the page, help@ takes the next mail and makes a ticket with its defaults.
    await go(page, '#/settings/mail/aliases', 'Mail aliases')
    await aliasRow('help').getByRole('button', { name: 'Edit help@acme.test' }).click()
    await page.locator(`#alias-${help.id}-policy`).selectOption({ label: 'Everyone' })
    await page.click('.alias-edit-form button:has-text("Save")')
    await aliasRow('help').locator('.alias-policy', { hasText: 'Everyone' }).waitFor()
    t.equal(await page.locator('.alias-edit-form').count(), 0, 'the form closed')

    await go(page, '#/settings/mail/incoming', 'Incoming mail')
    await list.waitFor()
    const created = await handOver(
      node,
      admin.secret,
      email({
        from: 'Stan Stranger <stan@unknown.test>',
        to: `help@${DOMAIN}`,
        subject: 'Printer still on fire',
        messageId: 'fire-2@unknown.test',
      }),
    )
    t.equal(created.outcome, 'created')
    // No click: the node tells the open page, which shows the new mail on its own.
    await list.locator('tbody tr', { hasText: 'Printer still on fire' }).waitFor()
    t.equal(await list.locator('tbody tr').count(), 2, 'the new mail joined the list without a reload')
    const newest = list.locator('tbody tr').first()
    const newestCells = await newest.getByRole('cell').allTextContents()
    t.same(
      [newestCells[2], newestCells[3], newestCells[5], newestCells[6]],
      ['Printer still on fire', 'Created', `Record ${created.recordId}`, 'not kept'],
    )
    t.equal(
      await newest.getByRole('link', { name: `Record ${created.recordId}` }).getAttribute('href'),
      `#/records/${created.recordId}`,
    )
    const ticket = await admin.call('GET', `/api/v1/records/${created.recordId}`)
    t.equal(ticket.body.values.priority, 'high', 'the ticket took the alias’s defaults')

    await page.getByRole('button', { name: 'Refused', exact: true }).click()
    await page.locator('button.chip.active', { hasText: 'Refused' }).waitFor()
    await list.locator('tbody tr').nth(1).waitFor({ state: 'detached' })
    t.same(await list.locator('tbody tr .incoming-subject').allTextContents(), ['Printer on fire'])
    await page.getByRole('button', { name: 'Loops' }).click()
    await page.locator('.view .empty', { hasText: 'No mail dropped as a loop.' }).waitFor()

    // Deleting asks first; the address then takes no more mail.
    await go(page, '#/settings/mail/aliases', 'Mail aliases')
    const asked = new Promise<string>((resolve) => page.once('dialog', (dialog) => resolve(dialog.message())))
    await aliasRow('help').getByRole('button', { name: 'Delete help@acme.test' }).click()
    t.match(await asked, /^Delete the alias help@acme\.test\?/)
    await aliasRow('help').waitFor({ state: 'detached' })
    const left = (await admin.call('GET', '/api/v1/mail/aliases')).body.items
    t.notOk(left.some((alias: { name: string }) => alias.name === 'help'))

    // With no alias left, the page says what one is, with an example.
    for (const alias of left) await admin.call('DELETE', `/api/v1/mail/aliases/${alias.id}`)
    await go(page, '#/settings/mail/incoming', 'Incoming mail')
    await go(page, '#/settings/mail/aliases', 'Mail aliases')
    t.match(
      await page.textContent('.mail-aliases-empty'),
      /An alias is an address mail comes in at\. For example, support@ → Ticket/,
    )
    t.ok(await page.locator('table.mail-aliases').isHidden(), 'no empty table')
  },
)

t.test('a user who is not an administrator sees neither page, nor links to them', async (t) => {
  const node = await buildNode(t, { listen: true, env: { NODE_MAIL_DOMAIN: DOMAIN } })
  const user = await buildUser(node, { name: 'Uma User' })
  const page = await nodePage(t, browser, node)
  await logIn(page, user.login, '#/settings/mail/aliases')
  const notAllowed = page.locator('.view[data-ready] .empty', {
    hasText: 'Only administrators can see this page.',
  })
  await notAllowed.waitFor()
  t.equal(await page.getByRole('table').count(), 0, 'no list of aliases')
  t.equal(await page.locator('form').count(), 0, 'no form')
  t.equal(await page.locator('.sidebar a[href^="#/settings/mail"]').count(), 0, 'no sidebar entry')

  await go(page, '#/settings/mail/incoming', 'Incoming mail')
  await notAllowed.waitFor()
  t.equal(await page.getByRole('table').count(), 0, 'no incoming mail either')
})
