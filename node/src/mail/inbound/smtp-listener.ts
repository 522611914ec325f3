import { readFileSync } from 'node:fs'
import { type AddressInfo, isIPv6 } from 'node:net'
import { PassThrough, type Readable } from 'node:stream'
import type { Clock } from '@ochat/shared-protocol/server'
import { SMTPServer, type SMTPServerSession } from 'smtp-server'
import type { InboundSmtpSettings } from '../../settings.ts'
import {
  acceptsRecipient,
  type InboundDeps,
  type InboundResult,
  type InboundVia,
  receiveMail,
} from './receive.ts'
import { RelayClients } from './relay-clients.ts'

/** The intake as the listener uses it: a test can hand in its own. */
export type Intake = {
  receive(input: {
    raw: Buffer | Readable
    via: InboundVia
    envelope?: { from: string | null; to: string[] }
    client?: string
  }): Promise<InboundResult>
  accepts(address: string): boolean
}

/** Connections open at once, in all and from one client address, unless the settings say otherwise. */
export const MAX_CONNECTIONS = 100
export const MAX_CONNECTIONS_PER_IP = 10

/** Where the listener listens, and how many connections it keeps open at once. */
export type SmtpListenerSettings = InboundSmtpSettings

/** A message names at most this many recipients: more is a mass mailing, not a conversation. */
export const MAX_RECIPIENTS = 50
/**
 * Messages a minute from one sender address, and from one client address other than a relay client
 * (NODE_SMTP_RELAY_CLIENTS), which carries every sender's mail.
 */
export const MESSAGES_PER_MINUTE = 60
const WINDOW_MS = 60_000

/** An SMTP answer: smtp-server sends `err.responseCode` and `err.message` as they are. */
function answer(code: number, text: string): Error & { responseCode: number } {
  return Object.assign(new Error(text), { responseCode: code })
}

/**
 * Sliding one-minute windows of message times per key (a sender address, a client address). A key's
 * times are dropped once they leave the window, so the map holds only the last minute's senders.
 */
class RateWindow {
  readonly #times = new Map<string, number[]>()

