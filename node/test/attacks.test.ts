import t, { type Test } from 'tap'
import {
  type Actor,
  buildNode,
  buildPartner,
  buildRecord,
  buildUser,
  TEST_PASSWORD,
  type TestNode,
} from './helpers.ts'

/**
 * The node attacked the way an outsider, a curious colleague or a stolen credential would (issue 4,
 * "Security is part of every feature"; DESIGN.md invariants 9–11). Regression tests are named after
 * what broke.
 */

const CONTRACT = {
  name: 'x_contract',
  label: 'Contract',
  userAccess: 'own',
  fields: [
    { name: 'name', label: 'Title', type: 'char', required: true },
    { name: 'owner_id', label: 'Owner', type: 'user', assignee: true, trackingSequence: 1 },
    { name: 'customer_id', label: 'Customer', type: 'partner', trackingSequence: 2 },
  ],
}

async function login(node: TestNode, actor: Actor, password = TEST_PASSWORD) {
  const response = await node.app.inject({
    method: 'POST',
    url: '/api/v1/session',
    payload: { login: actor.login, password },
  })
  const cookie = response.cookies.find((c) => c.name === 'ochat_session')?.value ?? ''
  return { status: response.statusCode, cookie: `ochat_session=${cookie}`, csrf: response.json().csrfToken }
}

async function upload(node: TestNode, actor: Actor, query: string, content = 'hello') {
  const response = await node.app.inject({
    method: 'POST',
    url: `/api/v1/attachments?${query}`,
    headers: { authorization: `Bearer ${actor.secret}`, 'content-type': 'text/plain' },
    payload: content,
  })
  return { status: response.statusCode, body: response.json(), response }
}

