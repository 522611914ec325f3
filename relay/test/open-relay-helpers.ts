// Shared by the open-relay tests: a clock ten minutes into an hour, registrations and requests from an
// address, what an instance sees waiting, and the operator CLI run in process.
import { PassThrough } from 'node:stream'
import { ManualClock } from '@ochat/shared-protocol/server'
import { FileBlobStore } from '../src/blobs/blob-store.ts'
import { buildNode, type RequestOrigin, register, signed, type TestNode, type TestRelay } from './helpers.ts'

export const HOUR = 3_600_000
/** Ten minutes into an hour, so every limit's window has 50 minutes left. */
export const tenPast = () => new ManualClock(Math.floor(Date.now() / HOUR) * HOUR + 10 * 60_000)

export async function registered(
  relay: TestRelay,
  name: string,
  origin: RequestOrigin = {},
): Promise<TestNode> {
  const node = buildNode(name)
  const response = await register(relay, node, {}, origin)
  if (response.statusCode !== 201) throw new Error(`register failed: ${response.body}`)
  return node
}

export function requestConnection(
  relay: TestRelay,
  from: TestNode,
  to: TestNode,
  origin: RequestOrigin = {},
) {
  return signed(relay, from, 'POST', '/v1/connections', { to: to.instanceId, message: 'Hello' }, origin)
}

export async function incomingPending(relay: TestRelay, node: TestNode) {
  const { connections } = (await signed(relay, node, 'GET', '/v1/connections')).json()
  return (connections as { id: string; direction: string; state: string }[]).filter(
    (connection) => connection.direction === 'incoming' && connection.state === 'pending',
  )
}

/** The CLI's commands, run in this process on the relay's database, with their output captured. */
export function cliIo(relay: TestRelay) {
  const store = new FileBlobStore(relay.config.blobDir)
  const out = new PassThrough()
  const err = new PassThrough()
  let outText = ''
  let errText = ''
  out.on('data', (chunk: Buffer) => (outText += chunk))
  err.on('data', (chunk: Buffer) => (errText += chunk))
  return {
    io: () => ({ db: relay.database.db, store, out, err, nowMs: relay.clock.now() }),
    /** What was written since the last call. */
    take() {
      const taken = { out: outText, err: errText }
      outText = ''
      errText = ''
      return taken
    },
  }
}
