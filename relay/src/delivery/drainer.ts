import type { Clock } from '@ochat/shared-protocol/server'
import type { FastifyBaseLogger } from 'fastify'
import type { Db } from '../db/client.ts'
import { loggable } from '../errors.ts'
import type { DeliverySettings } from '../settings.ts'
import { type ClaimedItem, claimDue, releaseClaims } from './queue-repository.ts'

/** What the drainer needs of a socket: who it is, how much room its window has, and how to hand items over. */
export interface DrainTarget {
  readonly destination: string
  readonly closed: boolean
  /** Free places in the socket's window (256 − unacknowledged − held for a hand-off). */
  room(): number
  /** Takes claimed items, oldest first, and sends them. */
  take(items: ClaimedItem[]): void
  /**
   * Set by the drainer: more may be waiting in the queue than the last claim took (it filled the window,
   * the window was full, what it claimed did not fit, or the claim failed). The socket asks again when
   * an ack frees room only then: otherwise every ack would cost a claim that finds nothing, as envelopes
   * and receipts are mostly handed to the socket at commit (envelope-writer.ts, ack-writer.ts) and never
   * queued for a claim.
   */
  owed: boolean
}

/**
 * Claims work for many sockets in one query. Wake-ups, acks and connects ask for a drain; requests that
 * arrive while a claim runs are served together by the next one. A bulk send to 1,000 connected
 * recipients costs one claim query, not 1,000.
 */
export class Drainer {
  readonly #db: Db
  readonly #clock: Clock
  readonly #config: DeliverySettings
  readonly #log: FastifyBaseLogger
  #pending = new Map<DrainTarget, (() => void)[]>()
  #running: Promise<void> | undefined

  constructor(props: { db: Db; clock: Clock; config: DeliverySettings; log: FastifyBaseLogger }) {
    this.#db = props.db
    this.#clock = props.clock
    this.#config = props.config
    this.#log = props.log
  }

  /** Resolves once a claim that includes this target has run (and its items were handed over). */
  request(target: DrainTarget): Promise<void> {
    return new Promise((resolve) => {
      const waiting = this.#pending.get(target) ?? []
      waiting.push(resolve)
      this.#pending.set(target, waiting)
      this.#running ??= this.#run().finally(() => {
        this.#running = undefined
      })
    })
  }

  async #run(): Promise<void> {
    while (this.#pending.size > 0) {
      // Let the requests of this turn of the event loop gather first.
      await new Promise((resolve) => setImmediate(resolve))
      const batch = this.#pending
      this.#pending = new Map()
      const rooms = new Map<DrainTarget, number>()
      for (const target of batch.keys()) {
        if (target.closed) continue
        const room = target.room()
        // A full window takes nothing now; its next ack asks again.
        if (room > 0) rooms.set(target, room)
        else target.owed = true
      }
      try {
        const again = await this.#claim(rooms)
        for (const target of again) this.request(target).catch(() => {})
      } catch (error) {
        // Nothing is lost: the items stay in the queue; the next ack, or the poll backstop, asks again.
        for (const target of rooms.keys()) target.owed = true
        this.#log.error({ err: loggable(error) }, 'claiming deliveries failed')
      }
      for (const waiting of batch.values()) for (const resolve of waiting) resolve()
    }
  }

  /** One claim for all targets; returns those that filled their window and may have more waiting. */
  async #claim(rooms: Map<DrainTarget, number>): Promise<DrainTarget[]> {
    if (rooms.size === 0) return []
    const items = await claimDue(this.#db, {
      rooms: [...rooms].map(([target, room]) => ({ destination: target.destination, room })),
      replicaId: this.#config.replicaId,
      nowMs: this.#clock.now(),
      visibilityMs: this.#config.claimVisibilityMs,
    })
    const full: DrainTarget[] = []
    const unfit: number[] = []
    for (const [target, room] of rooms) {
      const list = items.get(target.destination) ?? []
      // Items handed to the socket at commit while the claim ran (envelope-writer.ts, ack-writer.ts) may
      // have taken some of the room it asked for, or the socket may have closed: what no longer fits goes
      // back to the queue, due at once, and the socket is owed it. The window never holds more than 256,
      // and hand-offs never wait for a claim.
      const fits = target.closed ? 0 : Math.max(0, target.room())
      if (fits > 0 && list.length > 0) target.take(list.slice(0, fits))
      for (const item of list.slice(fits)) unfit.push(item.qid)
      // Fewer than the claim asked for, all handed over: nothing more was due for it.
      target.owed = list.length >= room || list.length > fits
      if (target.owed) full.push(target)
    }
    // One statement for all; if it fails, those items come back when their claim runs out.
    if (unfit.length > 0) await releaseClaims(this.#db, { qids: unfit, replicaId: this.#config.replicaId })
    return full
  }
}
