import { readdir, readFile } from 'node:fs/promises'
import type { Page } from 'playwright-core'
import t from 'tap'
import { buildPartner, buildRecord, buildUser, TEST_PASSWORD } from '../../node/test/helpers.ts'
import { buildOchatNode, startFakeRelay } from '../../node/test/ochat-helpers.ts'
import { startSmtpSink } from '../../node/test/smtp-sink.ts'
import { buildRelay } from '../../relay/test/helpers.ts'
import { launchBrowser, newProfile } from './browser.ts'

/**
 * Icons and API documents in a real browser (Debian's Chromium, driven by playwright-core). Icons are
 * Lucide drawings served by the node, not emoji: a machine without an emoji font would show those as
 * empty boxes. `/docs` on the node and on the relay is a readable viewer, loaded from the server itself.
 */
const browser = await launchBrowser(t)
// A node, a relay and a browser, in CI beside other heavy files on two cores.
t.setTimeout(240_000)

/**
 * Emoji and the symbol characters the UI once used as icons (check marks, warning sign, envelope,
 * paperclip, clock, arrows in a circle, the multiplication sign as a close button).
 */
const ICON_CHARACTERS = /[\p{Extended_Pictographic}\u2600-\u27BF\u{1F300}-\u{1FAFF}\u21BB\u25F7\u00D7]/u

/** What a person sees of the page: its text, and each icon's size and whether its drawing loaded. */
type Seen = { text: string; icons: { name: string; width: number; drawn: number }[] }

/** The few browser globals the page function uses (the repository compiles without the DOM library). */
type Box = { width: number }
type Drawable = {
  getAttribute(name: string): string | null
  getBoundingClientRect(): Box
  checkVisibility(): boolean
}
type PageGlobals = {
  document: {
    body: { textContent: string }
    querySelectorAll(
      selector: string,
    ): Iterable<Drawable & { querySelector(s: string): { getBBox(): Box } | null }>
  }
}

async function seen(page: Page): Promise<Seen> {
  return page.evaluate(() => {
    const { document } = globalThis as unknown as PageGlobals
    return {
      text: document.body.textContent,
      // Icons in a closed panel or menu have no box until it opens.
      icons: [...document.querySelectorAll('svg.icon')]
        .filter((svg) => svg.checkVisibility())
        .map((svg) => ({
          name: svg.getAttribute('class') ?? '',
          width: svg.getBoundingClientRect().width,
          // The <use>'s box is its symbol's drawing: zero if the sprite or the symbol is missing.
          drawn: svg.querySelector('use')?.getBBox().width ?? 0,
        })),
    }
  })
}

/** Every request the page makes; the test fails on any to another host than the server's. */
function watchRequests(page: Page): string[] {
  const urls: string[] = []
  page.on('request', (request) => urls.push(request.url()))
  return urls
}

function watchConsole(page: Page): string[] {
  const errors: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text())
  })
  return errors
}

const LOCAL = /^(http:\/\/127\.0\.0\.1:\d+\/|data:|about:blank)/

