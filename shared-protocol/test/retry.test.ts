// PROTOCOL.md §7: the retry schedule both servers follow.
import t from 'tap'
import { RETRY_SCHEDULE, retryDelayMs } from '../src/retry.ts'

t.test('the first attempts wait 0, 5 s, 30 s, 2 min, 10 min, 30 min and 1 h', async (t) => {
  t.same(
    [0, 1, 2, 3, 4, 5, 6].map((attempts) => retryDelayMs(attempts)),
    [0, 5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000],
  )
})

t.test('later attempts wait 3 h times a jitter between 0.8 and 1.4', async (t) => {
  const threeHoursMs = 3 * 3_600_000
  t.equal(
    retryDelayMs(7, () => 0),
    Math.round(threeHoursMs * 0.8),
  )
  t.equal(
    retryDelayMs(50, () => 0.5),
    Math.round(threeHoursMs * 1.1),
  )
  t.ok(retryDelayMs(7, () => 0.999_999) <= threeHoursMs * 1.4)
})

t.test('a delivery fails 72 h after it was written', async (t) => {
  t.equal(RETRY_SCHEDULE.deadlineMs, 72 * 3_600_000)
})

t.test(
  'a scale shortens every delay by its factor, in whole milliseconds, and not the deadline',
  async (t) => {
    const random = () => 0.5
    t.same(
      [0, 1, 2, 3, 4, 5, 6].map((attempts) => retryDelayMs(attempts, random, 0.01)),
      [0, 50, 300, 1_200, 6_000, 18_000, 36_000],
    )
    t.equal(retryDelayMs(7, random, 0.01), Math.round(3 * 3_600_000 * 1.1 * 0.01))
    t.equal(retryDelayMs(1, random, 1 / 3), 1_667, '5 s / 3 is 1,666.7 ms, rounded to whole ms')
    t.equal(retryDelayMs(2, random, 1), 30_000, 'a scale of 1 is the schedule itself')
    t.equal(RETRY_SCHEDULE.deadlineMs, 72 * 3_600_000, 'the schedule itself is unchanged')
  },
)
