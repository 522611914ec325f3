import t from 'tap'
import { buildNode, buildUser } from '../../node/test/helpers.ts'
t.test('x', async (t) => {
  for (let i = 0; i < 40; i++) {
    const started = performance.now()
    const cpu = process.cpuUsage()
    const node = await buildNode(t)
    const mid = performance.now()
    await buildUser(node)
    const used = process.cpuUsage(cpu)
    console.error(`build ${(mid - started).toFixed(0)} ms, user ${(performance.now() - mid).toFixed(0)} ms, cpu ${((used.user + used.system) / 1000).toFixed(0)} ms`)
  }
})
