import { readFileSync } from 'node:fs'
import type { Page } from 'playwright-core'
import type { Test } from 'tap'
import { buildPartner, buildRecord, buildUser } from '../../node/test/helpers.ts'
import { connectNodes, startTestNode, startTestRelay } from '../e2e/harness.ts'

export type ScenePage = { hash: string; screenshot?: string }

/**
 * Every page of the node's UI with something on it: records, a followed record's messages in the
 * inbox, an activity, an O'Chat channel to another company, a webhook, an automation rule and a bulk
 * message. For the checks that go over every page (pages-desk.test.ts, pages-phone.test.ts).
 */
export async function everyPageScene(t: Test) {
  const relay = await startTestRelay(t)
  const acme = await startTestNode(t, { company: 'Acme', env: { NODE_WEBHOOK_ALLOWLIST: '127.0.0.1' } })
  const globex = await startTestNode(t, { company: 'Globex' })
  const sarah = await buildUser(acme.node as never, { name: 'Sarah Sales' })
  const link = await connectNodes(acme, globex, relay)
  const admin = acme.admin
  const customer = buildPartner(acme.node as never, {
    name: 'Marie Dubois',
    companyName: 'Dubois & Fils SARL',
  })
  const lead = await buildRecord(sarah, 'lead', {
    name: 'Office chairs for the Lyon warehouse, second floor',
  })
  await buildRecord(sarah, 'lead', { name: 'Standing desks' })
  made(
    await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: admin.partner.id }),
    'follower',
  )
  made(
    await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
      kind: 'message',
      body: 'The customer wants a quote for **forty** chairs, delivered before the end of the quarter, with assembly included.',
    }),
    'message',
  )
  made(
    await sarah.call('POST', `/api/v1/records/${lead.id}/activities`, {
      type: 'call',
      summary: 'Call Marie about the delivery date',
      assigneeId: admin.userId,
    }),
    'activity',
  )
  made(
    await admin.call('POST', `/api/v1/ochat/channels/${link.channelAtA}/messages`, {
      body: 'Hello Globex, the price list for next year is attached to the record.',
      format: 'markdown',
    }),
    "O'Chat message",
  )
  const endpoint = made<{ id: number }>(
    await admin.call('POST', '/api/v1/webhooks/endpoints', {
      url: 'http://127.0.0.1:9/erp/webhooks/ochat-events',
      events: ['record.created'],
    }),
    'webhook',
  )
  const rule = made<{ id: number }>(
    await admin.call('POST', '/api/v1/automation-rules', {
      name: 'Won leads: thank the customer',
      model: 'lead',
      trigger: { kind: 'set', field: 'stage', value: 'won' },
      actions: [{ type: 'post_message', kind: 'note', body: 'Won: send the thank-you letter.' }],
    }),
    'automation rule',
  )
  const bulk = made<{ id: string }>(
    await admin.call('POST', '/api/v1/ochat/bulk', {
      body: 'Our offices close on Friday.',
      channelIds: [link.channelAtA],
    }),
    'bulk message',
  )
  const models = made<{ items: { name: string }[] }>(
    await admin.call('GET', '/api/v1/models'),
    'models',
  ).items

  /** Every page, and the name of its screenshot for the main ones (`pnpm screenshots`). */
  const pages: ScenePage[] = [
    { hash: '#/inbox', screenshot: 'inbox' },
    { hash: '#/activities', screenshot: 'activities' },
    ...models.map((model) => ({
      hash: `#/models/${model.name}`,
      ...(model.name === 'lead' ? { screenshot: 'records' } : {}),
    })),
    { hash: `#/records/${lead.id}`, screenshot: 'record' },
    { hash: `#/partners/${customer.id}` },
    { hash: '#/preferences' },
    { hash: '#/security' },
    { hash: '#/settings/mail' },
    { hash: '#/settings/mail/aliases' },
    { hash: '#/settings/mail/incoming' },
    { hash: '#/settings/webhooks' },
    { hash: `#/settings/webhooks/${endpoint.id}` },
    { hash: '#/settings/automation' },
    { hash: '#/settings/users' },
    { hash: '#/settings/activity-types' },
    { hash: '#/settings/activity-plans' },
    { hash: `#/settings/automation/${rule.id}` },
    { hash: '#/ochat' },
    { hash: `#/ochat/channels/${link.channelAtA}`, screenshot: 'ochat' },
    { hash: '#/ochat/connections', screenshot: 'connections' },
    { hash: '#/ochat/registration' },
    { hash: `#/ochat/bulk/new?channels=${link.channelAtA}` },
    { hash: `#/ochat/bulk/${bulk.id}` },
    { hash: '#/no-such-page' },
  ]
  return { acme, admin, link, pages }
}

/**
 * Asserts that every route of the router, read from the files that declare it, is among `pages`: a new
 * page that the walk does not visit fails the test.
 */
export function assertEveryRouteVisited(t: Test, pages: ScenePage[]) {
  const sources = ['node/web/app.js', 'node/web/views/ochat-nav.js'].map((file) =>
    readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8'),
  )
  const patterns = sources.flatMap((source) =>
    [...source.matchAll(/\/(\^#\S*?\$)\//g)].map((found) => new RegExp(found[1] ?? '')),
  )
  t.ok(patterns.length > 10, `the router's ${patterns.length} routes are found`)
  for (const pattern of patterns)
    t.ok(
      pages.some((page) => pattern.test(page.hash)),
      `a page for ${pattern.source}`,
    )
}

/** Opens `hash` in the running app and waits for its view (a page not found has nothing to load). */
export async function visit(page: Page, hash: string) {
  // The open view's mark goes first, so the wait below is for the new one (the same hash routes nothing).
  await page.evaluate(
    `if (location.hash !== ${JSON.stringify(hash)}) { document.querySelector('.view')?.removeAttribute('data-ready'); location.hash = ${JSON.stringify(hash)} }`,
  )
  await page.waitForSelector('.view[data-ready], .view > h1:text("Page not found")')
  // Late pieces (a thread's messages, counters) settle within a frame or two of the view.
  await page.evaluate('new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))')
}

/** The answer's body, or a failed setup: a page must show what the scene meant to put on it. */
function made<T>(answer: { status: number; body: unknown }, what: string): T {
  if (answer.status !== 200 && answer.status !== 201)
    throw new Error(`${what}: ${answer.status} ${JSON.stringify(answer.body)}`)
  return answer.body as T
}
