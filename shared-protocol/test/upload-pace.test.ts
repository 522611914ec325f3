// PROTOCOL.md §8.3: an upload that stalls or trickles is cut off.
import { once } from 'node:events'
import { PassThrough } from 'node:stream'
import t from 'tap'
import { feedUpload, UploadPaceError, UploadPaceGuard } from '../src/upload-pace.ts'

const pace = { idleMs: 60, minBytesPerSecond: 10_000 }

t.test('a body that stops sending fails the guard as stalled, and the body is left open', async (t) => {
  const body = new PassThrough()
  // No floor: only the silence can end this one.
  const guard = new UploadPaceGuard({ idleMs: 60, minBytesPerSecond: 0 })
  const detach = feedUpload(body, guard)
  guard.resume()
  body.write(Buffer.alloc(10))
  const [error] = await once(guard, 'error')
  t.ok(error instanceof UploadPaceError)
  t.equal((error as UploadPaceError).kind, 'stalled')
  detach()
  t.notOk(body.destroyed, 'the request is not destroyed: it still has to carry the answer')
})

t.test('a body that trickles under the floor fails the guard as too slow', async (t) => {
  const body = new PassThrough()
  const guard = new UploadPaceGuard(pace)
  const detach = feedUpload(body, guard)
  guard.resume()
  // 10 bytes every 20 ms is 500 B/s, far under 10,000 B/s, yet never idle for 60 ms.
  const timer = setInterval(() => body.write(Buffer.alloc(10)), 20)
  const [error] = await once(guard, 'error')
  clearInterval(timer)
  t.equal((error as UploadPaceError).kind, 'too-slow')
  detach()
})

t.test('a body that goes fast and ends passes through whole, and no timer outlives it', async (t) => {
  const body = new PassThrough()
  const guard = new UploadPaceGuard(pace)
  const detach = feedUpload(body, guard)
  const chunks: Buffer[] = []
  guard.on('data', (chunk: Buffer) => chunks.push(chunk))
  body.end(Buffer.alloc(5000, 7))
  await once(guard, 'end')
  detach()
  t.equal(Buffer.concat(chunks).length, 5000)
  // Past several idle periods: a timer left running would fail the finished guard now.
  await new Promise((resolve) => setTimeout(resolve, pace.idleMs * 3))
  t.equal(guard.bytes, 5000)
})

t.test('a guard detached before anything read it stops its timers instead of failing later', async (t) => {
  // The store failed before it piped the guard anywhere: nothing listens for the guard's errors any
  // more, so a timer firing later would raise an unhandled error and end the process.
  const body = new PassThrough()
  const guard = new UploadPaceGuard(pace)
  const detach = feedUpload(body, guard)
  detach()
  t.ok(guard.destroyed)
  let failed = false
  guard.on('error', () => {
    failed = true
  })
  await new Promise((resolve) => setTimeout(resolve, pace.idleMs * 3))
  t.notOk(failed, 'no error after it was detached')
})

t.test('a body that sends nothing in a whole window is stalled, not too slow', async (t) => {
  const body = new PassThrough()
  const guard = new UploadPaceGuard(pace)
  const detach = feedUpload(body, guard)
  guard.resume()
  const [error] = await once(guard, 'error')
  t.equal((error as UploadPaceError).kind, 'stalled')
  detach()
})

t.test('a request that closes before its end fails the guard at once', async (t) => {
  const body = new PassThrough()
  const guard = new UploadPaceGuard({ idleMs: 60_000, minBytesPerSecond: 0 })
  const detach = feedUpload(body, guard)
  guard.resume()
  body.write(Buffer.alloc(10))
  body.destroy()
  const [error] = await once(guard, 'error')
  t.equal((error as { code?: string }).code, 'ECONNRESET')
  detach()
})
