import { once } from 'node:events'
import { connect, type Socket } from 'node:net'

/**
 * Sends a request head and the start of its body over a raw socket, then whatever `trickle` sends,
 * and resolves once the server ends the connection, with what it answered. An HTTP client library
 * would not let a test stop sending halfway through a declared body, which is what these tests need.
 * A server that never answers is caught by the test's own timeout.
 */
export async function partialUpload(input: {
  method: 'POST' | 'PUT'
  url: URL
  headers: Record<string, string>
  declaredBytes: number
  first: Buffer
  trickle?: (socket: Socket) => void
}): Promise<{ head: string; body: string }> {
  const socket = connect(Number(input.url.port), input.url.hostname)
  await once(socket, 'connect')
  const headers = Object.entries({ ...input.headers, 'content-length': String(input.declaredBytes) })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')
  socket.write(
    `${input.method} ${input.url.pathname}${input.url.search} HTTP/1.1\r\nhost: ${input.url.host}\r\n${headers}\r\n`,
  )
  socket.write(input.first)
  input.trickle?.(socket)
  let received = ''
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('utf8')
  })
  socket.on('error', () => undefined)
  await once(socket, 'end')
  socket.destroy()
  const [head = '', body = ''] = received.split('\r\n\r\n')
  return { head, body }
}

/** Writes `chunkBytes` every `everyMs` while the socket is open; returns the function that stops it. */
export function trickle(socket: Socket, chunkBytes: number, everyMs: number): () => void {
  const timer = setInterval(() => {
    if (socket.writable) socket.write(Buffer.alloc(chunkBytes, 1))
  }, everyMs)
  socket.once('close', () => clearInterval(timer))
  return () => clearInterval(timer)
}

/**
 * Writes `bytes` on a fresh TCP connection and reads until the server closes it: for what no HTTP
 * client sends (a 20 kB request line, bytes that are not HTTP). The answer is split into status,
 * headers (lower-cased names) and body.
 */
export function rawExchange(
  baseUrl: string,
  bytes: string | Buffer,
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const { hostname, port } = new URL(baseUrl)
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    const socket = connect(Number(port), hostname, () => socket.write(bytes))
    socket.on('data', (chunk) => chunks.push(chunk))
    // The server may close while the request is still being written: what it answered is still read.
    socket.on('error', () => {})
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      const [head = '', body = ''] = text.split('\r\n\r\n', 2)
      const [statusLine = '', ...lines] = head.split('\r\n')
      const headers = Object.fromEntries(
        lines.map((line) => [
          line.slice(0, line.indexOf(':')).toLowerCase(),
          line.slice(line.indexOf(':') + 1).trim(),
        ]),
      )
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body })
    })
  })
}