/** Every tag and attribute of a body is one the sanitizer allows, with a safe link target. */
function assertInert(t: Test, html: string, what: string) {
  const allowedTags = new Set('p br strong b em i u s del ul ol li a code pre blockquote h3 h4 hr'.split(' '))
  const allowedAttributes = new Set(['href', 'rel', 'target', 'class', 'data-partner-id'])
  const problems: string[] = []
  for (const match of html.matchAll(/<\/?([a-zA-Z0-9]+)([^>]*)>/g)) {
    const [, tag = '', attributes = ''] = match
    if (!allowedTags.has(tag.toLowerCase())) problems.push(`<${tag}>`)
    for (const attribute of attributes.replace(/\/$/, '').matchAll(/([^\s=]+)(?:="([^"]*)")?/g)) {
      const [, name = '', value = ''] = attribute
      if (!allowedAttributes.has(name)) problems.push(`attribute ${name}`)
      if (name === 'href' && !/^(https?:|mailto:|#\/partners\/\d+$)/.test(value))
        problems.push(`href ${value}`)
    }
  }
  if (/<(script|img|svg|iframe|style|object)/i.test(html)) problems.push('an active element')
  t.same(problems, [], `${what}: inert`)
}

t.test('a model label is plain text: the "<label> created" message cannot carry markup', async (t) => {
  const node = await buildNode(t)
  const admin = await buildUser(node, { role: 'admin' })
  const label = '<img src=x onerror=alert(1)>'
  const defined = await admin.call('POST', '/api/v1/models', {
    name: 'x_evil',
    label,
    fields: [{ name: 'name', label: '<b>Name</b>', type: 'char', required: true }],
  })
  t.equal(defined.status, 201)
  t.equal(defined.body.label, label, 'the label is kept as typed (the UI shows it as text)')
  const record = await buildRecord(admin, 'x_evil')
  const [created] = (await admin.call('GET', `/api/v1/records/${record.id}/messages`)).body.items
  t.equal(created.body, '<p>&lt;img src=x onerror=alert(1)&gt; created</p>')
  assertInert(t, created.body, 'creation message')
})

t.test('changing your own password needs the current one (no takeover by a narrow API key)', async (t) => {
  const node = await buildNode(t)
  const kim = await buildUser(node, { login: 'kim', scopes: ['records:read', 'records:write'] })
  const noCurrent = await kim.call('PATCH', `/api/v1/users/${kim.userId}`, { password: 'attacker pw 1' })
  t.equal(noCurrent.status, 403)
  t.equal(noCurrent.body.error.code, 'E_FORBIDDEN')
  const wrong = await kim.call('PATCH', `/api/v1/users/${kim.userId}`, {
    password: 'attacker pw 1',
    currentPassword: 'a guess',
  })
  t.equal(wrong.status, 403)
  t.equal((await login(node, kim, 'attacker pw 1')).status, 401, 'the password did not change')
  t.equal((await login(node, kim)).status, 200, 'the old one still works')

  const session = await login(node, kim)
  const right = await node.app.inject({
    method: 'PATCH',
    url: `/api/v1/users/${kim.userId}`,
    headers: { cookie: session.cookie, 'x-csrf-token': session.csrf },
    payload: { password: 'a new password', currentPassword: TEST_PASSWORD },
  })
  t.equal(right.statusCode, 200, 'with the current password it changes')
  t.equal((await login(node, kim, 'a new password')).status, 200)

  // An administrator resets someone else's password without knowing it; nobody else can.
  const admin = await buildUser(node, { role: 'admin' })
  const lee = await buildUser(node, { login: 'lee' })
  t.equal((await lee.call('PATCH', `/api/v1/users/${kim.userId}`, { password: 'lee owns kim' })).status, 403)
  t.equal(
    (await admin.call('PATCH', `/api/v1/users/${lee.userId}`, { password: 'reset by admin' })).status,
    200,
  )
  t.equal((await login(node, lee, 'reset by admin')).status, 200)
})

t.test('privilege: no self-promotion, no keys from keys, no one else’s keys, no revoked key', async (t) => {
  const node = await buildNode(t)
  const admin = await buildUser(node, { role: 'admin' })
  const adminNoScope = await buildUser(node, { role: 'admin', scopes: ['records:read', 'records:write'] })
  const sam = await buildUser(node, { login: 'sam' })
  const promote = await sam.call('PATCH', `/api/v1/users/${sam.userId}`, { role: 'admin' })
  t.equal(promote.status, 403, 'a user cannot make themselves admin')
  t.equal((await sam.call('GET', '/api/v1/session')).body.user.role, 'user')
  const byKey = await adminNoScope.call('PATCH', `/api/v1/users/${sam.userId}`, { role: 'admin' })
  t.equal(byKey.status, 403, 'an admin’s key without the admin scope cannot change roles')
  t.equal((await adminNoScope.call('POST', '/api/v1/models', CONTRACT)).status, 403, 'nor define models')
  t.equal((await adminNoScope.call('PATCH', `/api/v1/users/${sam.userId}`, { active: false })).status, 403)

  const minted = await admin.call('POST', '/api/v1/api-keys', { name: 'more', scopes: ['admin'] })
  t.equal(minted.status, 403, 'an API key cannot mint keys')
  const session = await login(node, sam)
  const asSam = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) =>
    node.app.inject({
      method,
      url,
      headers: { cookie: session.cookie, 'x-csrf-token': session.csrf },
      ...(payload ? { payload } : {}),
    })
  t.equal(
    (await asSam('POST', '/api/v1/api-keys', { name: 'x', scopes: ['admin'] })).statusCode,
    403,
    'a user cannot give a key the admin scope',
  )
  const samKey = (await asSam('POST', '/api/v1/api-keys', { name: 'ci', scopes: ['records:read'] })).json()
  t.ok(samKey.secret)
  const adminSession = await login(node, admin)
  const adminKeys = await node.app.inject({
    method: 'GET',
    url: '/api/v1/api-keys',
    headers: { cookie: adminSession.cookie },
  })
  t.notOk(
    adminKeys.json().items.some((key: { id: number }) => key.id === samKey.id),
    'an admin lists their own keys, not Sam’s',
  )
  const revokeOther = await node.app.inject({
    method: 'DELETE',
    url: `/api/v1/api-keys/${samKey.id}`,
    headers: { cookie: adminSession.cookie, 'x-csrf-token': adminSession.csrf },
  })
  t.equal(revokeOther.statusCode, 404, 'another user’s key is "not found"')
  const useKey = () =>
    node.app.inject({
      method: 'GET',
      url: '/api/v1/models',
      headers: { authorization: `Bearer ${samKey.secret}` },
    })
  t.equal((await useKey()).statusCode, 200)
  t.equal((await asSam('DELETE', `/api/v1/api-keys/${samKey.id}`)).statusCode, 204)
  t.equal((await useKey()).statusCode, 401, 'a revoked key stops at once')
  for (const header of [
    `Bearer ${samKey.secret.slice(0, -1)}`,
    'Bearer ',
    `Basic ${samKey.secret}`,
    'Bearer x'.repeat(2000),
  ])
    t.equal(
      (await node.app.inject({ method: 'GET', url: '/api/v1/models', headers: { authorization: header } }))
        .statusCode,
      401,
      `a wrong Authorization header (${header.slice(0, 12)}…) is 401`,
    )
})

t.test('deleting someone else’s upload is an admin action: a key needs the admin scope', async (t) => {
  const node = await buildNode(t)
  const uploader = await buildUser(node)
  const adminNoScope = await buildUser(node, { role: 'admin', scopes: ['chatter:read', 'chatter:write'] })
  const admin = await buildUser(node, { role: 'admin' })
  const lead = await buildRecord(uploader)
  const file = await upload(node, uploader, `fileName=a.txt&recordId=${lead.id}`)
  t.equal(file.status, 201)
  const refused = await adminNoScope.call('DELETE', `/api/v1/attachments/${file.body.id}`)
  t.equal(refused.status, 403)
  t.equal((await uploader.call('GET', `/api/v1/attachments/${file.body.id}`)).status, 200, 'still there')
  t.equal((await admin.call('DELETE', `/api/v1/attachments/${file.body.id}`)).status, 204)
})

t.test('a deleted message’s history is for admins only, like its files', async (t) => {
  const node = await buildNode(t)
  const author = await buildUser(node)
  const colleague = await buildUser(node)
  const admin = await buildUser(node, { role: 'admin' })
  const lead = await buildRecord(author)
  const posted = await author.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'note',
    body: 'the password is hunter2',
  })
  t.equal((await author.call('DELETE', `/api/v1/messages/${posted.body.id}`)).status, 204)
  const seen = await colleague.call('GET', `/api/v1/messages/${posted.body.id}/versions`)
  t.equal(seen.status, 200)
  t.same(seen.body.items, [], 'a colleague sees a tombstone without history')
  t.notMatch(JSON.stringify(seen.body), /hunter2/)
  const byAuthor = await author.call('GET', `/api/v1/messages/${posted.body.id}/versions`)
  t.same(byAuthor.body.items, [], 'the author too: deleting means gone')
  const byAdmin = await admin.call('GET', `/api/v1/messages/${posted.body.id}/versions`)
  t.match(byAdmin.body.items[0].body, /hunter2/, 'an admin still can')
})

