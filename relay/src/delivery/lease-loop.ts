import type { Clock } from '@ochat/shared-protocol/server'

/** What readiness is told about the lease heartbeat. */
export type LeaseLoopHealth = 'beating' | 'stopped' | 'late'

type LeaseLoopProps = {
  clock: Clock
  /** Between two renewals (RELAY_LEASE_HEARTBEAT_MS). */
  intervalMs: number
  /** A renewal older than this is late (RELAY_LEASE_TTL_MS: by then the leases have expired). */
  lateAfterMs: number
  renew: () => Promise<void>
  onError: (error: unknown) => void
}

/**
 * The heartbeat that renews the leases of the sockets this replica holds (lease-repository.ts). A
 * replica whose heartbeat stopped, or has not got a renewal through within the lease lifetime, has let
 * its leases lapse: other replicas take its nodes over, and a balancer should stop sending it sockets.
 */
export class LeaseLoop {
  readonly #props: LeaseLoopProps
  #timer: NodeJS.Timeout | undefined
  /** When the last renewal committed; the start counts as one, as nothing is held yet. */
  #lastBeatMs: number

  constructor(props: LeaseLoopProps) {
    this.#props = props
    this.#lastBeatMs = props.clock.now()
  }

  start(): void {
    if (this.#timer) return
    this.#lastBeatMs = this.#props.clock.now()
    this.#timer = setInterval(() => void this.beat(), this.#props.intervalMs)
    this.#timer.unref()
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  /** One renewal now; a failed one is logged and leaves the heartbeat older. */
  async beat(): Promise<void> {
    try {
      await this.#props.renew()
      this.#lastBeatMs = this.#props.clock.now()
    } catch (error) {
      this.#props.onError(error)
    }
  }

  health(): LeaseLoopHealth {
    if (!this.#timer) return 'stopped'
    return this.#props.clock.now() - this.#lastBeatMs > this.#props.lateAfterMs ? 'late' : 'beating'
  }
}
