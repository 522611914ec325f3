// The address the relay prints at start, opened in a browser, leads to the API document.
import t from 'tap'
import { buildRelay, eachDriver } from './helpers.ts'

eachDriver(t, 'the root address redirects to the API document', async (t, driver) => {
  const relay = await buildRelay(t, driver)
  const root = await relay.app.inject({ method: 'GET', url: '/', headers: { accept: 'text/html' } })
  t.equal(root.statusCode, 302)
  t.equal(root.headers.location, '/docs')
  const docs = await relay.app.inject({ method: 'GET', url: '/docs', headers: { accept: 'text/html' } })
  t.equal(docs.statusCode, 200, 'and the document is there')
  t.match(docs.headers['content-type'], /text\/html/)
})
