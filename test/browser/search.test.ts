import t from 'tap'
import { buildNode, buildRecord, buildUser } from '../../node/test/helpers.ts'
import { launchBrowser, logIn, nodePage, waitUntilTrue } from './browser.ts'

/**
 * The global search in a real browser, as a salesperson looking for a deal: Ctrl+K opens the box,
 * typing lists the hits grouped by kind with their counts, the arrow keys move, Enter opens the
 * record. What the node hides from her is not in the box either.
 */
const browser = await launchBrowser(t)
t.setTimeout(120_000)

t.test('Ctrl+K, type, grouped hits, arrows and Enter open the record', async (t) => {
  const node = await buildNode(t, { listen: true })
  const admin = await buildUser(node, { role: 'admin', name: 'Ada Admin' })
  const defined = await admin.call('POST', '/api/v1/models', {
    name: 'x_contract',
    label: 'Contract',
    userAccess: 'own',
    fields: [{ name: 'name', label: 'Title', type: 'char', required: true }],
  })
  t.equal(defined.status, 201)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  await buildRecord(admin, 'x_contract', { name: 'Walnut supplier contract' })
  const desks = await buildRecord(sarah, 'lead', { name: 'Walnut desks' })
  const chairs = await buildRecord(sarah, 'lead', { name: 'Oak chairs' })
  await sarah.call('POST', `/api/v1/records/${chairs.id}/messages`, {
    kind: 'note',
    body: 'They would take **walnut** instead',
  })

  const page = await nodePage(t, browser, node)
  await logIn(page, sarah.login, '#/inbox')
  await page.waitForSelector('.view[data-ready]')
  t.ok(await page.getByRole('button', { name: /Search/ }).isVisible(), 'a search button in the top bar')

  await page.keyboard.press('Control+k')
  const box = page.getByRole('combobox', { name: 'Search' })
  await box.waitFor()
  t.ok(
    await page.evaluate(`document.activeElement?.getAttribute('role') === 'combobox'`),
    'the box has the focus',
  )
  await box.pressSequentially('walnu')

  const records = page.getByRole('group', { name: /Records/ })
  const messages = page.getByRole('group', { name: /Messages/ })
  await records.waitFor()
  await messages.waitFor()
  t.equal(await records.locator('.search-count').textContent(), '1', 'the hidden contract is not counted')
  t.same(await records.locator('.search-hit-title').allTextContents(), ['Walnut desks'])
  t.same(await messages.locator('.search-hit-title').allTextContents(), ['On Oak chairs'])
  t.equal(
    await messages.locator('.search-hit-snippet mark').textContent(),
    'walnut',
    'the matched word is highlighted',
  )
  t.equal(await page.getByRole('group', { name: /O'Chat/ }).count(), 0, 'no group without hits')

  const selected = () => page.locator('.search-hit[aria-selected="true"] .search-hit-title').textContent()
  t.equal(await selected(), 'Walnut desks', 'the first hit is selected')
  await page.keyboard.press('ArrowDown')
  t.equal(await selected(), 'On Oak chairs')
  await page.keyboard.press('ArrowDown')
  t.equal(await selected(), 'Walnut desks', 'the arrows go round')
  await page.keyboard.press('ArrowUp')
  await page.keyboard.press('Enter')
  await waitUntilTrue(page, `location.hash === '#/records/${chairs.id}'`)
  await page.waitForSelector('.view[data-ready]')
  t.equal(await box.isVisible(), false, 'the box closed')

  // The button opens it again, Escape closes it; Enter on the first hit opens the lead.
  await page.getByRole('button', { name: /Search/ }).click()
  await box.fill('desks')
  await messages.waitFor({ state: 'detached' })
  t.same(await page.locator('.search-hit-title').allTextContents(), ['Walnut desks'])
  await page.keyboard.press('Escape')
  t.equal(await box.isVisible(), false, 'Escape closes it')
  await page.keyboard.press('Control+k')
  t.equal(await box.inputValue(), 'desks', 'the box opens with the last words, asked again')
  await page.locator('.search-hit', { hasText: 'Walnut desks' }).waitFor()
  await page.keyboard.press('Enter')
  await waitUntilTrue(page, `location.hash === '#/records/${desks.id}'`)
})