t.test('an "own" record and everything on it answers exactly like a missing id', async (t) => {
  const node = await buildNode(t)
  const admin = await buildUser(node, { role: 'admin' })
  t.equal((await admin.call('POST', '/api/v1/models', CONTRACT)).status, 201)
  const owner = await buildUser(node, { name: 'Olga Owner' })
  const outsider = await buildUser(node, { name: 'Otto Outsider' })
  const customer = buildPartner(node, { name: 'Carl Customer' })
  const contract = await buildRecord(owner, 'x_contract', { customer_id: customer.id })
  const posted = await owner.call('POST', `/api/v1/records/${contract.id}/messages`, {
    kind: 'note',
    body: 'private',
  })
  await owner.call('PATCH', `/api/v1/messages/${posted.body.id}`, { body: 'private, edited' })
  const activity = await owner.call('POST', `/api/v1/records/${contract.id}/activities`, { type: 'todo' })
  t.equal(activity.status, 201)
  const file = await upload(node, owner, `fileName=terms.pdf&recordId=${contract.id}`)
  t.equal(file.status, 201)
  // The owner gets an inbox item from a colleague’s post; the outsider tries to mark it read.
  const colleague = await buildUser(node)
  await owner.call('POST', `/api/v1/records/${contract.id}/followers`, { partnerId: colleague.partnerId })
  await colleague.call('POST', `/api/v1/records/${contract.id}/messages`, { kind: 'message', body: 'hi' })
  const inboxItem = (await owner.call('GET', '/api/v1/inbox')).body.items[0]
  t.ok(inboxItem, 'the owner has an inbox item')

  const missing = 987_654
  const probes: [string, 'GET' | 'POST' | 'PATCH' | 'DELETE', (id: number) => string, number, unknown?][] = [
    ['message versions', 'GET', (id) => `/api/v1/messages/${id}/versions`, posted.body.id],
    [
      'follower choice',
      'PATCH',
      (id) => `/api/v1/records/${id}/followers/${owner.partnerId}`,
      contract.id,
      { subscription: 'none' },
    ],
    ['its activities', 'GET', (id) => `/api/v1/records/${id}/activities`, contract.id],
    ['schedule on it', 'POST', (id) => `/api/v1/records/${id}/activities`, contract.id, { type: 'todo' }],
    ['read an activity', 'GET', (id) => `/api/v1/activities/${id}`, activity.body.id],
    ['edit an activity', 'PATCH', (id) => `/api/v1/activities/${id}`, activity.body.id, { summary: 'x' }],
    ['snooze an activity', 'POST', (id) => `/api/v1/activities/${id}/snooze`, activity.body.id],
    ['cancel an activity', 'POST', (id) => `/api/v1/activities/${id}/cancel`, activity.body.id],
    ['finish an activity', 'POST', (id) => `/api/v1/activities/${id}/done`, activity.body.id, {}],
    ['file metadata', 'GET', (id) => `/api/v1/attachments/${id}`, file.body.id],
    ['file content', 'GET', (id) => `/api/v1/attachments/${id}/content`, file.body.id],
    ['delete a file', 'DELETE', (id) => `/api/v1/attachments/${id}`, file.body.id],
    ['mark an inbox item read', 'POST', (id) => `/api/v1/inbox/${id}/read`, inboxItem.id],
  ]
  for (const [what, method, url, id, payload] of probes) {
    const hidden = await outsider.call(method, url(id), payload)
    const absent = await outsider.call(method, url(missing), payload)
    t.equal(hidden.status, 404, `${what}: 404`)
    t.same(hidden.body, absent.body, `${what}: the same body as a missing id`)
    t.same(hidden.response.headers['content-type'], absent.response.headers['content-type'])
  }
  const uploadHidden = await upload(node, outsider, `fileName=a.txt&recordId=${contract.id}`)
  const uploadAbsent = await upload(node, outsider, `fileName=a.txt&recordId=${missing}`)
  t.equal(uploadHidden.status, 404, 'uploading for it: 404')
  t.same(uploadHidden.body, uploadAbsent.body)

  // Nothing the outsider did changed anything the owner sees.
  const after = await owner.call('GET', `/api/v1/activities/${activity.body.id}`)
  t.equal(after.body.status, 'open')
  t.equal(after.body.summary, activity.body.summary)
  t.equal((await owner.call('GET', `/api/v1/attachments/${file.body.id}`)).status, 200)
  t.equal((await owner.call('GET', '/api/v1/inbox')).body.items[0].read, false)

  // Lists never show it either: "my activities", the inbox, the iCal feed of someone not assigned.
  t.same((await outsider.call('GET', '/api/v1/my/activities')).body.items, [])
  t.same((await outsider.call('GET', '/api/v1/inbox')).body.items, [])
  const wrongToken = await node.app.inject({ method: 'GET', url: '/ical/not-a-token.ics' })
  t.equal(wrongToken.statusCode, 404)
})

