import t from 'tap'
import { type Actor, buildNode, buildPartner, buildRecord, buildUser, type TestNode } from './helpers.ts'

/** A real 1×1 PNG (a red pixel), as a browser would upload it. */
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==',
  'base64',
)
/** The start of a JPEG (SOI, APP0 "JFIF"): the signature is what is checked. */
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]), Buffer.from('JFIF\0')])
const WEBP = Buffer.concat([Buffer.from('RIFF'), Buffer.from([0x1a, 0, 0, 0]), Buffer.from('WEBPVP8L')])

function put(node: TestNode, actor: Actor, userId: number, body: Buffer, type = 'image/png') {
  return node.app.inject({
    method: 'PUT',
    url: `/api/v1/users/${userId}/avatar`,
    headers: { authorization: `Bearer ${actor.secret}`, 'content-type': type },
    payload: body,
  })
}

function get(node: TestNode, actor: Actor, url: string) {
  return node.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${actor.secret}` } })
}

t.test('a user uploads, replaces and removes their picture; everyone sees it', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const bob = await buildUser(node, { name: 'Bob Buyer' })

  const me = await sarah.call('GET', `/api/v1/users/${sarah.userId}`)
  t.equal(me.body.avatarUrl, null, 'no picture yet: initials are drawn')
  t.equal((await get(node, bob, `/api/v1/partners/${sarah.partnerId}/avatar`)).statusCode, 404)

  const uploaded = await put(node, sarah, sarah.userId, PNG)
  t.equal(uploaded.statusCode, 200)
  const first = uploaded.json().avatarUrl as string
  t.match(first, new RegExp(`^/api/v1/partners/${sarah.partnerId}/avatar\\?v=\\d+$`))
  t.equal(
    (await sarah.call('GET', `/api/v1/users/${sarah.userId}`)).body.avatarUrl,
    first,
    'the user shows it',
  )
  t.equal(
    (await bob.call('GET', `/api/v1/partners/${sarah.partnerId}`)).body.avatarUrl,
    first,
    'so does the partner',
  )
  t.equal((await sarah.call('GET', '/api/v1/session')).body.user.avatarUrl, first, 'and the session')

  const seen = await get(node, bob, first)
  t.equal(seen.statusCode, 200, 'any colleague reads it')
  t.same(seen.rawPayload, PNG, 'byte for byte')
  t.equal(seen.headers['content-type'], 'image/png')
  t.equal(seen.headers['x-content-type-options'], 'nosniff')
  t.equal(seen.headers['content-security-policy'], "default-src 'none'")
  t.match(seen.headers['cache-control'], /immutable/, 'a versioned URL is cached for good')
  t.match(
    (await get(node, bob, `/api/v1/partners/${sarah.partnerId}/avatar`)).headers['cache-control'],
    /no-cache/,
    'an unversioned one is checked each time',
  )

  // Sent as PNG but really a JPEG: the stored type is the bytes' own.
  const replaced = await put(node, sarah, sarah.userId, JPEG)
  t.equal(replaced.statusCode, 200)
  const second = replaced.json().avatarUrl as string
  t.not(second, first, 'a new version, so caches refresh')
  const jpeg = await get(node, bob, second)
  t.equal(jpeg.headers['content-type'], 'image/jpeg', 'the type comes from the bytes, not the client')
  t.same(jpeg.rawPayload, JPEG)
  const webp = await put(node, sarah, sarah.userId, WEBP, 'image/webp')
  t.equal(webp.statusCode, 200)
  t.equal((await get(node, bob, webp.json().avatarUrl)).headers['content-type'], 'image/webp')

  const removed = await sarah.call('DELETE', `/api/v1/users/${sarah.userId}/avatar`)
  t.equal(removed.status, 204)
  t.equal((await sarah.call('GET', `/api/v1/users/${sarah.userId}`)).body.avatarUrl, null)
  t.equal((await get(node, bob, `/api/v1/partners/${sarah.partnerId}/avatar`)).statusCode, 404)
  t.equal(
    (await sarah.call('DELETE', `/api/v1/users/${sarah.userId}/avatar`)).status,
    204,
    'removing twice is fine',
  )
  t.equal(
    (await sarah.call('DELETE', `/api/v1/users/${sarah.userId}/avatar`, {})).status,
    204,
    'a DELETE that carries a JSON body is taken too',
  )
})

t.test('only images, only small ones, only your own (administrators: anyone)', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const bob = await buildUser(node, { name: 'Bob Buyer' })
  const admin = await buildUser(node, { name: 'Ada Admin', role: 'admin' })

  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
  const disguised = await put(node, sarah, sarah.userId, svg, 'image/png')
  t.equal(disguised.statusCode, 422, 'an SVG sent as PNG is refused by its bytes')
  t.equal(disguised.json().error.code, 'E_AVATAR_NOT_IMAGE')
  const typed = await put(node, sarah, sarah.userId, svg, 'image/svg+xml')
  t.equal(typed.statusCode, 415)
  t.equal(typed.json().error.code, 'E_UNSUPPORTED_MEDIA_TYPE')
  const empty = await put(node, sarah, sarah.userId, Buffer.alloc(0))
  t.ok([400, 422].includes(empty.statusCode), `an empty body is refused (${empty.statusCode})`)
  const huge = await put(node, sarah, sarah.userId, Buffer.concat([PNG, Buffer.alloc(256 * 1024)]))
  t.equal(huge.statusCode, 413)
  t.equal(huge.json().error.code, 'E_BODY_TOO_LARGE')
  t.equal((await sarah.call('GET', `/api/v1/users/${sarah.userId}`)).body.avatarUrl, null, 'nothing was kept')

  const others = await put(node, bob, sarah.userId, PNG)
  t.equal(others.statusCode, 403, "nobody sets a colleague's picture")
  t.equal(others.json().error.code, 'E_FORBIDDEN')
  t.equal((await bob.call('DELETE', `/api/v1/users/${sarah.userId}/avatar`)).status, 403)
  t.equal((await put(node, admin, sarah.userId, PNG)).statusCode, 200, 'an administrator may')
  t.equal((await admin.call('DELETE', `/api/v1/users/${sarah.userId}/avatar`)).status, 204)
  t.equal((await put(node, admin, 99999, PNG)).statusCode, 404, 'an unknown user')

  const readOnly = await buildUser(node, { scopes: ['records:read'] })
  t.equal((await put(node, readOnly, readOnly.userId, PNG)).statusCode, 403, 'a read-only key cannot')
})

t.test('unknown contacts, contacts without a picture, and where pictures are shown', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const carla = buildPartner(node, { name: 'Carla Customer' })
  t.equal((await get(node, sarah, `/api/v1/partners/${carla.id}/avatar`)).statusCode, 404)
  t.equal((await get(node, sarah, '/api/v1/partners/99999/avatar')).statusCode, 404)
  t.equal((await get(node, sarah, '/api/v1/partners/abc/avatar')).statusCode, 400)
  const noScope = await buildUser(node, { scopes: ['ochat:read'] })
  t.equal(
    (await get(node, noScope, `/api/v1/partners/${sarah.partnerId}/avatar`)).statusCode,
    403,
    'a key that may not read contacts does not see their pictures',
  )

  const record = await buildRecord(sarah, 'lead', { name: 'Big deal' })
  const posted = await sarah.call('POST', `/api/v1/records/${record.id}/messages`, {
    kind: 'note',
    body: '<p>Hello</p>',
  })
  t.equal(posted.status, 201)
  const url = (await put(node, sarah, sarah.userId, PNG)).json().avatarUrl
  const followers = await sarah.call('GET', `/api/v1/records/${record.id}/followers`)
  t.equal(
    followers.body.items.find((item: { partnerId: number }) => item.partnerId === sarah.partnerId)?.avatarUrl,
    url,
    'the followers list carries the picture',
  )
  const messages = await sarah.call('GET', `/api/v1/records/${record.id}/messages`)
  const mine = messages.body.items.find((item: { id: number }) => item.id === posted.body.id)
  t.equal(mine.author.avatarUrl, url, "a message's author carries the picture")
  const next = await sarah.call('POST', `/api/v1/records/${record.id}/messages`, {
    kind: 'note',
    body: '<p>Hello again</p>',
  })
  t.equal(
    next.body.author.avatarUrl,
    url,
    'so does the answer to posting one, which the chatter shows at once',
  )
  const list = await sarah.call('GET', '/api/v1/partners')
  t.equal(
    list.body.items.find((item: { id: number }) => item.id === sarah.partnerId)?.avatarUrl,
    url,
    'the contacts list too',
  )
  t.equal(list.body.items.find((item: { id: number }) => item.id === carla.id)?.avatarUrl, null)
})
