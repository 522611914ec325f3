import t from 'tap'
import { buildNode, buildRecord, buildUser, TEST_PASSWORD } from '../../node/test/helpers.ts'
import { launchBrowser, logIn, nodePage, waitUntilTrue } from './browser.ts'

/**
 * The preferences page in a real browser, as a salesperson setting herself up: her name in the top
 * bar leads there; she renames herself, picks her time zone, learns why the digest needs an email,
 * mistypes her password, makes an API key that works and then does not, and uploads her picture,
 * which her colleagues see beside her name.
 */
const browser = await launchBrowser(t)
t.setTimeout(120_000)

/** A real 1×1 PNG (a red pixel). */
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==',
  'base64',
)

t.test('profile, time zone, notifications and password', async (t) => {
  const node = await buildNode(t, { listen: true })
  const sarah = await buildUser(node, { name: 'Sarah Sales', email: null })
  const page = await nodePage(t, browser, node)
  await logIn(page, sarah.login, '#/inbox')

  const me = page.getByRole('link', { name: 'Sarah Sales' })
  await me.click()
  await waitUntilTrue(page, `location.hash === '#/preferences'`)
  await page.waitForSelector('.view[data-ready]')
  t.ok(
    await page.getByRole('heading', { name: 'Preferences' }).isVisible(),
    'her name leads to the preferences',
  )

  await page.getByLabel('Name', { exact: true }).fill('Sarah Seller')
  await page.getByRole('button', { name: 'Save profile' }).click()
  await page.locator('#prefs-profile .prefs-ok').waitFor()
  t.match(await page.locator('#prefs-profile .prefs-ok').textContent(), /Profile saved/)
  t.equal(await page.locator('.topbar .me-name').textContent(), 'Sarah Seller', 'the top bar follows at once')
  t.equal((await sarah.call('GET', `/api/v1/users/${sarah.userId}`)).body.name, 'Sarah Seller')

  const zone = page.getByRole('combobox', { name: 'Your time zone', exact: true })
  t.equal(await zone.inputValue(), 'UTC', 'her zone is preselected')
  await zone.selectOption('Europe/Brussels')
  await page.getByRole('button', { name: 'Save time zone' }).click()
  await page.locator('#prefs-time-zone .prefs-ok').waitFor()
  t.equal((await sarah.call('GET', `/api/v1/users/${sarah.userId}`)).body.timeZone, 'Europe/Brussels')

  // Email notifications and a digest, without an email address: the node refuses, the page says why.
  await page.getByLabel('By email').check()
  await page.getByLabel('Send me a daily digest email').check()
  await page.getByRole('button', { name: 'Save notifications' }).click()
  const refused = page.locator('#prefs-notifications .form-error')
  await refused.waitFor()
  t.match(await refused.textContent(), /Add an email address first/)
  t.equal((await sarah.call('GET', `/api/v1/users/${sarah.userId}`)).body.digest, false, 'nothing was saved')
  await page.getByLabel('Email', { exact: true }).fill('sarah@acme.test')
  await page.getByRole('button', { name: 'Save profile' }).click()
  await page.locator('#prefs-profile .prefs-ok').waitFor()
  await page.getByRole('button', { name: 'Save notifications' }).click()
  await page.locator('#prefs-notifications .prefs-ok').waitFor()
  const saved = (await sarah.call('GET', `/api/v1/users/${sarah.userId}`)).body
  t.same([saved.notification, saved.digest], ['email', true], 'with an address, it is saved')

  // A typo in the new password never leaves the page; a wrong current one is said beside its field.
  await page.getByLabel('Current password').fill('not my password')
  await page.getByLabel('New password (at least 8 characters)').fill('a brand new secret')
  await page.getByLabel('New password again').fill('a brand new secrte')
  await page.getByRole('button', { name: 'Change password' }).click()
  t.equal(await page.locator('#prefs-confirm-password-error').textContent(), 'The two new passwords differ.')
  await page.getByLabel('New password again').fill('a brand new secret')
  await page.getByRole('button', { name: 'Change password' }).click()
  const wrong = page.locator('#prefs-current-password-error')
  await wrong.waitFor()
  t.equal(await wrong.textContent(), 'This is not your current password.')
  await page.getByLabel('Current password').fill(TEST_PASSWORD)
  await page.getByRole('button', { name: 'Change password' }).click()
  await page.locator('#prefs-password .prefs-ok').waitFor()
  t.match(await page.locator('#prefs-password .prefs-ok').textContent(), /Password changed/)
  const login = await node.app.inject({
    method: 'POST',
    url: '/api/v1/session',
    payload: { login: sarah.login, password: 'a brand new secret' },
  })
  t.equal(login.statusCode, 200, 'the new password logs in')
})

