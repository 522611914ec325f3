import t from 'tap'
import { addDays } from '../src/activities/dates.ts'
import { buildNode, buildRecord, buildUser } from './helpers.ts'

type Item = { id: number; deadline: string; state: string; record: { id: number } }

t.test('"my activities": counts per state and items in the caller\'s time zone, paged', async (t) => {
  const node = await buildNode(t)
  // 2026-03-09T11:00Z is already 10 March in Kiritimati.
  node.clock.set(Date.parse('2026-03-09T11:00:00Z'))
  const kiri = await buildUser(node, { name: 'Kiri', timeZone: 'Pacific/Kiritimati' })
  const other = await buildUser(node, { name: 'Other' })
  const lead = await buildRecord(kiri)
  const deadlines = ['2026-03-08', '2026-03-09', '2026-03-10', '2026-03-10', '2026-03-11', '2026-04-01']
  for (const deadline of deadlines)
    t.equal(
      (await kiri.call('POST', `/api/v1/records/${lead.id}/activities`, { type: 'todo', deadline })).status,
      201,
    )
  await kiri.call('POST', `/api/v1/records/${lead.id}/activities`, { type: 'todo', assigneeId: other.userId })
  const doneOne = await kiri.call('POST', `/api/v1/records/${lead.id}/activities`, { type: 'call' })
  await kiri.call('POST', `/api/v1/activities/${doneOne.body.id}/done`)

  const all = await kiri.call('GET', '/api/v1/my/activities')
  t.equal(all.status, 200)
  t.equal(all.body.today, '2026-03-10')
  t.same(all.body.counts, { overdue: 2, today: 2, planned: 2 }, 'only my open ones')
  t.same(
    all.body.items.map((item: Item) => [item.deadline, item.state]),
    [
      ['2026-03-08', 'overdue'],
      ['2026-03-09', 'overdue'],
      ['2026-03-10', 'today'],
      ['2026-03-10', 'today'],
      ['2026-03-11', 'planned'],
      ['2026-04-01', 'planned'],
    ],
  )
  const today = await kiri.call('GET', '/api/v1/my/activities?state=today')
  t.same(
    today.body.items.map((item: Item) => item.deadline),
    ['2026-03-10', '2026-03-10'],
  )
  t.same(today.body.counts, all.body.counts, 'counts stay for every state when one is shown')

  // Pages of 2 walk the same order with no gap or repeat, even across equal deadlines.
  const seen: number[] = []
  let cursor: string | null = null
  do {
    const url: string = `/api/v1/my/activities?limit=2${cursor ? `&cursor=${cursor}` : ''}`
    const page = await kiri.call('GET', url)
    seen.push(...page.body.items.map((item: Item) => item.id))
    cursor = page.body.nextCursor
  } while (cursor)
  t.same(
    seen,
    all.body.items.map((item: Item) => item.id),
  )

  // A day later in Kiritimati, the two "today" ones are overdue.
  node.clock.advance(24 * 3_600_000)
  const later = await kiri.call('GET', '/api/v1/my/activities')
  t.same(later.body.counts, { overdue: 4, today: 1, planned: 1 })
})

t.test('"my activities" with 5,000 open: counts, pages, one index', async (t) => {
  const node = await buildNode(t)
  const busy = await buildUser(node, { name: 'Busy' })
  const lead = await buildRecord(busy)
  const typeId = (
    node.database.sqlite.prepare("select id from activity_types where key = 'todo'").get() as { id: number }
  ).id
  const insert = node.database.sqlite.prepare(
    'insert into activities (record_id, type_id, deadline, assignee_id, created_at, updated_at) values (?, ?, ?, ?, ?, ?)',
  )
  const now = node.clock.now() // 2026-11-25
  node.database.sqlite.transaction(() => {
    for (let i = 0; i < 5000; i++)
      insert.run(lead.id, typeId, addDays('2026-11-25', (i % 400) - 200), busy.userId, now, now)
  })()
  const first = await busy.call('GET', '/api/v1/my/activities?limit=50')
  t.equal(first.body.counts.overdue + first.body.counts.today + first.body.counts.planned, 5000)
  t.equal(first.body.counts.today, 12, '5,000 spread over 400 days: 12 or 13 a day')
  t.equal(first.body.items.length, 50)

  // Each state's page, in full. How fast they come is measured by `pnpm bench node`, not here: a shared
  // test machine's timings measure its neighbours. What this code controls is the plan, checked below.
  for (const [state, size] of [
    ['overdue', 50],
    ['today', 12],
    ['planned', 50],
  ] as const) {
    const page = await busy.call('GET', `/api/v1/my/activities?state=${state}&limit=50`)
    t.equal(page.status, 200)
    t.equal(page.body.items.length, size, `${state}: ${size} on the first page`)
  }

  // The plan: the assignee index serves the counts and the page (no table scan, no sort).
  const plan = (where: string, ...params: unknown[]) =>
    (
      node.database.sqlite
        .prepare(
          `explain query plan select id from activities where assignee_id = ? and status = 'open' and ${where} order by deadline, id limit 51`,
        )
        .all(busy.userId, ...params) as { detail: string }[]
    )
      .map((row) => row.detail)
      .join('\n')
  for (const [where, params] of [
    ['deadline < ?', ['2026-11-25']],
    ['(deadline > ? or (deadline = ? and id > ?))', ['2026-11-25', '2026-11-25', 10]],
  ] as const) {
    t.match(plan(where, ...params), /USING (COVERING )?INDEX activities_assignee/, where)
    t.notMatch(plan(where, ...params), /TEMP B-TREE/, `${where}: no sort`)
  }
})