t.test('XSS in bodies, edits, activity notes, feedback and mentioned names comes out inert', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah' })
  buildPartner(node, { name: 'Bob <img src=x onerror=alert(1)>' })
  buildPartner(node, { name: 'Eve" onmouseover="alert(1)' })
  const lead = await buildRecord(sarah, 'lead', { name: '<script>alert(1)</script>' })
  const payloads = [
    '<script>alert(1)</script>',
    '<img src=x onerror=alert(1)>',
    '<svg/onload=alert(1)>',
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt&colon;alert(1)">x</a>',
    '<a href=" javascript:alert(1)">x</a>',
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    '<a href="//evil.test">x</a>',
    '<iframe src="https://evil.test"></iframe>',
    '<p style="background:url(javascript:alert(1))" onclick="alert(1)">x</p>',
    '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    '<a href="https://ok.test/?q=>@Bob <img src=x onerror=alert(1)>">x</a>',
    '[x](javascript:alert(1))',
    '![x](https://evil.test/pixel.png)',
    '@Bob <img src=x onerror=alert(1)> and @Eve" onmouseover="alert(1)',
    '<form action="https://evil.test"><input name=x></form>',
  ]
  for (const payload of payloads)
    for (const format of ['markdown', 'html'] as const) {
      const posted = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
        kind: 'message',
        format,
        body: payload,
      })
      if (posted.status === 400) continue // empty once sanitized
      t.equal(posted.status, 201)
      assertInert(t, posted.body.body, `${format} ${payload}`)
      const edited = await sarah.call('PATCH', `/api/v1/messages/${posted.body.id}`, {
        format,
        body: `edited ${payload}`,
      })
      assertInert(t, edited.body.body, `edit ${format} ${payload}`)
      const read = await sarah.call('GET', `/api/v1/messages/${posted.body.id}`)
      assertInert(t, read.body.body, `read back ${format} ${payload}`)
    }
  const activity = await sarah.call('POST', `/api/v1/records/${lead.id}/activities`, {
    type: 'todo',
    summary: '<img src=x onerror=alert(1)>',
    note: payloads.join('\n\n'),
  })
  t.equal(activity.status, 201)
  assertInert(t, activity.body.note, 'activity note')
  const edited = await sarah.call('PATCH', `/api/v1/activities/${activity.body.id}`, {
    note: payloads.join(' '),
  })
  assertInert(t, edited.body.note, 'edited activity note')
  const done = await sarah.call('POST', `/api/v1/activities/${activity.body.id}/done`, {
    feedback: payloads.join('\n'),
  })
  t.equal(done.status, 200)
  const message = await sarah.call('GET', `/api/v1/messages/${done.body.messageId}`)
  assertInert(t, message.body.body, 'activity-done message (summary, note, feedback)')
  // A tracked change to a name full of markup is tracking text (shown as text), not a body.
  const renamed = await sarah.call('PATCH', `/api/v1/records/${lead.id}`, {
    version: 1,
    values: { stage: 'won', user_id: sarah.userId },
  })
  t.equal(renamed.status, 200)
  const tracking = (await sarah.call('GET', `/api/v1/records/${lead.id}/messages?kind=tracking`)).body.items
  for (const item of tracking) assertInert(t, item.body, 'tracking message body')
  const mails = node.database.sqlite.prepare('select subject, body from mail_contents').all() as {
    subject: string
    body: string
  }[]
  for (const mail of mails) assertInert(t, mail.body, 'an email body')
})

