import type { Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { buildNode, buildPartner, buildRecord, buildUser, type TestNode } from '../../node/test/helpers.ts'
import { launchBrowser, logIn, nodePage } from './browser.ts'

/**
 * The chatter composer in a real browser, as a salesperson writes on a lead: `@` lists people to
 * mention, Ctrl+B/I/K format, the box grows, files are pasted or dropped, "Also to:" adds recipients,
 * and a log note reaches only those it names.
 */
const browser = await launchBrowser(t)
t.setTimeout(240_000)

type Actor = Awaited<ReturnType<typeof buildUser>>

async function openLead(t: Test, node: TestNode, login: string, leadId: number) {
  const page = await nodePage(t, browser, node)
  await logIn(page, login, `#/records/${leadId}`)
  await page.waitForSelector(`html[data-live-record="${leadId}"]`, { state: 'attached' })
  return page
}

const composerText = (page: Page) => page.locator('.composer-text')
const messageWith = (page: Page, text: string) => page.locator('.thread .message', { hasText: text })

/** The inbox of `actor` as the API answers it: reason and body text of each notification. */
async function inbox(actor: Actor) {
  const items = (await actor.call('GET', '/api/v1/inbox')).body.items as {
    reason: string
    message: { body: string } | null
  }[]
  return items.map((item) => ({ reason: item.reason, body: item.message?.body ?? '' }))
}

t.test('@ lists people: picked by keyboard or mouse, they are mentioned and told', async (t) => {
  const node = await buildNode(t, { listen: true })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const bob = await buildUser(node, { name: 'Bob Builder' })
  const bobby = await buildUser(node, { name: 'Bobby Tables' })
  const mia = await buildUser(node, { name: 'Mia Manager' })
  const lead = await buildRecord(sarah, 'lead', { name: 'Desks' })
  const page = await openLead(t, node, sarah.login, lead.id)

  await page.getByRole('button', { name: 'Send message' }).click()
  const text = composerText(page)
  await text.pressSequentially('Hello @Bob')
  const list = page.getByRole('listbox', { name: 'People to mention' })
  await list.getByRole('option').nth(1).waitFor()
  t.equal(await list.getByRole('option').count(), 2, 'both people named Bob…')
  const second = await list.getByRole('option').nth(1).textContent()
  t.equal(await text.getAttribute('aria-expanded'), 'true')
  t.equal(
    await text.getAttribute('aria-activedescendant'),
    await list.getByRole('option').nth(0).getAttribute('id'),
  )
  await page.keyboard.press('ArrowDown')
  t.equal(await list.getByRole('option').nth(1).getAttribute('aria-selected'), 'true', '↓ moves')
  t.equal(
    await text.getAttribute('aria-activedescendant'),
    await list.getByRole('option').nth(1).getAttribute('id'),
  )
  await page.keyboard.press('ArrowUp')
  await page.keyboard.press('ArrowDown')
  await page.keyboard.press('Enter')
  await list.waitFor({ state: 'hidden' })
  const pickedByKeys = second?.startsWith('Bobby') ? bobby : bob
  const pickedName = second?.startsWith('Bobby') ? 'Bobby Tables' : 'Bob Builder'
  t.equal(await text.inputValue(), `Hello @${pickedName} `, 'Enter writes the full name')

  // Esc closes the list without closing the composer.
  await text.pressSequentially('and @Mi')
  await list.getByRole('option', { name: /Mia Manager/ }).waitFor()
  await page.keyboard.press('Escape')
  await list.waitFor({ state: 'hidden' })
  t.equal(await page.locator('.composer').count(), 1, 'the composer stays open')
  await text.pressSequentially('a')
  await list.getByRole('option', { name: /Mia Manager/ }).click()
  t.equal(await text.inputValue(), `Hello @${pickedName} and @Mia Manager `)
  await text.pressSequentially('please look')
  await page.locator('.composer button[type="submit"]').click()

  const posted = messageWith(page, 'please look')
  await posted.waitFor()
  t.same(
    await posted.locator('a.o-mention').allTextContents(),
    [`@${pickedName}`, '@Mia Manager'],
    'both names are mention links',
  )
  for (const mentioned of [pickedByKeys, mia]) {
    const told = await inbox(mentioned)
    t.equal(told.length, 1, 'the mentioned one is told')
    t.equal(told[0]?.reason, 'mention')
  }
  const other = pickedByKeys === bob ? bobby : bob
  t.same(await inbox(other), [], 'the other Bob is not')
})

t.test('Ctrl+B, Ctrl+I, Ctrl+K format the text; the box grows up to a limit', async (t) => {
  const node = await buildNode(t, { listen: true })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const lead = await buildRecord(sarah, 'lead', { name: 'Chairs' })
  const page = await openLead(t, node, sarah.login, lead.id)

  await page.getByRole('button', { name: 'Send message' }).click()
  const text = composerText(page)
  const select = (from: number, to: number) =>
    text.evaluate(
      (el, [start, end]) =>
        (el as unknown as { setSelectionRange(a: number, b: number): void }).setSelectionRange(start, end),
      [from, to] as const,
    )
  await text.fill('Please read this now')
  await select(7, 11)
  await page.keyboard.press('Control+b')
  t.equal(await text.inputValue(), 'Please **read** this now')
  await select(16, 20)
  await page.keyboard.press('Control+i')
  t.equal(await text.inputValue(), 'Please **read** *this* now')
  await text.press('End')
  await text.pressSequentially(' at ')
  await page.keyboard.press('Control+k')
  t.equal(await page.getByRole('combobox', { name: 'Search' }).count(), 0, 'Ctrl+K does not open the search')
  await text.pressSequentially('example.com')
  t.equal(await text.inputValue(), 'Please **read** *this* now at [link text](https://example.com)')

  // The box grows with the text, then scrolls.
  const height = () => text.evaluate((el) => (el as unknown as { offsetHeight: number }).offsetHeight)
  const before = await height()
  await text.press('End')
  for (let line = 0; line < 4; line++) await text.press('Enter')
  const grown = await height()
  t.ok(grown > before, `grows with its lines (${before} → ${grown} px)`)
  for (let line = 0; line < 40; line++) await text.press('Enter')
  const capped = await height()
  t.ok(capped <= 320 && capped > grown, `stops growing at 320 px (${capped} px)`)

  await page.locator('.composer button[type="submit"]').click()
  const posted = messageWith(page, 'Please')
  await posted.waitFor()
  t.equal(await posted.locator('.body strong').textContent(), 'read', 'bold')
  t.equal(await posted.locator('.body em').textContent(), 'this', 'italic')
  t.equal(
    await posted.locator('.body a', { hasText: 'link text' }).getAttribute('href'),
    'https://example.com',
  )
})

t.test('a pasted file and a dropped file are attached, with a drop zone while dragging', async (t) => {
  const node = await buildNode(t, { listen: true })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const lead = await buildRecord(sarah, 'lead', { name: 'Booth' })
  const page = await openLead(t, node, sarah.login, lead.id)

  await page.getByRole('button', { name: 'Send message' }).click()
  await composerText(page).fill('Two files')
  await page.evaluate(`(() => {
    const data = new DataTransfer()
    data.items.add(new File(['pasted notes'], 'pasted.txt', { type: 'text/plain' }))
    document.querySelector('.composer-text').dispatchEvent(
      new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }))
  })()`)
  await page.locator('.pending-file.uploaded', { hasText: 'pasted.txt' }).waitFor()
  t.equal(await composerText(page).inputValue(), 'Two files', 'the paste added no text')

  const zone = page.locator('.drop-zone')
  t.equal(await zone.isHidden(), true, 'no drop zone before dragging')
  await page.evaluate(`(() => {
    window.dropped = new DataTransfer()
    window.dropped.items.add(new File(['dropped plan'], 'dropped.txt', { type: 'text/plain' }))
    document.querySelector('.composer-text').dispatchEvent(
      new DragEvent('dragenter', { dataTransfer: window.dropped, bubbles: true, cancelable: true }))
  })()`)
  await zone.waitFor()
  t.equal(await zone.textContent(), 'Drop files to attach them')
  await page.evaluate(`document.querySelector('.composer-text').dispatchEvent(
    new DragEvent('drop', { dataTransfer: window.dropped, bubbles: true, cancelable: true }))`)
  await zone.waitFor({ state: 'hidden' })
  await page.locator('.pending-file.uploaded', { hasText: 'dropped.txt' }).waitFor()

  await page.locator('.composer button[type="submit"]').click()
  const posted = messageWith(page, 'Two files')
  await posted.waitFor()
  t.same(await posted.locator('a.attachment').allTextContents(), ['pasted.txt', 'dropped.txt'])
})

t.test('"Also to:" ticks the suggested customer, adds people, and they receive the message', async (t) => {
  const node = await buildNode(t, { listen: true })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const carla = buildPartner(node, { name: 'Carla Customer', email: 'carla@client.test' })
  buildPartner(node, { name: 'Walter Vendor', email: 'walter@vendor.test' })
  buildPartner(node, { name: 'Otto Other', email: 'otto@other.test' })
  const lead = await buildRecord(sarah, 'lead', { name: 'Fleet', partner_id: carla.id })
  const page = await openLead(t, node, sarah.login, lead.id)

  await page.getByRole('button', { name: 'Send message' }).click()
  const to = page.getByRole('group', { name: 'Also send to' })
  const carlaBox = to.getByRole('checkbox', { name: /Carla Customer/ })
  await carlaBox.waitFor()
  t.equal(await carlaBox.isChecked(), true, 'the record’s customer is suggested, ticked')
  for (const name of ['Walter', 'Otto']) {
    await to.getByLabel('Add a recipient').fill(name)
    await to.getByRole('button', { name: new RegExp(name) }).click()
    await to.getByRole('checkbox', { name: new RegExp(name) }).waitFor()
  }
  await to.getByRole('checkbox', { name: /Otto Other/ }).uncheck()
  await page.getByRole('button', { name: 'Log note' }).click()
  t.equal(await page.getByRole('group', { name: 'Also send to' }).count(), 0, 'a note has no "Also to:"')
  await page.getByRole('button', { name: 'Send message' }).click()
  await to.getByRole('checkbox', { name: /Carla Customer/ }).waitFor()
  await to.getByLabel('Add a recipient').fill('Walter')
  await to.getByRole('button', { name: /Walter/ }).click()
  await composerText(page).fill('Your fleet quote is ready')
  // On a phone the recipients wrap: nothing gets wider than the screen.
  await page.setViewportSize({ width: 390, height: 800 })
  const width = await page.evaluate<number>('document.documentElement.scrollWidth')
  t.ok(width <= 390, `the composer fits 390 px (${width} px)`)
  await page.locator('.composer button[type="submit"]').click()
  await messageWith(page, 'fleet quote').waitFor()

  const emails = (await sarah.call('GET', `/api/v1/records/${lead.id}/emails`)).body.items as {
    address: string
  }[]
  t.same(
    emails.map((email) => email.address).sort(),
    ['carla@client.test', 'walter@vendor.test'],
    'the ticked ones are emailed, the unticked one is not',
  )
})

t.test('a log note reaches the colleague it names, not a plain follower', async (t) => {
  const node = await buildNode(t, { listen: true })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const john = await buildUser(node, { name: 'John Follower' })
  const mia = await buildUser(node, { name: 'Mia Manager' })
  const lead = await buildRecord(sarah, 'lead', { name: 'Tables' })
  await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: john.partnerId })
  const page = await openLead(t, node, sarah.login, lead.id)

  await page.getByRole('button', { name: 'Log note' }).click()
  await composerText(page).pressSequentially('Ask @Mi')
  await page
    .getByRole('listbox', { name: 'People to mention' })
    .getByRole('option', { name: /Mia Manager/ })
    .click()
  await composerText(page).pressSequentially('about the discount')
  await page.locator('.composer button[type="submit"]').click()
  await messageWith(page, 'about the discount').waitFor()

  const told = await inbox(mia)
  t.equal(told.length, 1, 'the named colleague is told')
  t.equal(told[0]?.reason, 'mention')
  t.match(told[0]?.body, /about the discount/)
  t.same(await inbox(john), [], 'the plain follower gets nothing')
})
