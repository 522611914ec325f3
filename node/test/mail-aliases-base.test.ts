import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { buildNode, buildUser } from './helpers.ts'

const DOMAIN = 'acme.test'

t.test('a base alias an administrator deleted stays deleted after a restart', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ochat-aliases-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const env = { NODE_MAIL_DOMAIN: DOMAIN }

  const first = await buildNode(t, { dataDir, env })
  const admin = await buildUser(first, { role: 'admin', login: 'root' })
  const list = await admin.call('GET', '/api/v1/mail/aliases')
  const sales = list.body.items.find((alias: { name: string }) => alias.name === 'sales')
  t.ok(sales, 'a new node starts with sales@')
  t.equal((await admin.call('DELETE', `/api/v1/mail/aliases/${sales.id}`)).status, 204)
  await first.close()

  const second = await buildNode(t, { dataDir, env })
  t.notOk(second.inbound.intake.accepts(`sales@${DOMAIN}`), 'sales@ takes no mail after the restart')
  t.ok(second.inbound.intake.accepts(`support@${DOMAIN}`), 'the alias left alone is still there')
})
