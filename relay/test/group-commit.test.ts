// db/group-commit.ts: what arrives together is committed together, every caller hears its own result
// only after its batch was written, and a drain (graceful shutdown) waits for what has not started yet.
import t from 'tap'
import { GroupCommit } from '../src/db/group-commit.ts'

/** A group commit over jobs that are numbers, recording each batch it writes; `failing` jobs throw. */
function recorder(options: { delayMs?: number; concurrency?: number; failing?: number } = {}) {
  const batches: number[][] = []
  const commits = new GroupCommit<number, string>({
    concurrency: options.concurrency ?? 2,
    maxWeight: 100,
    weight: () => 1,
    write: async (jobs) => {
      batches.push(jobs)
      if (options.failing !== undefined && jobs.includes(options.failing)) throw new Error('bad job')
      await new Promise((resolve) => setTimeout(resolve, options.delayMs ?? 5))
      return jobs.map((job) => `stored ${job}`)
    },
  })
  return { batches, commits }
}

t.test('submits made in the same turn of the event loop share one commit', async (t) => {
  const { batches, commits } = recorder()
  const results = await Promise.all([1, 2, 3, 4, 5].map((job) => commits.submit(job)))
  t.same(results, ['stored 1', 'stored 2', 'stored 3', 'stored 4', 'stored 5'], 'each its own result')
  t.same(batches, [[1, 2, 3, 4, 5]], 'one batch, not five')
})

t.test('submits arriving while batches are written gather into the next one', async (t) => {
  const { batches, commits } = recorder({ delayMs: 20 })
  const first = [commits.submit(1), commits.submit(2)]
  await new Promise((resolve) => setImmediate(resolve))
  const second = commits.submit(3)
  await new Promise((resolve) => setImmediate(resolve))
  const later = [commits.submit(4), commits.submit(5), commits.submit(6)]
  await Promise.all([...first, second, ...later])
  t.same(batches[0], [1, 2])
  t.same(batches[1], [3], 'a second batch may be in flight at once')
  t.same(batches[2], [4, 5, 6], 'a third waits for a place, then takes everything that waited')
})

t.test('drain waits for a batch that was submitted but has not started', async (t) => {
  const { batches, commits } = recorder()
  let settled = false
  void commits.submit(7).then(() => {
    settled = true
  })
  await commits.drain()
  t.ok(settled, 'the submit was written and answered before drain returned')
  t.same(batches, [[7]])
})

t.test('a job that fails is written again alone and fails alone', async (t) => {
  const { batches, commits } = recorder({ concurrency: 1, failing: 13 })
  const outcomes = await Promise.allSettled([12, 13, 14].map((job) => commits.submit(job)))
  t.same(
    outcomes.map((outcome) => outcome.status),
    ['fulfilled', 'rejected', 'fulfilled'],
    'the others are stored',
  )
  t.same(batches, [[12, 13, 14], [12], [13], [14]])
})
