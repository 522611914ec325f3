import t, { type Test } from 'tap'
import { MailTokens } from '../src/mail/tokens.ts'
import { type Actor, buildNode, buildRecord, buildUser } from './helpers.ts'

const DAY_MS = 24 * 60 * 60 * 1000

/** A record Sarah made, that John follows, and the unfollow token his emails about it carry. */
async function followedRecord(t: Test, name = 'Big deal') {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { login: 'sarah', name: 'Sarah Sales' })
  const john = await buildUser(node, { login: 'john', name: 'John Ops' })
  const lead = await buildRecord(sarah, 'lead', { name })
  t.equal(
    (await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: john.partnerId })).status,
    201,
  )
  const tokens = MailTokens.load(node.database.db, node.clock.now())
  const token = tokens.unfollowToken({ recordId: lead.id, partnerId: john.partnerId })
  return { node, sarah, john, lead, tokens, token }
}

async function followerNames(actor: Actor, recordId: number): Promise<string[]> {
  const list = await actor.call('GET', `/api/v1/records/${recordId}/followers`)
  return list.body.items.map((item: { name: string }) => item.name)
}

t.test('the unfollow link asks first, and the button stops the emails', async (t) => {
  const { node, sarah, lead, token } = await followedRecord(t)
  const page = await node.app.inject({ method: 'GET', url: `/mail/unfollow/${token}` })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  t.match(page.body, /Stop following Big deal\?/)
  const action = /<form method="post" action="([^"]+)">/.exec(page.body)?.[1] ?? ''
  const posted = new URL(action, `http://node.test/mail/unfollow/${token}`)
  t.equal(posted.pathname, `/mail/unfollow/${token}`, 'the button posts to the same link')
  t.notMatch(page.body, /<script/i, 'nothing runs on the page')
  t.match(page.headers['content-security-policy'], /default-src 'none'/)
  t.match(page.headers['content-security-policy'], /form-action 'self'/)
  t.same(await followerNames(sarah, lead.id), ['Sarah Sales', 'John Ops'], 'opening the link changes nothing')

  const clicked = await node.app.inject({
    method: 'POST',
    url: `/mail/unfollow/${token}`,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'List-Unsubscribe=One-Click',
  })
  t.equal(clicked.statusCode, 200)
  t.match(clicked.body, /You no longer follow Big deal/)
  t.same(await followerNames(sarah, lead.id), ['Sarah Sales'])

  const again = await node.app.inject({ method: 'POST', url: `/mail/unfollow/${token}` })
  t.equal(again.statusCode, 200, 'a second click says the same, without an error')
  t.match(again.body, /You no longer follow Big deal/)
  const reopened = await node.app.inject({ method: 'GET', url: `/mail/unfollow/${token}` })
  t.match(reopened.body, /You no longer follow Big deal/, 'the link opened again says it is done')
  t.notMatch(reopened.body, /<form/)
})

t.test('a one-click unsubscribe from a mail client works without a login or a page', async (t) => {
  const { node, sarah, lead, token } = await followedRecord(t)
  const boundary = 'x-boundary'
  const oneClick = await node.app.inject({
    method: 'POST',
    url: `/mail/unfollow/${token}`,
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    payload: `--${boundary}\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--${boundary}--\r\n`,
  })
  t.equal(oneClick.statusCode, 200)
  t.same(await followerNames(sarah, lead.id), ['Sarah Sales'])
})

