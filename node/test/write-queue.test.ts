import t from 'tap'
import { partners } from '../src/db/schema.ts'
import { WriteQueue } from '../src/db/write-queue.ts'
import { NodeError } from '../src/errors.ts'
import { buildNode, buildRecord, buildUser } from './helpers.ts'

t.test(
  'writes in one turn commit together; one that fails is rolled back alone and its caller told',
  async (t) => {
    const node = await buildNode(t)
    const queue = new WriteQueue(node.database)
    const insert = (name: string) =>
      queue.run((tx) => tx.insert(partners).values({ name, createdAt: 0 }).returning().get().id)
    const failing = queue.run((tx) => {
      tx.insert(partners).values({ name: 'half-written', createdAt: 0 }).run()
      throw new NodeError('E_INVALID_BODY', 'refused after a write')
    })
    const [first, second] = [insert('first'), insert('second')]
    await t.rejects(failing, { code: 'E_INVALID_BODY' })
    t.ok((await first) < (await second), 'the others committed, in order')
    const names = node.database.sqlite.prepare('select name from partners order by id').pluck().all()
    t.notOk(names.includes('half-written'), 'the failed write left nothing behind')
    t.ok(names.includes('first') && names.includes('second'))
  },
)

t.test('concurrent posts on one record all land, each answered with its own message', async (t) => {
  const node = await buildNode(t)
  const sarah = await buildUser(node)
  const lead = await buildRecord(sarah)
  const answers = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      sarah.call('POST', `/api/v1/records/${lead.id}/messages`, { kind: 'message', body: `post ${i}` }),
    ),
  )
  t.same(
    answers.map((answer) => answer.status),
    Array(20).fill(201),
  )
  t.same(
    answers.map((answer) => answer.body.body),
    Array.from({ length: 20 }, (_, i) => `<p>post ${i}</p>`),
  )
  const page = await sarah.call('GET', `/api/v1/records/${lead.id}/messages?kind=message&limit=50`)
  t.equal(page.body.items.length, 20)
  // One bad post among good ones: refused with its error, the others stored.
  const mixed = await Promise.all([
    sarah.call('POST', `/api/v1/records/${lead.id}/messages`, { kind: 'message', body: 'good' }),
    sarah.call('POST', `/api/v1/records/${lead.id}/messages`, { kind: 'message', body: '   ' }),
    sarah.call('POST', `/api/v1/records/${lead.id}/messages`, { kind: 'message', body: 'also good' }),
  ])
  t.same(
    mixed.map((answer) => answer.status),
    [201, 400, 201],
  )
})