  /** Counts a message for `key`; answers the seconds to wait when the key is already at the limit. */
  take(key: string, now: number): number | null {
    const times = (this.#times.get(key) ?? []).filter((time) => time > now - WINDOW_MS)
    if (times.length >= MESSAGES_PER_MINUTE) {
      this.#times.set(key, times)
      return Math.max(1, Math.ceil(((times[0] as number) + WINDOW_MS - now) / 1000))
    }
    times.push(now)
    this.#times.set(key, times)
    if (this.#times.size > 10_000) this.#prune(now)
    return null
  }

  #prune(now: number): void {
    for (const [key, times] of this.#times)
      if ((times.at(-1) ?? 0) <= now - WINDOW_MS) this.#times.delete(key)
  }
}

/**
 * The connections open at once, in all and per client address: one client holding every connection
 * would keep the other companies' servers out (each connection also costs a socket and a parser).
 * A relay client is held to the total only: it is the one door of every company's mail.
 */
class ConnectionCount {
  readonly #byClient = new Map<string, number>()
  readonly #open = new Set<string>()

  constructor(
    readonly max: number,
    readonly maxPerClient: number,
  ) {}

  /** Counts a connection in; answers why not when it is over a limit. */
  open(id: string, client: string, relay: boolean): string | null {
    if (this.#open.size >= this.max)
      return `4.7.0 too many connections (at most ${this.max}): try again later`
    const fromClient = this.#byClient.get(client) ?? 0
    if (!relay && fromClient >= this.maxPerClient)
      return `4.7.0 too many connections from ${client} (at most ${this.maxPerClient}): try again later`
    this.#open.add(id)
    this.#byClient.set(client, fromClient + 1)
    return null
  }

  /** A connection closed; one that was refused was never counted. */
  close(id: string, client: string): void {
    if (!this.#open.delete(id)) return
    const left = (this.#byClient.get(client) ?? 1) - 1
    if (left > 0) this.#byClient.set(client, left)
    else this.#byClient.delete(client)
  }
}

/**
 * What one client is, for the limits per client: an IPv4 address, or an IPv6 /64. One host is
 * handed a whole /64, so counting each IPv6 address apart would give one sender 2^64 allowances.
 */
export function clientKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped) return mapped[1] as string
  if (!isIPv6(address)) return address
  const [head = '', tail = ''] = address.split('::')
  const left = head ? head.split(':') : []
  const right = address.includes('::') && tail ? tail.split(':') : []
  const groups = address.includes('::')
    ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
    : left
  return `${groups
    .slice(0, 4)
    .map((group) => Number.parseInt(group, 16).toString(16))
    .join(':')}::/64`
}

/** The intake (receive.ts) working on a node's InboundDeps. */
export function intakeOf(deps: InboundDeps): Intake {
  return {
    receive: (input) => receiveMail(deps, input),
    accepts: (address) => acceptsRecipient(deps, address),
  }
}

/**
 * Incoming mail over SMTP: takes mail for the node's own addresses only (never a relay), without
 * AUTH, up to `maxBytes` a message and MAX_RECIPIENTS recipients, at a bounded rate per sender and per
 * client (but for the relay clients); after DATA the intake decides and its answer is the client's.
 */
export class SmtpListener {
  readonly #server: SMTPServer
  readonly #settings: SmtpListenerSettings
  #address: AddressInfo | null = null

  constructor(input: {
    settings: SmtpListenerSettings
    maxBytes: number
    intake: Intake
    clock: Clock
    /** The greeting's host name. */
    name: string
    log: { warn(object: object, message: string): void; error(object: object, message: string): void }
  }) {
    const { intake, clock, maxBytes, log } = input
    this.#settings = input.settings
    const bySender = new RateWindow()
    const byClient = new RateWindow()
    const relays = new RelayClients(input.settings.relayClients ?? [])
    const connections = new ConnectionCount(
      input.settings.maxConnections ?? MAX_CONNECTIONS,
      input.settings.maxConnectionsPerIp ?? MAX_CONNECTIONS_PER_IP,
    )
    const tls = input.settings.tls
    this.#server = new SMTPServer({
      name: input.name,
      banner: 'mail for this node only',
      authOptional: true,
      disabledCommands: tls ? ['AUTH'] : ['AUTH', 'STARTTLS'],
      ...(tls ? { key: readFileSync(tls.keyFile), cert: readFileSync(tls.certFile) } : {}),
      // Announced in EHLO so a client can refuse a large message before sending it; enforced below.
      size: maxBytes,
      // A backstop for sockets not yet greeted (onConnect counts the greeted ones): well above the limit.
      maxClients: connections.max * 2,
      // A stopping node waits this long for a message being received, then hangs up (the client retries).
      closeTimeout: 5_000,
      logger: false,
      onConnect(session, callback) {
        const address = session.remoteAddress || 'unknown'
        const refusal = connections.open(session.id, clientKey(address), relays.has(address))
        if (refusal !== null) return callback(answer(421, refusal))
        callback()
      },
      onClose(session) {
        connections.close(session.id, clientKey(session.remoteAddress || 'unknown'))
      },
      onMailFrom(address, session, callback) {
        const now = clock.now()
        const remote = session.remoteAddress || 'unknown'
        const client = clientKey(remote)
        const clientWait = relays.has(remote) ? null : byClient.take(`ip:${client}`, now)
        if (clientWait !== null)
          return callback(answer(451, `4.7.1 too many messages from ${client}: try again in ${clientWait} s`))
        const sender = address.address.toLowerCase()
        const senderWait = sender ? bySender.take(`from:${sender}`, now) : null
        if (senderWait !== null)
          return callback(answer(451, `4.7.1 too many messages from ${sender}: try again in ${senderWait} s`))
        callback()
      },
      onRcptTo(address, session, callback) {
        if (session.envelope.rcptTo.length >= MAX_RECIPIENTS)
          return callback(answer(452, `4.5.3 too many recipients: at most ${MAX_RECIPIENTS} a message`))
        let accepted = false
        try {
          accepted = intake.accepts(address.address)
        } catch (error) {
          log.error({ err: error }, 'incoming mail: could not check a recipient')
          return callback(answer(451, '4.3.0 cannot check this recipient now: try again later'))
        }
        if (!accepted) return callback(answer(550, `5.1.1 <${address.address}>: no such mailbox here`))
        callback()
      },
      onData(stream, session, callback) {
        const message = limitTo(stream, maxBytes)
        // The message goes to the intake as it arrives: only its parse, never the whole of it, is held.
        intake
          .receive({
            raw: message.body,
            via: 'smtp',
            envelope: envelopeOf(session),
            client: session.remoteAddress,
          })
          .then(
            async (result) => {
              // The client is answered after its final dot, whatever the intake made of the message.
              const arrived = await message.arrived
              if (message.tooBig())
                return callback(answer(552, `5.3.4 message too big: at most ${maxBytes} bytes`))
              if (!arrived) {
                log.warn({}, 'incoming mail: the message could not be read')
                return callback(answer(451, '4.3.0 the message did not arrive whole: try again'))
              }
              if (result.smtp.code < 400) return callback(null, result.smtp.message)
              callback(answer(result.smtp.code, result.smtp.message))
            },
            async (error: unknown) => {
              await message.arrived
              log.error({ err: error }, 'incoming mail: the intake failed')
              callback(answer(451, '4.3.0 cannot take this message now: try again later'))
            },
          )
      },
    })
    this.#server.on('error', (error) => log.warn({ err: error }, 'incoming mail: SMTP connection error'))
  }

  /** Listens on the settings' host and port (0: any free port); answers where. */
  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      const failed = (error: Error) => reject(error)
      this.#server.server.once('error', failed)
      this.#server.listen(this.#settings.port, this.#settings.host, () => {
        this.#server.server.off('error', failed)
        resolve()
      })
    })
    this.#address = this.#server.server.address() as AddressInfo
    return this.#address
  }

  /** Where it listens, once listening. */
  get address(): AddressInfo | null {
    return this.#address
  }

  /** Stops taking connections; a message being received is finished first. */
  async close(): Promise<void> {
    if (!this.#address) return
    this.#address = null
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }
}