t.test('email subjects never carry a line break from a record name (header injection)', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node)
  const colleague = await buildUser(node, { notification: 'email' })
  const lead = await buildRecord(sarah, 'lead', { name: 'Deal\r\nBcc: all@evil.test\u2028X' })
  await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: colleague.partnerId })
  await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, { kind: 'message', body: 'hello' })
  await sarah.call('POST', `/api/v1/records/${lead.id}/activities`, {
    type: 'todo',
    assigneeId: colleague.userId,
    summary: 'call\r\nBcc: x@evil.test',
  })
  const subjects = (
    node.database.sqlite.prepare('select subject from mail_contents').all() as { subject: string }[]
  ).map((row) => row.subject)
  t.equal(subjects.length, 2, 'a message email and an activity email')
  for (const subject of subjects) t.notMatch(subject, /[\r\n\u2028]/, `one line: ${subject}`)
  t.equal(subjects[0], 'Re: Deal Bcc: all@evil.test X')
})

t.test('file names: no header injection, no text direction tricks, safe to show as text', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node)
  const tricky = await upload(node, sarah, `fileName=${encodeURIComponent('a"; filename=evil.html')}`)
  t.equal(tricky.status, 201)
  const download = await sarah.call('GET', `/api/v1/attachments/${tricky.body.id}/content`)
  const disposition = String(download.response.headers['content-disposition'])
  // The quote cannot close early: what looks like a second parameter stays inside the quoted name.
  t.match(
    disposition,
    /^attachment; filename="a_; filename=evil.html"; filename\*=UTF-8''a%22%3B%20filename%3Devil.html$/,
  )
  t.equal(download.response.headers['content-security-policy'], "default-src 'none'; sandbox")
  t.equal(download.response.headers['x-content-type-options'], 'nosniff')
  const spoof = await upload(node, sarah, `fileName=${encodeURIComponent('invoice\u202Efdp.exe')}`)
  t.equal(spoof.status, 400, 'a right-to-left override is refused')
  t.equal(spoof.body.error.code, 'E_INVALID_PARAMS')
  for (const name of ['a\u0000b', 'line\r\nbreak', '', '../../', '\u2066x'])
    t.equal(
      (await upload(node, sarah, `fileName=${encodeURIComponent(name)}`)).status,
      400,
      JSON.stringify(name),
    )
})

