// The UI's files as a browser gets them: gzipped when it asks, a 304 for what it has, every module
// announced by the page so none waits for the one that imports it, and the icon sprite cached for good.
import { readdirSync, readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import t from 'tap'
import { buildNode } from './helpers.ts'

const WEB = new URL('../web/', import.meta.url)

t.test('modules come gzipped, and a second visit gets 304s', async (t) => {
  const node = await buildNode(t)
  const plain = await node.app.inject({ method: 'GET', url: '/assets/app.js' })
  t.equal(plain.statusCode, 200)
  t.equal(plain.headers['content-encoding'], undefined, 'a client that does not ask gets it as it is')
  t.equal(plain.body, readFileSync(new URL('app.js', WEB), 'utf8'))
  t.match(plain.headers['content-type'], /^text\/javascript/)
  t.match(plain.headers['content-security-policy'], /script-src 'self'/)

  const zipped = await node.app.inject({
    method: 'GET',
    url: '/assets/app.js',
    headers: { 'accept-encoding': 'gzip, deflate, br' },
  })
  t.equal(zipped.headers['content-encoding'], 'gzip')
  t.equal(zipped.headers.vary, 'accept-encoding')
  t.ok(zipped.rawPayload.length < plain.rawPayload.length / 2, 'at most half the bytes')
  t.equal(gunzipSync(zipped.rawPayload).toString('utf8'), plain.body, 'the same file')

  const etag = String(plain.headers.etag)
  t.match(etag, /^"[\w-]{22}"$/)
  const again = await node.app.inject({
    method: 'GET',
    url: '/assets/app.js',
    headers: { 'if-none-match': etag },
  })
  t.equal(again.statusCode, 304, 'unchanged: nothing is sent again')
  t.equal(again.body, '')
  const other = await node.app.inject({
    method: 'GET',
    url: '/assets/styles.css',
    headers: { 'if-none-match': etag },
  })
  t.equal(other.statusCode, 200, "another file's validator does not match")

  t.equal((await node.app.inject({ method: 'GET', url: '/assets/nope.js' })).statusCode, 404)
  t.equal((await node.app.inject({ method: 'GET', url: '/assets/../package.json' })).statusCode, 404)
})

t.test('the page announces every module and the versioned sprite', async (t) => {
  const node = await buildNode(t)
  const page = await node.app.inject({ method: 'GET', url: '/' })
  t.equal(page.statusCode, 200)
  const preloaded = new Set(
    [...page.body.matchAll(/<link rel="modulepreload" href="\/assets\/([^"]+)">/g)].map((match) => match[1]),
  )
  const modules = readdirSync(WEB, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.js'))
    .map((name) => name.split('\\').join('/'))
  t.same([...preloaded].sort(), modules.sort(), 'every module of node/web/, so none waits for its importer')

  const sprite = /<meta name="ochat-icons" content="([^"]+)">/.exec(page.body)?.[1]
  t.match(sprite, /^\/assets\/icons\.svg\?v=[\w-]{22}$/)
  const versioned = await node.app.inject({ method: 'GET', url: String(sprite) })
  t.equal(versioned.statusCode, 200)
  t.match(versioned.headers['cache-control'], /immutable/, 'kept for good under its version')
  t.match(versioned.body, /<symbol id="check"/)
  const unversioned = await node.app.inject({ method: 'GET', url: '/assets/icons.svg' })
  t.equal(unversioned.headers['cache-control'], 'no-cache', 'without the version it is checked each time')
  const stale = await node.app.inject({ method: 'GET', url: '/assets/icons.svg?v=older' })
  t.equal(stale.headers['cache-control'], 'no-cache', 'nor under an old version')
})