t.test('a tampered or foreign token is a plain 404 and unfollows no one', async (t) => {
  const { node, sarah, john, lead, tokens, token } = await followedRecord(t)
  const [ids, mac] = [token.slice(0, token.lastIndexOf('.')), token.slice(token.lastIndexOf('.') + 1)]
  const flipped = `${ids}.${mac[0] === 'A' ? 'B' : 'A'}${mac.slice(1)}`
  const otherRecord = `${(lead.id + 1).toString(36)}.${john.partnerId.toString(36)}.${mac}`
  const fileToken = tokens.fileLinkToken({ attachmentId: lead.id, expiresAt: node.clock.now() + DAY_MS })
  // Past 100 characters the router refuses the path itself (414), before any token is read.
  const bads: [string, number][] = [
    [flipped, 404],
    [otherRecord, 404],
    [fileToken, 404],
    ['nonsense', 404],
    ['x'.repeat(300), 414],
  ]
  for (const [bad, status] of bads) {
    for (const method of ['GET', 'POST'] as const) {
      const answer = await node.app.inject({ method, url: `/mail/unfollow/${bad}` })
      t.equal(answer.statusCode, status, `${method} ${bad.slice(0, 20)}… refused`)
      t.notMatch(answer.body, /Big deal/, 'says nothing of the record')
    }
  }
  t.same(await followerNames(sarah, lead.id), ['Sarah Sales', 'John Ops'])
})

t.test('the record name is escaped on the unfollow pages', async (t) => {
  const { node, token } = await followedRecord(t, '<img src=x onerror="alert(1)"> & Co')
  const page = await node.app.inject({ method: 'GET', url: `/mail/unfollow/${token}` })
  t.notMatch(page.body, /<img/)
  t.match(page.body, /&lt;img src=x onerror=&quot;alert\(1\)&quot;&gt; &amp; Co/)
  const done = await node.app.inject({ method: 'POST', url: `/mail/unfollow/${token}` })
  t.notMatch(done.body, /<img/)
})

t.test('a file link downloads the file until it expires', async (t) => {
  const { node, sarah, lead, tokens } = await followedRecord(t)
  const bytes = Buffer.from('%PDF-1.7 the signed contract\n')
  const uploaded = await node.app.inject({
    method: 'POST',
    url: `/api/v1/attachments?fileName=${encodeURIComponent('contract "final".pdf')}&recordId=${lead.id}`,
    headers: { authorization: `Bearer ${sarah.secret}`, 'content-type': 'application/pdf' },
    payload: bytes,
  })
  t.equal(uploaded.statusCode, 201)
  const attachmentId = uploaded.json().id
  const posted = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'message',
    body: 'The contract',
    attachmentIds: [attachmentId],
  })
  t.equal(posted.status, 201)
  const expiresAt = node.clock.now() + 14 * DAY_MS
  const token = tokens.fileLinkToken({ attachmentId, expiresAt })

  const download = await node.app.inject({ method: 'GET', url: `/mail/files/${token}` })
  t.equal(download.statusCode, 200)
  t.same(download.rawPayload, bytes, 'the bytes uploaded')
  t.equal(download.headers['content-type'], 'application/pdf')
  t.match(download.headers['content-disposition'], /^attachment; filename="contract _final_.pdf"/)
  t.equal(download.headers['x-content-type-options'], 'nosniff')

  const forged = tokens
    .fileLinkToken({ attachmentId, expiresAt })
    .replace(/\.[^.]+$/, '.AAAAAAAAAAAAAAAAAAAAAA')
  t.equal((await node.app.inject({ method: 'GET', url: `/mail/files/${forged}` })).statusCode, 404)

  node.clock.advance(14 * DAY_MS)
  const expired = await node.app.inject({ method: 'GET', url: `/mail/files/${token}` })
  t.equal(expired.statusCode, 404, 'expired')
  t.match(expired.body, /expired or is not valid/)
  t.notOk(expired.rawPayload.includes(bytes), 'no byte of the file')
})

t.test('a file link dies with the message it was on', async (t) => {
  const { node, sarah, lead, tokens } = await followedRecord(t)
  const uploaded = await node.app.inject({
    method: 'POST',
    url: `/api/v1/attachments?fileName=notes.txt&recordId=${lead.id}`,
    headers: { authorization: `Bearer ${sarah.secret}`, 'content-type': 'text/plain' },
    payload: Buffer.from('draft'),
  })
  const attachmentId = uploaded.json().id
  const token = tokens.fileLinkToken({ attachmentId, expiresAt: node.clock.now() + DAY_MS })
  const loose = await node.app.inject({ method: 'GET', url: `/mail/files/${token}` })
  t.equal(loose.statusCode, 404, 'an upload on no message is not served by a mail link')
})
