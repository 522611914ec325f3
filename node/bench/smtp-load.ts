// Drives an SMTP server as other companies' mail servers would: a few connections at once, each from
// its own client address, several messages per connection. Times each message from the end of its
// DATA (the client's final dot) to the server's answer.
import { Readable } from 'node:stream'
import SMTPConnection from 'nodemailer/lib/smtp-connection'

/** A message ready to send: its envelope and its bytes, built before the clock starts. */
export type Prepared = { from: string; to: string; raw: Buffer }

export type LoadResult = {
  /** Messages answered 2xx per second, from the first connection to the last answer. */
  rate: number
  /** DATA end → answer, in ms, of the messages answered 2xx, sorted. */
  latencies: number[]
  /** Answers other than 2xx, by their first line. */
  refused: Map<string, number>
}

/**
 * Loopback addresses for the clients: a server may hold one client address to a few dozen messages a
 * minute, and the bench plays many servers. Linux answers the whole of 127.0.0.0/8 on the loopback.
 */
let nextAddress = 0
function clientAddress(): string {
  nextAddress++
  return `127.${10 + Math.floor(nextAddress / 65_024)}.${Math.floor(nextAddress / 254) % 256}.${(nextAddress % 254) + 1}`
}

/**
 * Sends `messages` to `port` over `connections` connections at once; each connection comes from a
 * fresh client address and carries at most `perConnection` messages. With `rate`, message k leaves
 * no earlier than k / rate seconds after the start (an open loop); without, as fast as answers come.
 */
export async function sendLoad(input: {
  port: number
  messages: Prepared[]
  connections: number
  perConnection: number
  rate?: number
}): Promise<LoadResult> {
  const { messages } = input
  const latencies: number[] = []
  const refused = new Map<string, number>()
  let next = 0
  let lastAnswer = 0
  const started = performance.now()
  const worker = async () => {
    while (next < messages.length) {
      const connection = await connect(input.port)
      try {
        for (let sent = 0; sent < input.perConnection && next < messages.length; sent++) {
          const index = next++
          const message = messages[index] as Prepared
          if (input.rate !== undefined) {
            const due = started + (index / input.rate) * 1000
            const wait = due - performance.now()
            if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
          }
          const answer = await send(connection, message)
          lastAnswer = performance.now()
          if (answer.ok) latencies.push(answer.ms)
          else {
            refused.set(answer.response, (refused.get(answer.response) ?? 0) + 1)
            // The session may be mid-transaction: the next message starts on a new connection.
            break
          }
        }
      } finally {
        connection.close()
      }
    }
  }
  await Promise.all(Array.from({ length: input.connections }, worker))
  latencies.sort((a, b) => a - b)
  return { rate: latencies.length / ((lastAnswer - started) / 1000), latencies, refused }
}

function connect(port: number): Promise<SMTPConnection> {
  const connection = new SMTPConnection({
    host: '127.0.0.1',
    port,
    secure: false,
    ignoreTLS: true,
    localAddress: clientAddress(),
    name: 'mx.client.example',
    socketTimeout: 120_000,
  })
  return new Promise((resolve, reject) => {
    connection.once('error', reject)
    connection.connect(() => {
      connection.off('error', reject)
      // A late error (the server hung up) fails the send in progress, which reports it.
      connection.on('error', () => {})
      resolve(connection)
    })
  })
}

type Answer = { ok: true; ms: number } | { ok: false; response: string }

/** One message; `ms` runs from the moment its last byte went to the connection to the answer. */
function send(connection: SMTPConnection, message: Prepared): Promise<Answer> {
  return new Promise((resolve) => {
    // The connection reads the message only after the server's 354, so its end is the end of DATA.
    const body = Readable.from([message.raw], { objectMode: false })
    let dataEnd = Number.NaN
    body.once('end', () => {
      dataEnd = performance.now()
    })
    connection.send({ from: message.from, to: [message.to] }, body, (error, info) => {
      if (error) {
        const failure = error as Error & { response?: string }
        resolve({ ok: false, response: (failure.response ?? failure.message).split('\n')[0] ?? '' })
        return
      }
      const response = info.response ?? ''
      if (!response.startsWith('2')) resolve({ ok: false, response })
      else resolve({ ok: true, ms: performance.now() - dataEnd })
    })
  })
}

export function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? Number.NaN
}
