import {
  type DeliveryItem,
  type Envelope,
  type ItemResult,
  newId,
  type RelayFrame,
  RelayFrameSchema,
  type SignedReceipt,
  type SubmitResult,
  signSocketAuth,
} from '@ochat/shared-protocol'
import type { Clock } from '@ochat/shared-protocol/server'
import WebSocket from 'ws'
import type { Instance } from '../identity/instance.ts'

/** Close codes the relay uses (PROTOCOL.md §6.1). */
const CLOSE_SUSPENDED = 4403
/**
 * The relay is stopping (1012, Service Restart; 4503 from relays before it): its balancer has other
 * replicas, so the node reconnects at once instead of after a backoff.
 */
const CLOSE_RESTARTING = new Set([1012, 4503])

/**
 * Reconnect delays: 0.5 s doubling to 30 s, with jitter ×(0.8–1.2), both times the retry scale (1 in
 * production); a suspended node retries every 5 min.
 */
const RECONNECT_MIN_MS = 500
const RECONNECT_MAX_MS = 30_000
const SUSPENDED_RETRY_MS = 5 * 60_000
/** A submit over the socket not answered within 15 s is treated as a failed attempt (the outbox retries). */
const SUBMIT_TIMEOUT_MS = 15_000
/** Keeps NATs and proxies from dropping an idle socket: 25 s. */
const PING_EVERY_MS = 25_000

export type SocketState = 'connecting' | 'ready' | 'down' | 'suspended' | 'stopped'

export type RelaySocketEvents = {
  /** Authenticated: the relay drains this node's queue now; the node flushes its outbox. */
  onReady(): void
  /** Stores the items durably, then answers one result per item and Delivered receipts. */
  onDeliver(items: DeliveryItem[]): Promise<{ results: ItemResult[]; receipts: SignedReceipt[] }>
  onState(state: SocketState, error?: string): void
}

/**
 * The node's outbound WebSocket to its relay (PROTOCOL.md §6): works behind NAT and firewalls.
 * Answers the challenge with the identity key, then receives deliveries and acknowledges each after
 * the durable write; also carries submits and Read receipts while it is up. Reconnects with backoff, or
 * at once when the relay says it is restarting.
 */
export class RelaySocket {
  readonly #url: string
  readonly #instance: Instance
  readonly #clock: Clock
  readonly #events: RelaySocketEvents
  readonly #retryScale: number
  #socket: WebSocket | undefined
  #state: SocketState = 'down'
  #attempt = 0
  #timer: NodeJS.Timeout | undefined
  #ping: NodeJS.Timeout | undefined
  #stopped = false
  readonly #submits = new Map<
    string,
    { resolve(results: SubmitResult[]): void; reject(error: Error): void; timer: NodeJS.Timeout }
  >()
  /** Deliveries being stored: stop() waits for them, so nothing acked is lost and nothing stored is unacked. */
  readonly #inFlight = new Set<Promise<void>>()

  constructor(props: {
    relayUrl: string
    instance: Instance
    clock: Clock
    events: RelaySocketEvents
    /** Factor on the reconnect delays and their cap (OchatSettings.ochatRetryScale). */
    retryScale: number
  }) {
    this.#url = `${props.relayUrl.replace(/^http/, 'ws')}/v1/ws`
    this.#instance = props.instance
    this.#clock = props.clock
    this.#events = props.events
    this.#retryScale = props.retryScale
  }

  get state(): SocketState {
    return this.#state
  }

  start(): void {
    this.#stopped = false
    this.#connect()
  }

