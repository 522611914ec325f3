import { LIMITS, type NodeFrame, type RelayFrame, reason } from '@ochat/shared-protocol'
import type { Clock } from '@ochat/shared-protocol/server'
import type { FastifyBaseLogger } from 'fastify'
import type { Db } from '../db/client.ts'
import type { EnvelopeWriter } from '../envelopes/envelope-writer.ts'
import type { RateLimiter } from '../envelopes/rate-limiter.ts'
import { submitEnvelopes } from '../envelopes/submit-envelopes.ts'
import { loggable } from '../errors.ts'
import type { InstanceRow } from '../instances/repository.ts'
import type { SocketSettings } from '../settings.ts'
import { acceptReceipts, type ReceiptOutcome } from './accept-receipts.ts'
import type { AckWriter, HandOffTarget } from './ack-writer.ts'
import type { Drainer, DrainTarget } from './drainer.ts'
import { dropLease } from './lease-repository.ts'
import type { DeliveryMetrics } from './metrics.ts'
import { type ClaimedItem, releaseClaimsOf } from './queue-repository.ts'
import type { SubmitRequestIds } from './submit-request-ids.ts'

export type SessionDeps = {
  db: Db
  clock: Clock
  config: SocketSettings
  writer: EnvelopeWriter
  limits: { instance: RateLimiter; connection: RateLimiter }
  log: FastifyBaseLogger
  metrics: DeliveryMetrics
  drainer: Drainer
  acks: AckWriter
  submits: SubmitRequestIds
}

/**
 * One authenticated node socket on this replica (PROTOCOL.md §6): pushes what is queued for the node,
 * at most 256 unacknowledged at a time, and handles what the node sends.
 */
export class SocketSession implements DrainTarget, HandOffTarget {
  readonly instance: InstanceRow
  /** The generation of the lease this socket holds (lease-repository.ts); set once the lease is taken. */
  leaseGeneration = 0
  readonly inflight = new Map<string, ClaimedItem>()
  readonly #deps: SessionDeps
  readonly #send: (text: string) => void
  readonly #close: (code: number, why: string) => void
  #closed = false
  /** When each unacknowledged item's claim runs out, ms. */
  readonly #claimExpires = new Map<string, number>()
  #stopping = false
  /** Submits waiting for their commit; shutdown waits for them. */
  readonly #submits = new Set<Promise<void>>()
  /** Acknowledgements waiting for their commit; shutdown waits for them. */
  readonly #settling = new Set<Promise<void>>()
  /** Items acknowledged by the node whose acknowledgement is not yet committed, by item id. */
  readonly #acked = new Map<string, ClaimedItem>()
  /** Window places held for receipts being committed for this socket (ack-writer.ts). */
  #reserved = 0
  /** More may be queued than the last claim took (drainer.ts); until a first claim, assume so. */
  owed = true

  constructor(props: {
    deps: SessionDeps
    instance: InstanceRow
    send: (text: string) => void
    close: (code: number, why: string) => void
  }) {
    this.#deps = props.deps
    this.instance = props.instance
    this.#send = props.send
    this.#close = props.close
  }

  get closed(): boolean {
    return this.#stopping
  }