t.test('an API key: shown once, works, revoked', async (t) => {
  const node = await buildNode(t, { listen: true })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const page = await nodePage(t, browser, node)
  await logIn(page, sarah.login, '#/preferences')

  await page.getByLabel('Key name').fill('Accounting sync')
  await page.getByLabel('records:read').check()
  t.equal(await page.getByLabel('admin', { exact: false }).count(), 0, 'no admin scope for a user')
  await page.getByRole('button', { name: 'Create key' }).click()
  const secretBox = page.getByRole('region', { name: 'New API key' })
  await secretBox.waitFor()
  t.match(await secretBox.textContent(), /shown only this once/, 'a warning goes with it')
  t.ok(await secretBox.getByRole('button', { name: 'Copy' }).isVisible(), 'a Copy button')
  const secret = (await page.locator('.prefs-secret-value').textContent()) ?? ''
  t.match(secret, /^ock_/)

  const asKey = () =>
    node.app.inject({ method: 'GET', url: '/api/v1/users', headers: { authorization: `Bearer ${secret}` } })
  t.equal((await asKey()).statusCode, 200, 'the key works against the API')
  const row = page.locator('.prefs-key', { hasText: 'Accounting sync' })
  t.equal(await row.locator('.prefs-key-status').textContent(), 'active')
  t.match(await row.textContent(), /records:read/)

  await secretBox.getByRole('button', { name: 'Done, I copied it' }).click()
  t.equal(await secretBox.isVisible(), false, 'the secret is gone')
  await page.reload()
  await page.waitForSelector('.view[data-ready]')
  t.notMatch(await page.locator('#prefs-keys').textContent(), new RegExp(secret), 'and never shown again')

  await page.getByRole('button', { name: 'Revoke Accounting sync' }).click()
  await page.getByRole('button', { name: 'Yes, revoke' }).click()
  await page.locator('.prefs-key.revoked', { hasText: 'Accounting sync' }).waitFor()
  t.match(await page.locator('.prefs-key.revoked .prefs-key-status').textContent(), /revoked/)
  t.equal((await asKey()).statusCode, 401, 'the revoked key stops working')
})

t.test('a picture: uploaded, in the top bar and the followers list, removed', async (t) => {
  const node = await buildNode(t, { listen: true })
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const lead = await buildRecord(sarah, 'lead', { name: 'Walnut desks' })
  const page = await nodePage(t, browser, node)
  await logIn(page, sarah.login, '#/preferences')
  // Until the browser has decoded the picture from the node (a 1×1 image): not a broken image.
  const drawn = (selector: string) =>
    waitUntilTrue(
      page,
      `(() => { const img = document.querySelector(${JSON.stringify(selector)}); return Boolean(img && img.complete && img.naturalWidth === 1) })()`,
    )

  t.equal(await page.locator('.topbar .me img').count(), 0, 'initials before a picture')
  await page
    .getByLabel(/Choose a picture/)
    .setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: PNG })
  await page.locator('.prefs-picture-preview:not([hidden])').waitFor()
  await page.getByRole('button', { name: 'Upload picture' }).click()
  await page.locator('#prefs-profile .prefs-picture .prefs-ok').waitFor()
  const top = page.locator('.topbar .me img.avatar')
  await top.waitFor()
  t.match(await top.getAttribute('src'), new RegExp(`/api/v1/partners/${sarah.partnerId}/avatar\\?v=\\d+`))
  await drawn('.topbar .me img.avatar')
  t.pass('the top bar draws the uploaded picture')

  await page.goto(`/#/records/${lead.id}`)
  await page.waitForSelector('.view[data-ready]')
  await page.click('.followers-button')
  const follower = page.locator(`.follower[data-partner-id="${sarah.partnerId}"] img.avatar`)
  await follower.waitFor()
  await drawn(`.follower[data-partner-id="${sarah.partnerId}"] img.avatar`)
  t.pass('the followers list draws it')

  await page.goto('/#/preferences')
  await page.waitForSelector('.view[data-ready]')
  await page.getByRole('button', { name: 'Remove picture' }).click()
  await page.locator('.topbar .me img').waitFor({ state: 'detached' })
  t.equal(await page.locator('.topbar .me').textContent(), 'Sarah Sales', 'only her name again')
  t.equal(await page.locator('#prefs-profile .avatar-large').textContent(), 'SS', 'initials on the page')
  t.equal((await sarah.call('GET', `/api/v1/users/${sarah.userId}`)).body.avatarUrl, null)

  // Not an image, whatever its name says: the page refuses it before sending.
  await page.getByLabel(/Choose a picture/).setInputFiles({
    name: 'me.svg',
    mimeType: 'image/svg+xml',
    buffer: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'),
  })
  t.match(await page.locator('#prefs-profile .prefs-picture .form-error').textContent(), /PNG, JPEG or WebP/)
})
