import { createHash } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { request } from 'node:http'
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import type { E2eNode } from './harness.ts'

/**
 * Files for the end-to-end tests, moved over real HTTP as a browser would: uploads stream their bytes
 * with a Content-Length (never held whole when large), downloads are hashed as they arrive.
 */

export const sha256Hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

type Answer = {
  status: number
  body: { id?: number; error?: { code: string; message: string; reason: string } }
}

/**
 * POST /api/v1/attachments with `size` bytes: the given buffer, or `size` bytes of a repeating pattern
 * written 1 MiB at a time. `headersOnly` sends the headers and waits for the answer without a byte of
 * the body (a node refuses an oversize Content-Length before reading it).
 */
export function uploadFile(
  node: E2eNode,
  input: { name: string; bytes?: Buffer; size?: number; type?: string; headersOnly?: boolean },
): Promise<Answer> {
  const size = input.bytes?.byteLength ?? input.size ?? 0
  return new Promise((resolve, reject) => {
    const req = request(
      `${node.url}/api/v1/attachments?fileName=${encodeURIComponent(input.name)}`,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${node.admin.secret}`,
          'content-type': input.type ?? 'application/octet-stream',
          'content-length': String(size),
        },
      },
      (response) => {
        const parts: Buffer[] = []
        response.on('data', (part: Buffer) => parts.push(part))
        response.on('end', () => {
          const text = Buffer.concat(parts).toString('utf8')
          resolve({ status: response.statusCode ?? 0, body: text ? JSON.parse(text) : {} })
          if (input.headersOnly) req.destroy()
        })
      },
    )
    req.on('error', (error) => {
      // The node may close the connection after answering an oversize upload: the answer counts.
      if (!input.headersOnly) reject(error)
    })
    if (input.headersOnly) {
      req.flushHeaders()
      return
    }
    if (input.bytes) {
      req.end(input.bytes)
      return
    }
    const block = Buffer.alloc(1024 * 1024)
    for (let index = 0; index < block.byteLength; index++) block[index] = index % 253
    let left = size
    const pump = () => {
      while (left > 0) {
        const part = left >= block.byteLength ? block : block.subarray(0, left)
        left -= part.byteLength
        if (!req.write(part)) {
          req.once('drain', pump)
          return
        }
      }
      req.end()
    }
    pump()
  })
}

/** GET /api/v1/attachments/:id/content as the node's admin: status, bytes and their SHA-256 (hex). */
export async function downloadContent(node: E2eNode, attachmentId: number) {
  const response = await fetch(`${node.url}/api/v1/attachments/${attachmentId}/content`, {
    headers: { authorization: `Bearer ${node.admin.secret}` },
  })
  const bytes = Buffer.from(await response.arrayBuffer())
  return {
    status: response.status,
    bytes,
    sha256: sha256Hex(bytes),
    type: response.headers.get('content-type'),
  }
}

/** Every complete blob file under the relay's blob directory (`<dir>/<id[0:2]>/<id>`), by path. */
export function relayBlobFiles(blobDir: string): string[] {
  let shards: string[]
  try {
    shards = readdirSync(blobDir)
  } catch {
    return []
  }
  return shards.flatMap((shard) =>
    readdirSync(join(blobDir, shard))
      .filter((name) => !name.endsWith('.part'))
      .map((name) => join(blobDir, shard, name)),
  )
}

/** Bytes that differ from one position to the next, so a moved or flipped chunk would show. */
export function patterned(size: number, seed: number): Buffer {
  const bytes = Buffer.alloc(size)
  for (let index = 0; index < size; index++) bytes[index] = (index * 31 + seed * 7 + (index >> 8)) % 256
  return bytes
}

/**
 * A TCP pass-through in front of the relay that a test can cut and restore, as a network outage
 * between one node and the relay looks: connections refused while down, the same port once back (the
 * first `up` listens where the kernel finds room).
 */
export async function relayLink(target: string) {
  let port = 0
  const { hostname, port: targetPort } = new URL(target)
  const sockets = new Set<Socket>()
  let server: Server | undefined
  const up = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer((client) => {
        const upstream = netConnect(Number(targetPort), hostname)
        for (const socket of [client, upstream]) {
          sockets.add(socket)
          socket.on('close', () => sockets.delete(socket))
          socket.on('error', () => socket.destroy())
        }
        client.pipe(upstream).pipe(client)
      })
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        const address = server?.address()
        if (address && typeof address === 'object') port = address.port
        resolve()
      })
    })
  const down = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy()
      if (!server) return resolve()
      server.close(() => resolve())
      server = undefined
    })
  await up()
  return { url: `http://127.0.0.1:${port}`, up, down }
}