  sendFrame(frame: RelayFrame): void {
    if (!this.#closed) this.#send(JSON.stringify(frame))
  }

  /** Sends what is due, up to the window; claims are batched across sockets by the drainer. */
  drain(): Promise<void> {
    if (this.#stopping) return Promise.resolve()
    return this.#deps.drainer.request(this)
  }

  get destination(): string {
    return this.instance.id
  }

  room(): number {
    // Items the node never acknowledged leave the window when their claim expires, so a node that
    // drops acks cannot freeze its socket; they are offered again from the queue.
    const nowMs = this.#deps.clock.now()
    for (const [itemId, expires] of this.#claimExpires) {
      if (expires > nowMs) continue
      this.#claimExpires.delete(itemId)
      this.inflight.delete(itemId)
    }
    return LIMITS.socketWindow - this.inflight.size - this.#reserved
  }

  reserve(count: number): boolean {
    if (this.#stopping || this.room() < count) return false
    this.#reserved += count
    return true
  }

  unreserve(count: number): void {
    this.#reserved = Math.max(0, this.#reserved - count)
  }

  take(items: ClaimedItem[]): void {
    if (this.#closed) return
    const claimExpires = this.#deps.clock.now() + this.#deps.config.claimVisibilityMs
    for (const item of items) {
      this.inflight.set(item.itemId, item)
      this.#claimExpires.set(item.itemId, claimExpires)
    }
    // The bodies are stored as the exact JSON of each item: no parse, no re-serialise.
    this.#send(`{"type":"deliver","items":[${items.map((item) => item.body).join(',')}]}`)
  }

  async handle(frame: NodeFrame): Promise<void> {
    switch (frame.type) {
      case 'ack': {
        // The node holds what it acknowledged: those items leave the window now, so the next ones go
        // out while the ack commits. They stay claimed in the queue, so no claim offers them again; if
        // the commit fails, they are offered again when the claim expires.
        for (const result of frame.results) {
          const item = this.inflight.get(result.id)
          if (!item) continue
          this.#acked.set(result.id, item)
          this.inflight.delete(result.id)
          this.#claimExpires.delete(result.id)
        }
        const settling = this.#settle(frame).finally(() => this.#settling.delete(settling))
        this.#settling.add(settling)
        if (this.owed) this.drain().catch(() => {})
        return
      }
      case 'receipt': {
        const { outcomes } = await this.#deps.db.transaction((tx) =>
          acceptReceipts({
            tx,
            recipient: this.instance,
            receipts: frame.receipts,
            nowMs: this.#deps.clock.now(),
            deadlineMs: this.#deps.config.deliveryDeadlineMs,
          }),
        )
        this.#reportRefusedReceipts(outcomes)
        return
      }
      case 'submit': {
        // Not awaited: the next frames are read while this one waits for its commit, so submits from
        // one socket share group commits. Results carry the requestId; order is kept by the writer.
        // The frame's requestId traces the submit as an HTTP submit's X-Request-Id does: the webhook
        // that delivers these envelopes carries it.
        this.#deps.submits.remember(
          frame.envelopes.map((envelope) => envelope.header.id),
          frame.requestId,
        )
        const work = submitEnvelopes({
          db: this.#deps.db,
          writer: this.#deps.writer,
          limits: this.#deps.limits,
          sender: this.instance.id,
          envelopes: frame.envelopes,
          nowMs: this.#deps.clock.now(),
        })
          .then(({ results }) => this.sendFrame({ type: 'submitted', requestId: frame.requestId, results }))
          .catch((error: unknown) => {
            this.#deps.log.error({ err: loggable(error) }, 'submit over the socket failed')
            this.sendFrame({
              type: 'error',
              requestId: frame.requestId,
              error: {
                code: 'E_INTERNAL',
                message: 'The relay could not store these envelopes; retry them.',
                reason: reason('error', 'not stored; retry'),
              },
            })
          })
          .finally(() => this.#submits.delete(work))
        this.#submits.add(work)
        return
      }
      case 'ping':
        this.sendFrame({ type: 'pong', at: this.#deps.clock.now() })
        return
      case 'pong':
        return
      case 'auth':
        this.sendFrame({
          type: 'error',
          error: {
            code: 'E_ALREADY_AUTHENTICATED',
            message: 'This socket is already authenticated.',
            reason: reason('invalid', 'auth sent twice'),
          },
        })
        return
    }
  }

  /** Commits an ack, merged with the acks of every socket on this replica (ack-writer.ts). */
  async #settle(frame: Extract<NodeFrame, { type: 'ack' }>): Promise<void> {
    try {
      const { settled, delivered, receipts } = await this.#deps.acks.submit({
        recipient: this.instance,
        results: frame.results,
        receipts: frame.receipts,
        inflight: this.#acked,
      })
      for (const id of settled) {
        this.inflight.delete(id)
        this.#claimExpires.delete(id)
      }
      if (delivered.length > 0)
        this.#deps.metrics.deliveries.inc({ path: 'ws', outcome: 'delivered' }, delivered.length)
      this.#reportRefusedReceipts(receipts)
    } catch (error) {
      // Nothing is lost: unacknowledged items stay claimed and are offered again after the claim expires.
      this.#deps.log.error({ err: loggable(error) }, 'acknowledgement failed')
    } finally {
      for (const result of frame.results) this.#acked.delete(result.id)
    }
    if (this.owed) await this.drain()
  }

  /**
   * A refused receipt is answered with an `error` frame carrying the refusal's own code (PROTOCOL.md
   * §6.2): frames have no per-receipt result, and a node must tell a bad signature from a missing
   * connection.
   */
  #reportRefusedReceipts(outcomes: ReceiptOutcome[]): void {
    for (const outcome of outcomes) {
      if (outcome.ok) continue
      this.sendFrame({
        type: 'error',
        error: {
          code: outcome.code,
          message: `Receipt ${outcome.id} was refused.`,
          reason: outcome.reason,
        },
      })
    }
  }

  /** Stops sending; what was claimed and not settled is due again at once for the next socket. */
  async shutdown(code?: number, why?: string): Promise<void> {
    if (this.#stopping) return
    // Stop taking new deliveries, but let submits and acks already under way finish and answer.
    this.#stopping = true
    // Acks can still arrive for what is in flight: wait until none is left uncommitted.
    while (this.#submits.size > 0 || this.#settling.size > 0)
      await Promise.allSettled([...this.#submits, ...this.#settling])
    this.#closed = true
    if (code !== undefined) this.#close(code, why ?? '')
    await releaseClaimsOf(this.#deps.db, {
      destination: this.instance.id,
      replicaId: this.#deps.config.replicaId,
    })
    // The node is not reachable here any more: without this, its webhook waits for the lease to expire.
    if (this.leaseGeneration > 0)
      await dropLease(this.#deps.db, {
        instanceId: this.instance.id,
        replicaId: this.#deps.config.replicaId,
        generation: this.leaseGeneration,
      })
  }
}