t.test('no page shows an emoji: icons are SVG drawings, with a size, served by the node', async (t) => {
  const sink = await startSmtpSink(t)
  const relay = await startFakeRelay(t)
  const { node, admin } = await buildOchatNode(t, relay, {
    listen: true,
    env: { NODE_SMTP_URL: sink.url, NODE_MAIL_FROM: 'ochat@acme.test', NODE_MAIL_DOMAIN: 'mail.acme.test' },
  })
  const gina = buildPartner(node, { name: 'Gina Globex', companyName: 'Globex' })
  const carla = buildPartner(node, { name: 'Carla Customer', email: 'carla@customer.test' })
  const mia = await buildUser(node, { name: 'Mia Member' })
  // A channel that goes by email (an envelope icon), with a message the mail server took (a check).
  const added = await admin.call('POST', '/api/v1/ochat/connections/email', {
    name: 'Globex',
    email: 'orders@globex.test',
    contactPartnerId: gina.id,
  })
  t.equal(added.status, 201)
  const channelId = (await mia.call('GET', '/api/v1/ochat/channels')).body.items[0].id
  await mia.call('POST', `/api/v1/ochat/channels/${channelId}/messages`, {
    body: 'Your order ships on Monday',
  })
  // A record Mia follows (Following, with a check) with an external follower (a warning when writing).
  const lead = await buildRecord(mia, 'lead', { name: 'Big deal' })
  await mia.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: carla.id })

  const { page } = await newProfile(t, browser, { baseURL: node.url as string, timeoutMs: 20_000 })
  const requests = watchRequests(page)
  await page.goto('/#/inbox')
  await page.fill('#login', mia.login)
  await page.fill('#password', TEST_PASSWORD)
  await page.click('button:has-text("Log in")')
  await page.waitForSelector('.view[data-ready]')

  const drawn = new Set<string>()
  async function look(hash: string, ready = '') {
    await page.evaluate(`location.hash = '${hash}'`)
    await page.waitForSelector(`.view[data-ready] ${ready}`.trim())
    const view = await seen(page)
    t.notMatch(view.text, ICON_CHARACTERS, `${hash}: no emoji or symbol character in the text`)
    for (const icon of view.icons) {
      t.ok(icon.width > 0, `${hash}: ${icon.name} takes room`)
      t.ok(icon.drawn > 0, `${hash}: ${icon.name} is drawn`)
      drawn.add(icon.name)
    }
  }

  await look('#/inbox')
  await look('#/activities')
  await look('#/models/lead')
  await look(`#/records/${lead.id}`, '.record-page')
  await page.click('button:has-text("Followers (")')
  await look(`#/records/${lead.id}`, '.record-page')
  await page.click('.chatter-toolbar button:has-text("Send message")')
  await page.waitForSelector('.external-warning')
  await look(`#/records/${lead.id}`, '.external-warning')
  const channel = page.locator('.ochat-message.outgoing', { hasText: 'Your order ships on Monday' })
  await page.evaluate(`location.hash = '#/ochat/channels/${channelId}'`)
  await channel.locator('.ochat-status[data-status="sent"]').waitFor()
  await look(`#/ochat/channels/${channelId}`, '.ochat-message.outgoing')

  t.ok(
    [...drawn].some((name) => name.includes('icon-check')),
    'Following and Sent show a check',
  )
  t.ok(
    [...drawn].some((name) => name.includes('icon-triangle-alert')),
    'the external-follower warning',
  )
  t.ok(
    [...drawn].some((name) => name.includes('icon-mail')),
    'an email channel',
  )
  t.ok(
    [...drawn].some((name) => name.includes('icon-paperclip')),
    'the attach button',
  )
  t.ok(
    [...drawn].some((name) => name.includes('icon-x')),
    'the buttons that remove a follower',
  )
  const attach = page.locator('.attach-button')
  t.equal(
    await attach.locator('svg[role="img"]').getAttribute('aria-label'),
    'Attach files',
    'an icon-only control keeps its name, from its icon',
  )
  t.equal(await page.locator('.ochat-status[data-status="sent"]').getAttribute('aria-label'), 'Sent')

  const admins = await newProfile(t, browser, { baseURL: node.url as string, timeoutMs: 20_000 })
  await admins.page.goto('/#/ochat/connections')
  await admins.page.fill('#login', admin.login)
  await admins.page.fill('#password', TEST_PASSWORD)
  await admins.page.click('button:has-text("Log in")')
  await admins.page.locator('.connection', { hasText: 'orders@globex.test' }).waitFor()
  const connections = await seen(admins.page)
  t.notMatch(connections.text, ICON_CHARACTERS, 'the connections page: no emoji')
  t.ok(
    connections.icons.some((icon) => icon.name.includes('icon-mail') && icon.drawn > 0),
    'the email partner is marked with a drawn envelope',
  )

  t.same(
    requests.filter((url) => !LOCAL.test(url)),
    [],
    'no request leaves the node',
  )
})

t.test('every icon the UI names is in the sprite the node serves', async (t) => {
  const relay = await startFakeRelay(t)
  const { node } = await buildOchatNode(t, relay)
  const sprite = await node.app.inject({ method: 'GET', url: '/assets/icons.svg' })
  t.match(sprite.headers['content-type'], /^image\/svg\+xml/)
  const symbols = new Set([...sprite.body.matchAll(/<symbol id="([a-z0-9-]+)"/g)].map((match) => match[1]))
  const web = new URL('../../node/web/', import.meta.url)
  const files = (await readdir(web, { recursive: true })).filter((file) => file.endsWith('.js'))
  const named = new Set<string>()
  for (const file of files) {
    const source = await readFile(new URL(file, web), 'utf8')
    // icon('mail') in the views, and `icon: 'check'` in the table of delivery statuses.
    for (const match of source.matchAll(/\bicon(?:\(|: )'([a-z0-9-]+)'/g)) named.add(match[1] ?? '')
  }
  t.ok(named.size >= 8, `${named.size} icons named`)
  t.same(
    [...named].filter((name) => !symbols.has(name)),
    [],
    'none is missing from the sprite',
  )
})

t.test("the node's /docs shows its operations, from files of its own", async (t) => {
  const relay = await startFakeRelay(t)
  const { node } = await buildOchatNode(t, relay, { listen: true })
  const { page } = await newProfile(t, browser, { baseURL: node.url as string, timeoutMs: 20_000 })
  const requests = watchRequests(page)
  const errors = watchConsole(page)
  await page.goto('/docs')
  await page.locator('.opblock-summary-description', { hasText: 'The web UI' }).first().waitFor()
  t.match(await page.textContent('.info .title'), /O'Chat node API/, 'the title of the document')
  t.ok((await page.locator('.opblock').count()) > 20, 'every operation is listed')
  t.same(errors, [], 'no console error (a CSP refusal would be one)')
  t.same(
    requests.filter((url) => !LOCAL.test(url)),
    [],
    'no request leaves the node',
  )
  t.ok(
    requests.some((url) => url.endsWith('/docs/json')),
    'the viewer reads /docs/json',
  )
})

t.test("the relay's /docs shows its operations, from files of its own", async (t) => {
  const relay = await buildRelay(t, 'pglite', { listen: true })
  const { page } = await newProfile(t, browser, { baseURL: relay.baseUrl, timeoutMs: 20_000 })
  const requests = watchRequests(page)
  const errors = watchConsole(page)
  await page.goto('/docs')
  await page.locator('.opblock-summary-path', { hasText: '/v1/envelopes' }).first().waitFor()
  t.ok((await page.locator('.opblock').count()) > 10, 'every operation is listed')
  t.same(errors, [], 'no console error')
  t.same(
    requests.filter((url) => !LOCAL.test(url)),
    [],
    'no request leaves the relay',
  )
})