t.test('internal stays internal: notes, activity-done messages, edits and subscriptions', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah' })
  const customer = buildPartner(node, { name: 'Carla Customer', email: 'carla@client.test' })
  const lead = await buildRecord(sarah, 'lead', { partner_id: customer.id })
  const follow = await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, {
    partnerId: customer.id,
    subscription: 'all',
  })
  t.equal(follow.status, 201, 'the customer follows everything they may')
  for (const subtypes of [['note'], ['activities'], ['comment', 'note']]) {
    const custom = await sarah.call('PATCH', `/api/v1/records/${lead.id}/followers/${customer.id}`, {
      subscription: 'custom',
      subtypes,
    })
    t.equal(custom.status, 400, `an external contact cannot follow ${subtypes.join('+')}`)
  }
  const note = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'note',
    body: 'internal margin 40%',
  })
  t.equal(note.status, 201)
  t.equal(note.body.internal, true)
  const mention = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'note',
    body: 'x',
    mentionPartnerIds: [customer.id],
  })
  t.equal(mention.status, 422, 'a note cannot name the customer by id either')
  const edit = await sarah.call('PATCH', `/api/v1/messages/${note.body.id}`, { body: 'see @Carla Customer' })
  t.equal(edit.status, 422, 'an edit cannot add the customer to a note')
  const activity = await sarah.call('POST', `/api/v1/records/${lead.id}/activities`, { type: 'call' })
  const done = await sarah.call('POST', `/api/v1/activities/${activity.body.id}/done`, {
    feedback: 'they will pay 40% more',
  })
  t.equal(done.status, 200)
  t.equal((await sarah.call('GET', `/api/v1/messages/${done.body.messageId}`)).body.internal, true)
  const reachedCustomer = node.database.sqlite
    .prepare(
      `select c.body from outgoing_mail o join mail_contents c on c.id = o.content_id where o.partner_id = ?
       union all select '' from notifications where partner_id = ?`,
    )
    .all(customer.id, customer.id) as { body: string }[]
  t.same(reachedCustomer, [], 'nothing internal reached the customer: no notification, no email')
})

