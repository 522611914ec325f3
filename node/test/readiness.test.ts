import t from 'tap'
import { buildNode, type TestNode } from './helpers.ts'

/** GET /readyz: whether a balancer should send this node traffic. */

async function readyz(node: TestNode) {
  const response = await node.app.inject({ method: 'GET', url: '/readyz' })
  return { status: response.statusCode, body: response.json() }
}

t.test('ready when the database answers and every migration is applied', async (t) => {
  const node = await buildNode(t)
  t.same(await readyz(node), { status: 200, body: { ok: true } })
  t.same((await node.app.inject({ method: 'GET', url: '/healthz' })).json(), { ok: true }, 'and alive')
})

t.test('not ready when the database lacks its newest migration', async (t) => {
  const node = await buildNode(t)
  const sqlite = node.database.sqlite
  const newest = sqlite
    .prepare('select hash, created_at from __drizzle_migrations order by created_at desc limit 1')
    .get() as { hash: string; created_at: number }
  sqlite.prepare('delete from __drizzle_migrations where created_at = ?').run(newest.created_at)
  t.same(await readyz(node), {
    status: 503,
    body: { ok: false, reason: 'error: the database is missing migrations: run `ochat-node migrate`' },
  })
  sqlite
    .prepare('insert into __drizzle_migrations (hash, created_at) values (?, ?)')
    .run(newest.hash, newest.created_at)
  t.equal((await readyz(node)).status, 200, 'ready again once it is recorded')
})

t.test('not ready once shutting down, while still answering', async (t) => {
  const node = await buildNode(t)
  node.app.readiness.shuttingDown()
  t.same(await readyz(node), {
    status: 503,
    body: { ok: false, reason: 'error: the node is shutting down' },
  })
  t.equal((await node.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'alive all the same')
})
