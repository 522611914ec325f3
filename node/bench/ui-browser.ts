// Headless Chromium for `pnpm bench ui`, launched as the browser tests launch it
// (test/browser/browser.ts), and the measurements made in the page.
import { gzipSync } from 'node:zlib'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  })
}

/** A page on `baseURL` that fails loudly on a script error, with 20 s waits. */
export async function openPage(context: BrowserContext): Promise<Page> {
  const page = await context.newPage()
  page.setDefaultTimeout(20_000)
  page.on('pageerror', (error) => {
    throw new Error(`script error in the page: ${error.message}`)
  })
  return page
}

/** Logs in through the form, as a person would; the context keeps the session cookie. */
export async function logInThroughForm(page: Page, login: string, password: string): Promise<void> {
  await page.goto('/#/inbox')
  await page.fill('#login', login)
  await page.fill('#password', password)
  await page.click('button:has-text("Log in")')
  await page.waitForSelector('.view[data-ready="true"]')
}

/**
 * Installed before the page's own scripts: the wall-clock time (ms since the epoch, the browser's
 * high-resolution clock) when a `.view` first carries `data-ready="true"`, and when the page's first
 * keydown is handled.
 */
const PROBE = `(() => {
  const now = () => performance.timeOrigin + performance.now()
  const marks = (window.__uiBench = { readyAt: null, inputAt: null })
  const seen = () => {
    if (marks.readyAt === null && document.querySelector('.view[data-ready="true"]')) marks.readyAt = now()
  }
  new MutationObserver(seen).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-ready'] })
  window.addEventListener('keydown', () => { if (marks.inputAt === null) marks.inputAt = now() }, true)
})()`

/** What a page load or a channel opening waited for, from the page's resource timings. */
export type Waits = {
  /** Ms from the start until the last script module arrived (the module graph was loaded). */
  modulesAt: number
  /** Requests to the API, in order: which (ids as `:id`), ms from the start, ms it took. */
  api: { path: string; at: number; ms: number }[]
}

/** The page's resource timings since `since` (its performance clock), as Waits relative to `since`. */
const WAITS = `(since) => {
  const entries = performance.getEntriesByType('resource').filter((e) => e.startTime >= since)
  const path = (name) => new URL(name).pathname.replace(/\\/\\d+/g, '/:id')
  return {
    modulesAt: Math.max(0, ...entries.filter((e) => e.initiatorType === 'script' || e.name.endsWith('.js')).map((e) => e.responseEnd - since)),
    api: entries.filter((e) => new URL(e.name).pathname.startsWith('/api/')).map((e) => ({ path: path(e.name), at: e.startTime - since, ms: e.responseEnd - e.startTime })),
  }
}`

/**
 * Time to interactive of `hash` in a fresh tab of `context` (already logged in), in ms from the moment
 * `page.goto` is called: `ready` when the view's `data-ready` is set (app.js: the view has loaded what
 * it shows), `interactive` when a key pressed as soon as the bench sees it ready has been handled by
 * the page (the main thread was free to take input). The bench's own reaction (noticing the mark,
 * sending the key over the DevTools protocol) is inside `interactive`, a few ms.
 */
export async function timeToInteractive(
  context: BrowserContext,
  hash: string,
): Promise<{ ready: number; interactive: number; waits: Waits }> {
  const page = await openPage(context)
  try {
    await page.addInitScript(PROBE)
    const started = performance.timeOrigin + performance.now()
    await page.goto(`/${hash}`, { waitUntil: 'commit' })
    await page.waitForSelector('.view[data-ready="true"]')
    await page.keyboard.press('Shift')
    const marks = (await page.evaluate('window.__uiBench')) as { readyAt: number; inputAt: number }
    // The page's clock starts at its navigation, a little after `started`.
    const offset = ((await page.evaluate('performance.timeOrigin')) as number) - started
    const waits = (await page.evaluate(`(${WAITS})(0)`)) as Waits
    return {
      ready: marks.readyAt - started,
      interactive: marks.inputAt - started,
      waits: {
        modulesAt: waits.modulesAt + offset,
        api: waits.api.map((call) => ({ ...call, at: call.at + offset })),
      },
    }
  } finally {
    await page.close()
  }
}

/**
 * Opens the channel from the list as a click would, on a page showing `#/ochat`: ms from the click to
 * the new view's `data-ready` with its messages in the thread. Measured in the page, so no DevTools
 * round trip is counted.
 */
