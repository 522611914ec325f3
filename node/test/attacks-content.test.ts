import t, { type Test } from 'tap'
import { type Actor, buildNode, buildPartner, buildRecord, buildUser, type TestNode } from './helpers.ts'

/**
 * What the node shows, and to whom, attacked: every HTML body
 * from elsewhere is sanitized, everything else is text, and nothing internal reaches an external
 * partner. Regression tests are named after what broke.
 */

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
  const mails = node.database.sqlite.prepare('select subject, body from outgoing_mail').all() as {
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
    node.database.sqlite.prepare('select subject from outgoing_mail').all() as { subject: string }[]
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
      `select o.body from email_notifications o where o.partner_id = ?
       union all select '' from notifications where partner_id = ?`,
    )
    .all(customer.id, customer.id) as { body: string }[]
  t.same(reachedCustomer, [], 'nothing internal reached the customer: no notification, no email')
})

t.test('a user’s name in "Assigned to …" is text, however it is spelled', async (t) => {
  const node = await buildNode(t)
  const admin = await buildUser(node, { role: 'admin' })
  const defined = await admin.call('POST', '/api/v1/models', {
    name: 'x_job',
    label: 'Job',
    // The assignee is not tracked: assigning is logged as "Assigned to <name>" in the body.
    fields: [
      { name: 'name', label: 'Name', type: 'char', required: true },
      { name: 'owner_id', label: 'Owner', type: 'user', assignee: true },
    ],
  })
  t.equal(defined.status, 201)
  const mallory = await buildUser(node, { name: '<img src=x onerror=alert(1)>' })
  const job = await buildRecord(admin, 'x_job')
  const assigned = await admin.call('PATCH', `/api/v1/records/${job.id}`, {
    version: job.version,
    values: { owner_id: mallory.userId },
  })
  t.equal(assigned.status, 200)
  const [latest] = (await admin.call('GET', `/api/v1/records/${job.id}/messages`)).body.items
  t.equal(latest.body, '<p>Assigned to &lt;img src=x onerror=alert(1)&gt;</p>')
  assertInert(t, latest.body, 'assignment message')
})

t.test('a contact named like a colleague does not capture the colleague’s @mentions', async (t) => {
  const node = await buildNode(t)
  const mallory = await buildUser(node, { name: 'Mallory' })
  // Anyone may add a contact: Mallory adds one spelled like the colleague who joins next week.
  const impostor = await mallory.call('POST', '/api/v1/partners', {
    name: 'nina newhire',
    email: 'nina@evil.test',
  })
  t.equal(impostor.status, 201)
  const nina = await buildUser(node, { name: 'Nina Newhire' })
  const sarah = await buildUser(node)
  const lead = await buildRecord(sarah)
  const message = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'message',
    body: 'welcome @Nina Newhire: the floor price is 40% off',
  })
  t.same(message.body.mentions, [{ partnerId: nina.partnerId, name: 'Nina Newhire' }], 'the colleague')
  const note = await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'note',
    body: '@Nina Newhire see above',
  })
  t.equal(note.status, 201, 'a note may mention her: no external match gets in the way')
  const toImpostor = node.database.sqlite
    .prepare('select count(*) as n from notifications where partner_id = ?')
    .get(impostor.body.id) as { n: number }
  t.equal(toImpostor.n, 0, 'nothing reached the impostor')
})
