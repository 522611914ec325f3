import t from 'tap'
import { buildNode, buildRecord, buildUser } from './helpers.ts'

t.test('deleting a record takes its chatter, inbox items and counters with it', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node)
  const john = await buildUser(node)
  const mia = await buildUser(node, { notification: 'email' })
  const lead = await buildRecord(sarah)
  await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: john.partnerId })
  await sarah.call('POST', `/api/v1/records/${lead.id}/followers`, { partnerId: mia.partnerId })
  await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, { kind: 'message', body: 'first' })
  t.equal((await john.call('GET', '/api/v1/inbox/counters')).body.unread, 1)
  t.equal((await sarah.call('DELETE', `/api/v1/records/${lead.id}`)).status, 204)
  t.same(
    (await john.call('GET', '/api/v1/inbox')).body.items,
    [],
    'no inbox item points at the deleted record',
  )
  t.equal((await john.call('GET', '/api/v1/inbox/counters')).body.unread, 0)
  const left = node.database.sqlite
    .prepare(
      'select (select count(*) from notifications) as n, (select count(*) from messages) as m, (select count(*) from outgoing_mail) as e',
    )
    .get() as { n: number; m: number; e: number }
  t.same(left, { n: 0, m: 0, e: 0 }, 'nothing of it is left, and no email about it will go out')
  t.equal((await john.call('GET', `/api/v1/records/${lead.id}/messages`)).status, 404)
})
