import t from 'tap'
import { buildNode, buildRecord, buildUser } from './helpers.ts'

const DOMAIN = 'acme.test'

t.test(
  'administrators create, list, change and delete aliases; the address takes mail while it exists',
  async (t) => {
    const node = await buildNode(t, { env: { NODE_MAIL_DOMAIN: DOMAIN } })
    const admin = await buildUser(node, { role: 'admin' })
    const user = await buildUser(node)

    const created = await admin.call('POST', '/api/v1/mail/aliases', {
      name: '  Jobs.EU ',
      model: 'lead',
      defaults: { stage: 'qualified' },
      contactPolicy: 'everyone',
    })
    t.equal(created.status, 201, JSON.stringify(created.body))
    t.equal(created.body.name, 'jobs.eu', 'names are kept in lower case')
    t.equal(created.body.address, `jobs.eu@${DOMAIN}`)
    t.same(created.body.defaults, { stage: 'qualified' })
    t.ok(node.inbound.intake.accepts(`jobs.eu@${DOMAIN}`), 'its address takes mail')

    const list = await admin.call('GET', '/api/v1/mail/aliases')
    t.same(
      list.body.items.map((alias: { name: string }) => alias.name),
      ['jobs.eu', 'sales', 'support'],
      'by name, beside the base aliases',
    )

    const record = await buildRecord(admin, 'ticket')
    const moved = await admin.call('PATCH', `/api/v1/mail/aliases/${created.body.id}`, {
      model: 'ticket',
      recordId: record.id,
      defaults: {},
    })
    t.equal(moved.status, 200, JSON.stringify(moved.body))
    t.equal(moved.body.model, 'ticket')
    t.equal(moved.body.recordId, record.id)
    t.equal(moved.body.contactPolicy, 'everyone', 'fields left out are kept')

    const off = await admin.call('PATCH', `/api/v1/mail/aliases/${created.body.id}`, { active: false })
    t.equal(off.body.active, false)
    t.notOk(node.inbound.intake.accepts(`jobs.eu@${DOMAIN}`), 'an inactive alias takes no mail')

    t.equal((await user.call('GET', '/api/v1/mail/aliases')).status, 403, 'administrators only')
    t.equal((await user.call('POST', '/api/v1/mail/aliases', { name: 'x', model: 'lead' })).status, 403)
    t.equal((await user.call('DELETE', `/api/v1/mail/aliases/${created.body.id}`)).status, 403)

    const deleted = await admin.call('DELETE', `/api/v1/mail/aliases/${created.body.id}`)
    t.equal(deleted.status, 204)
    t.equal((await admin.call('DELETE', `/api/v1/mail/aliases/${created.body.id}`)).status, 404)
    t.equal(
      (await admin.call('PATCH', `/api/v1/mail/aliases/${created.body.id}`, { active: true })).status,
      404,
    )
  },
)

t.test('an alias is checked like the records it makes', async (t) => {
  const node = await buildNode(t, { env: { NODE_MAIL_DOMAIN: DOMAIN } })
  const admin = await buildUser(node, { role: 'admin' })
  const lead = await buildRecord(admin, 'lead')
  const refusals: Array<[string, Record<string, unknown>, RegExp]> = [
    ['a reserved name', { name: 'postmaster', model: 'lead' }, /reserved/],
    ['reply', { name: 'Reply', model: 'lead' }, /reserved/],
    ['mailer-daemon', { name: 'mailer-daemon', model: 'lead' }, /reserved/],
    ['a tagged name', { name: 'sales+vip', model: 'lead' }, /local part/],
    ['two dots', { name: 'a..b', model: 'lead' }, /local part/],
    ['a space', { name: 'big sales', model: 'lead' }, /local part/],
    ['an address', { name: 'jobs@acme.test', model: 'lead' }, /local part/],
    ['an unknown model', { name: 'jobs', model: 'spaceship' }, /no model .*spaceship/],
    ['a missing record', { name: 'jobs', model: 'lead', recordId: 999_999 }, /no record 999999/],
    ['a record of another model', { name: 'jobs', model: 'ticket', recordId: lead.id }, /is not a ticket/],
    ['an unknown field', { name: 'jobs', model: 'lead', defaults: { colour: 'red' } }, /defaults/],
    [
      'a value the field refuses',
      { name: 'jobs', model: 'lead', defaults: { stage: 'Dreaming' } },
      /defaults/,
    ],
    ['a missing user', { name: 'jobs', model: 'lead', defaults: { user_id: 999_999 } }, /no user 999999/],
    ['an unknown policy', { name: 'jobs', model: 'lead', contactPolicy: 'friends' }, /contactPolicy/],
  ]
  for (const [what, body, reason] of refusals) {
    const answer = await admin.call('POST', '/api/v1/mail/aliases', body)
    t.equal(answer.status, 400, `${what} is refused`)
    t.match(JSON.stringify(answer.body.error), reason, what)
  }
  const taken = await admin.call('POST', '/api/v1/mail/aliases', { name: 'Sales', model: 'ticket' })
  t.equal(taken.status, 409)
  t.equal(taken.body.error.code, 'E_MAIL_ALIAS_TAKEN')

  const jobs = await admin.call('POST', '/api/v1/mail/aliases', { name: 'jobs', model: 'lead' })
  t.equal(jobs.body.contactPolicy, 'partners', 'known contacts only, unless said otherwise')
  const renamed = await admin.call('PATCH', `/api/v1/mail/aliases/${jobs.body.id}`, { name: 'support' })
  t.equal(renamed.status, 409, 'renaming onto another alias is refused')
  const wrongModel = await admin.call('PATCH', `/api/v1/mail/aliases/${jobs.body.id}`, {
    recordId: (await buildRecord(admin, 'ticket')).id,
  })
  t.equal(wrongModel.status, 400, "a record is checked against the alias's model when only it changes")
  const list = await admin.call('GET', '/api/v1/mail/aliases')
  t.equal(list.body.items.length, 3, 'nothing refused was saved')
})
