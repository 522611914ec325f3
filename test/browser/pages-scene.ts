import { readFileSync } from 'node:fs'
import type { Page } from 'playwright-core'
import type { Test } from 'tap'
import { buildPartner, buildRecord, buildUser } from '../../node/test/helpers.ts'
import { connectNodes, startTestNode, startTestRelay } from '../e2e/harness.ts'

/**
 * Every page of the node's UI with something on it, as layout.test.ts sets it up: records, a followed
 * record's messages in the inbox, an activity, an O'Chat channel to another company, a webhook, an
 * automation rule and a bulk message. For the checks that go over every page (accessibility, keyboard).
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

  /** Every page, as layout.test.ts visits them. */
  const pages: string[] = [
    '#/inbox',
    '#/activities',
    ...models.map((model) => `#/models/${model.name}`),
    `#/records/${lead.id}`,
    `#/partners/${customer.id}`,
    '#/preferences',
    '#/security',
    '#/settings/mail',
    '#/settings/mail/aliases',
    '#/settings/mail/incoming',
    '#/settings/webhooks',
    `#/settings/webhooks/${endpoint.id}`,
    '#/settings/automation',
    '#/settings/users',
    '#/settings/activity-types',
    '#/settings/activity-plans',
    `#/settings/automation/${rule.id}`,
    '#/ochat',
    `#/ochat/channels/${link.channelAtA}`,
    '#/ochat/connections',
    '#/ochat/registration',
    `#/ochat/bulk/new?channels=${link.channelAtA}`,
    `#/ochat/bulk/${bulk.id}`,
    '#/no-such-page',
  ]
  return { acme, admin, pages }
}

/** The router's patterns, read from the files that declare them: a page a test does not visit fails it. */
export function routePatterns(): RegExp[] {
  const sources = ['node/web/app.js', 'node/web/views/ochat-nav.js'].map((file) =>
    readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8'),
  )
  return sources.flatMap((source) =>
    [...source.matchAll(/\/(\^#\S*?\$)\//g)].map((found) => new RegExp(found[1] ?? '')),
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