function envelopeOf(session: SMTPServerSession): { from: string | null; to: string[] } {
  const from = session.envelope.mailFrom
  return {
    from: from ? from.address || null : null,
    to: session.envelope.rcptTo.map((recipient) => recipient.address),
  }
}

/** The message cut off at its size limit, so the intake stores nothing of it. */
class TooBig extends Error {}

/**
 * The DATA stream up to `maxBytes`, as a stream the intake reads at its own pace. Past the limit it
 * fails (the intake stores nothing) and the rest is read and dropped: the client is owed an answer after
 * its final dot. `arrived` settles when the client's stream has ended: true when it ended whole.
 */
function limitTo(
  stream: Readable,
  maxBytes: number,
): { body: Readable; arrived: Promise<boolean>; tooBig(): boolean } {
  const body = new PassThrough()
  let size = 0
  let over = false
  // A body the intake stopped reading holds no data back.
  body.once('close', () => stream.resume())
  stream.on('data', (chunk: Buffer) => {
    size += chunk.length
    if (over) return
    if (size > maxBytes) {
      over = true
      body.destroy(new TooBig(`more than ${maxBytes} bytes`))
      return
    }
    if (!body.write(chunk)) {
      stream.pause()
      body.once('drain', () => stream.resume())
    }
  })
  const arrived = new Promise<boolean>((resolve) => {
    stream.once('end', () => {
      if (!over) body.end()
      resolve(!over)
    })
    stream.once('error', (error) => {
      body.destroy(error)
      resolve(false)
    })
    // A connection that closed before the final dot ends the message without 'end'.
    stream.once('close', () => {
      if (!body.writableEnded) body.destroy(new Error('the connection closed during DATA'))
      resolve(false)
    })
  })
  return { body, arrived, tooBig: () => over }
}