export async function openChannel(page: Page, channelId: number): Promise<{ ms: number; waits: Waits }> {
  return (await page.evaluate(`new Promise((resolve, reject) => {
    const before = document.querySelector('.view')
    const link = document.querySelector('.channel-item[data-channel-id="${channelId}"] .channel-link')
    if (!link) return reject(new Error('the channel is not in the list'))
    // A view that never gets ready (an error in the banner) fails the bench instead of stalling it.
    const stalled = setTimeout(() => {
      observer.disconnect()
      reject(new Error('the channel never showed its messages: ' + (document.querySelector('.banner')?.textContent ?? '')))
    }, 20000)
    const done = () => {
      const view = document.querySelector('.view[data-ready="true"]')
      if (!view || view === before || !view.querySelector('.ochat-thread li:not(.empty)')) return
      observer.disconnect()
      clearTimeout(stalled)
      const ms = performance.now() - started
      resolve({ ms, waits: (${WAITS})(started) })
    }
    const observer = new MutationObserver(done)
    observer.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-ready'] })
    performance.clearResourceTimings()
    const started = performance.now()
    link.click()
  })`)) as { ms: number; waits: Waits }
}

/** Back to the channel list (not measured), ready for the next click. */
export async function backToList(page: Page): Promise<void> {
  await page.evaluate(
    `document.querySelector('.view')?.removeAttribute('data-ready'); location.hash = '#/ochat'`,
  )
  await page.waitForSelector('.view[data-ready="true"] .channel-item')
}

export type Asset = {
  url: string
  kind: 'script' | 'stylesheet' | 'sprite'
  /** As sent (decoded), and gzipped at level 9. */
  bytes: number
  gzip: number
  body: Buffer
}

/**
 * Every script, style sheet and icon sprite `hash` loads in a fresh tab, with its size as sent and
 * gzipped: each body (as decoded by the browser) is gzipped here at level 9, as a compressing proxy in
 * front of the node would. `encoded` lists any the node itself sent compressed.
 */
export async function uiAssets(
  context: BrowserContext,
  hash: string,
): Promise<{ assets: Asset[]; fetches: number; encoded: string[] }> {
  const page = await openPage(context)
  const pending: Promise<Asset>[] = []
  const encoded: string[] = []
  page.on('response', (response) => {
    const type = response.request().resourceType()
    const url = new URL(response.url())
    const kind =
      type === 'script' || type === 'stylesheet'
        ? type
        : url.pathname === '/assets/icons.svg'
          ? 'sprite'
          : undefined
    if (!kind) return
    const encoding = response.headers()['content-encoding']
    if (encoding) encoded.push(`${url.pathname}: ${encoding}`)
    pending.push(
      response.body().then((body) => ({
        url: url.pathname,
        kind,
        bytes: body.byteLength,
        gzip: gzipSync(body, { level: 9 }).byteLength,
        body,
      })),
    )
  })
  try {
    await page.goto(`/${hash}`)
    await page.waitForSelector('.view[data-ready="true"]')
    await page.waitForLoadState('networkidle')
    // The sprite is fetched once per icon fragment (`icons.svg#name`): each file counts once.
    const byPath = new Map<string, Asset>()
    for (const asset of await Promise.all(pending)) byPath.set(asset.url, asset)
    return { assets: [...byPath.values()], fetches: pending.length, encoded }
  } finally {
    await page.close()
  }
}

/**
 * The page's busiest functions while `body` runs, by self time (a layout or style recalculation that
 * a function forces counts as that function's), from Chromium's sampling profiler.
 */
export async function busiestFunctions(
  context: BrowserContext,
  page: Page,
  body: () => Promise<void>,
  top = 10,
): Promise<string[]> {
  const cdp = await context.newCDPSession(page)
  await cdp.send('Profiler.enable')
  // 0.2 ms between samples: an opening lasts tens of ms.
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 })
  await cdp.send('Profiler.start')
  await body()
  const { profile } = await cdp.send('Profiler.stop')
  await cdp.detach()
  const origin = new URL(page.url()).origin
  const nodes = new Map(profile.nodes.map((node) => [node.id, node.callFrame]))
  const self = new Map<string, number>()
  const deltas = profile.timeDeltas ?? []
  for (const [index, id] of (profile.samples ?? []).entries()) {
    const frame = nodes.get(id)
    if (!frame || frame.functionName === '(idle)') continue
    const where = frame.url ? ` ${frame.url.replace(origin, '')}:${frame.lineNumber + 1}` : ''
    const key = `${frame.functionName || '(anonymous)'}${where}`
    self.set(key, (self.get(key) ?? 0) + (deltas[index] ?? 0) / 1000)
  }
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, ms]) => `${key} ${Math.round(ms)} ms`)
}