t.test('CSRF: every cookie-authenticated write needs the token, uploads included', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { login: 'sarah' })
  const lead = await buildRecord(sarah)
  const session = await login(node, sarah)
  const writes: ['POST' | 'PATCH' | 'DELETE', string, unknown][] = [
    ['POST', `/api/v1/records/${lead.id}/messages`, { kind: 'message', body: 'forged' }],
    ['PATCH', `/api/v1/records/${lead.id}`, { version: 1, values: { name: 'forged' } }],
    ['PATCH', `/api/v1/users/${sarah.userId}`, { name: 'forged' }],
    ['POST', '/api/v1/api-keys', { name: 'forged', scopes: ['records:read'] }],
    ['POST', '/api/v1/inbox/read-all', {}],
    ['DELETE', `/api/v1/records/${lead.id}`, undefined],
    ['DELETE', '/api/v1/session', undefined],
  ]
  for (const [method, url, payload] of writes)
    for (const token of [undefined, 'forged', '']) {
      const response = await node.app.inject({
        method,
        url,
        headers: { cookie: session.cookie, ...(token === undefined ? {} : { 'x-csrf-token': token }) },
        ...(payload === undefined ? {} : { payload: payload as object }),
      })
      t.equal(response.statusCode, 403, `${method} ${url} with token ${token}`)
      t.equal(response.json().error.code, 'E_CSRF')
    }
  const forgedUpload = await node.app.inject({
    method: 'POST',
    url: '/api/v1/attachments?fileName=x.txt',
    headers: { cookie: session.cookie, 'content-type': 'text/plain' },
    payload: 'forged',
  })
  t.equal(forgedUpload.statusCode, 403, 'an upload without the token is refused')
  t.equal((node.database.sqlite.prepare('select count(*) as n from attachments').get() as { n: number }).n, 0)
  t.equal((await sarah.call('GET', `/api/v1/records/${lead.id}`)).body.name, lead.name, 'nothing changed')
  t.equal((await sarah.call('GET', '/api/v1/session')).status, 200, 'the session still works')
})

t.test('idempotency keys are per user: another user’s key replays nothing of the first', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node, { name: 'Sarah' })
  const mallory = await buildUser(node, { name: 'Mallory' })
  const lead = await buildRecord(sarah)
  const post = (actor: Actor, body: string) =>
    node.app.inject({
      method: 'POST',
      url: `/api/v1/records/${lead.id}/messages`,
      headers: { authorization: `Bearer ${actor.secret}`, 'idempotency-key': 'order-42' },
      payload: { kind: 'note', body },
    })
  const first = await post(sarah, 'the secret terms')
  t.equal(first.statusCode, 201)
  const same = await post(mallory, 'the secret terms')
  t.equal(same.statusCode, 201, 'Mallory’s request runs as her own')
  t.notOk(same.headers['idempotent-replayed'])
  t.equal(same.json().author.name, 'Mallory')
  t.not(same.json().id, first.json().id)
  const other = await post(mallory, 'guess')
  t.equal(other.statusCode, 422, 'her key, reused for something else: a mismatch of her own')
  t.notMatch(other.body, /secret terms|Sarah/)
})