  /** Reconnects now (e.g. after the registration came back from suspension). */
  reconnectNow(): void {
    if (this.#stopped || this.#state === 'ready' || this.#state === 'connecting') return
    clearTimeout(this.#timer)
    this.#connect()
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    clearInterval(this.#ping)
    await Promise.allSettled([...this.#inFlight])
    const socket = this.#socket
    if (socket && socket.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve())
        socket.close(1000, 'node stopping')
        setTimeout(() => {
          socket.terminate()
          resolve()
        }, 2000).unref()
      })
    }
    this.#setState('stopped')
  }

  /** Submits envelopes over the socket; rejects if the socket is not ready or goes down first. */
  submit(envelopes: Envelope[]): Promise<SubmitResult[]> {
    const socket = this.#socket
    if (this.#state !== 'ready' || !socket)
      return Promise.reject(new Error('the relay socket is not connected'))
    const requestId = newId(this.#clock.now())
    return new Promise<SubmitResult[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#submits.delete(requestId)
        reject(new Error('the relay did not answer the submit within 15 s'))
      }, SUBMIT_TIMEOUT_MS)
      this.#submits.set(requestId, { resolve, reject, timer })
      socket.send(JSON.stringify({ type: 'submit', requestId, envelopes }))
    })
  }

  /** Sends receipts on their own (Read); false when the socket is not ready (the caller uses HTTP). */
  sendReceipts(receipts: SignedReceipt[]): boolean {
    if (this.#state !== 'ready' || !this.#socket) return false
    this.#socket.send(JSON.stringify({ type: 'receipt', receipts }))
    return true
  }

  #setState(state: SocketState, error?: string): void {
    this.#state = state
    this.#events.onState(state, error)
  }

  #connect(): void {
    if (this.#stopped) return
    this.#setState('connecting')
    const socket = new WebSocket(this.#url, { maxPayload: 80 * 1024 * 1024, handshakeTimeout: 15_000 })
    this.#socket = socket
    let lastError: string | undefined
    socket.on('message', (data) => this.#onFrame(socket, String(data)))
    socket.on('error', (error) => {
      lastError = (error as { code?: string }).code ?? error.message
    })
    socket.on('close', (code, reasonBuffer) => {
      clearInterval(this.#ping)
      if (this.#socket === socket) this.#socket = undefined
      for (const [id, pending] of this.#submits) {
        clearTimeout(pending.timer)
        pending.reject(new Error('the relay socket closed before answering'))
        this.#submits.delete(id)
      }
      if (this.#stopped) return
      const wasReady = this.#state === 'ready'
      const reason = String(reasonBuffer)
      if (code === CLOSE_SUSPENDED) {
        this.#setState('suspended', reason || 'this instance is suspended on the relay')
        this.#timer = setTimeout(() => this.#connect(), SUSPENDED_RETRY_MS)
        return
      }
      this.#setState(
        'down',
        lastError ? `cannot reach the relay at ${this.#url}: ${lastError}` : `closed ${code} ${reason}`,
      )
      // Only from an authenticated socket: a relay that closes every new socket must not be hammered.
      if (wasReady && CLOSE_RESTARTING.has(code)) {
        this.#attempt = 0
        this.#connect()
        return
      }
      const base = this.#retryScale * Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** this.#attempt)
      this.#attempt++
      this.#timer = setTimeout(() => this.#connect(), base * (0.8 + Math.random() * 0.4))
    })
  }

  #onFrame(socket: WebSocket, text: string): void {
    let frame: RelayFrame
    try {
      frame = RelayFrameSchema.parse(JSON.parse(text))
    } catch {
      // A relay that speaks something else: drop the socket and reconnect later.
      socket.close(4400, 'malformed frame')
      return
    }
    switch (frame.type) {
      case 'challenge': {
        if (frame.relayId !== this.#instance.relayId) {
          socket.close(4400, 'wrong relay')
          return
        }
        const auth = signSocketAuth(
          {
            relayId: this.#instance.relayId,
            instanceId: this.#instance.instanceId,
            challenge: frame.challenge,
            at: this.#clock.now(),
          },
          this.#instance.identity.secretKey,
        )
        socket.send(JSON.stringify(auth))
        return
      }
      case 'ready':
        this.#attempt = 0
        this.#setState('ready')
        this.#ping = setInterval(
          () => socket.send(JSON.stringify({ type: 'ping', at: this.#clock.now() })),
          PING_EVERY_MS,
        )
        this.#ping.unref()
        this.#events.onReady()
        return
      case 'deliver': {
        const work = this.#events
          .onDeliver(frame.items)
          .then(({ results, receipts }) => {
            if (socket.readyState === WebSocket.OPEN)
              socket.send(JSON.stringify({ type: 'ack', results, receipts }))
          })
          // Not stored: no ack, the relay offers the items again after its visibility timeout.
          .catch(() => undefined)
          .finally(() => this.#inFlight.delete(work))
        this.#inFlight.add(work)
        return
      }
      case 'submitted': {
        const pending = this.#submits.get(frame.requestId)
        if (!pending) return
        clearTimeout(pending.timer)
        this.#submits.delete(frame.requestId)
        pending.resolve(frame.results)
        return
      }
      case 'error': {
        const pending = frame.requestId ? this.#submits.get(frame.requestId) : undefined
        if (pending && frame.requestId) {
          clearTimeout(pending.timer)
          this.#submits.delete(frame.requestId)
          pending.reject(
            Object.assign(new Error(frame.error.message), {
              reason: frame.error.reason,
              code: frame.error.code,
            }),
          )
        }
        return
      }
      case 'ping':
        socket.send(JSON.stringify({ type: 'pong', at: this.#clock.now() }))
        return
      case 'pong':
        return
    }
  }
}
