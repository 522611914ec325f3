import { statSync } from 'node:fs'
import t from 'tap'
import { buildNode, buildRecord, buildUser } from './helpers.ts'

t.test(
  'the write-ahead log is copied into the database file by the checkpoint thread, not by requests',
  async (t) => {
    const node = await buildNode(t)
    const sarah = await buildUser(node)
    const lead = await buildRecord(sarah)
    const file = node.config.databaseFile
    const before = statSync(file).size
    for (let i = 0; i < 200; i++)
      await sarah.call('POST', `/api/v1/records/${lead.id}/messages`, {
        kind: 'message',
        body: `message ${i} ${'x'.repeat(500)}`,
      })
    const deadline = Date.now() + 5000
    while (statSync(file).size === before && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 100))
    t.ok(statSync(file).size > before, 'the database file itself grew: someone else checkpointed the log')
    // The file alone (what a backup copies when the node is stopped) holds everything after close.
    await node.close()
    const { default: Sqlite } = await import('better-sqlite3')
    const copy = new Sqlite(file, { readonly: true })
    t.equal(
      (copy.prepare("select count(*) as n from messages where kind = 'message'").get() as { n: number }).n,
      200,
    )
    copy.close()
  },
)
