import { connect, createServer, type Socket } from 'node:net'
import type { Test } from 'tap'

/**
 * A test-only TCP balancer, as a deployment puts in front of relay replicas: each new connection goes
 * to the next backend in turn, and to the one after when a backend refuses it (stopped, restarting).
 * Bytes pass through untouched, WebSocket upgrades included.
 */
export async function startBalancer(
  t: Test,
  /** The backends' ports, read at each connection: a restarted replica may be back on its port. */
  backends: () => number[],
): Promise<{ url: string; close(): Promise<void> }> {
  const open = new Set<Socket>()
  let next = 0
  const server = createServer((client) => {
    open.add(client)
    client.once('close', () => open.delete(client))
    client.pause()
    const ports = backends()
    const start = next++
    const attempt = (tried: number) => {
      if (tried >= ports.length) return client.destroy()
      const port = ports[(start + tried) % ports.length] ?? 0
      const upstream = connect({ host: '127.0.0.1', port })
      upstream.once('error', () => {
        if (!upstream.readableEnded && client.readableFlowing === false) attempt(tried + 1)
      })
      upstream.once('connect', () => {
        open.add(upstream)
        upstream.once('close', () => open.delete(upstream))
        upstream.on('error', () => client.destroy())
        client.on('error', () => upstream.destroy())
        client.pipe(upstream)
        upstream.pipe(client)
        client.resume()
      })
    }
    attempt(0)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = address && typeof address === 'object' ? address.port : 0
  const close = async () => {
    for (const socket of open) socket.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  t.teardown(close)
  return { url: `http://127.0.0.1:${port}`, close }
}
