import type { Clock } from '@ochat/shared-protocol/server'
import type { FastifyBaseLogger } from 'fastify'
import type { Db } from '../../db/client.ts'
import type { WriteQueue } from '../../db/write-queue.ts'
import { NodeError } from '../../errors.ts'
import type { RelayHttpClient } from '../relay/http-client.ts'
import { type Instance, identityRow } from './instance.ts'
import type { Keystore } from './keystore.ts'
import { rotateKeys, settlePendingRotation } from './rotate-keys.ts'

/** How often a key rotation whose outcome this node did not learn is looked at again: 30 s. */
const SETTLE_ROTATION_EVERY_MS = 30_000

export type KeyRotationDeps = {
  db: Db
  writes: WriteQueue
  clock: Clock
  log: FastifyBaseLogger
  keystore: () => Keystore
  /** The instance in use, when O'Chat is ready. */
  current: () => Instance | undefined
  /** A relay client signing with these keys. */
  clientFor: (instance: Instance) => RelayHttpClient
  stopTransport: () => Promise<void>
  /** Goes on with these keys: the instance in use, transport started. */
  resume: (instance: Instance) => void
  /** Tells the UI the registration and the connections' keys changed. */
  announce: () => void
}

/**
 * Key rotations in the running node (identity/rotate-keys.ts does each step): one at a time, with
 * the transport stopped meanwhile, so nothing is sealed or signed with keys being replaced. A rotation
 * whose outcome is not known (its answer lost, or the process stopped during it) is settled with the
 * relay before any other, at start, and every 30 s until the relay tells.
 */
export class KeyRotations {
  readonly #deps: KeyRotationDeps
  #busy = false
  #closed = false
  #timer: NodeJS.Timeout | undefined

  constructor(deps: KeyRotationDeps) {
    this.#deps = deps
  }

  /** New identity and encryption keys for this node. */
  async rotate(): Promise<void> {
    const pending = () => identityRow(this.#deps.db)?.pendingSecretKeys != null
    const busy = () =>
      new NodeError(
        'E_CONFLICT',
        pending()
          ? 'the outcome of the last key rotation is not known yet: the relay could not be asked; try again once it is reachable'
          : 'a key rotation is already under way',
      )
    // Two at once would each sign with the keys the other replaces.
    if (this.#busy) throw busy()
    // A rotation whose outcome is unknown first: the relay may hold its keys, and a new one signed with
    // the keys held here would be refused and lose them.
    await this.settle()
    const current = this.#deps.current()
    if (!current) throw new NodeError('E_OCHAT_NOT_REGISTERED')
    if (this.#busy || pending()) throw busy()
    this.#busy = true
    await this.#deps.stopTransport()
    let instance = current
    try {
      instance = await rotateKeys({
        db: this.#deps.db,
        writes: this.#deps.writes,
        keystore: this.#deps.keystore(),
        instance: current,
        relay: this.#deps.clientFor(current),
        nowMs: this.#deps.clock.now(),
      })
    } finally {
      this.#deps.resume(instance)
      this.#busy = false
      // No answer from the relay: it may hold the new keys. Ask it now (and every 30 s until it tells).
      if (instance === current) void this.settle()
    }
    this.#deps.log.warn(
      { instance: instance.instanceId },
      "O'Chat: this node's keys were rotated; peers must verify the new safety code before their channel resumes",
    )
    this.#deps.announce()
  }

  /**
   * Settles a rotation left pending (identity/rotate-keys.ts settlePendingRotation). If the relay holds
   * the new keys, the node goes on with them; while the relay cannot tell, it asks again in 30 s.
   */
  async settle(): Promise<void> {
    clearTimeout(this.#timer)
    const current = this.#deps.current()
    if (!current || this.#busy || this.#closed) return
    if (!identityRow(this.#deps.db)?.pendingSecretKeys) return
    this.#busy = true
    try {
      const instance = await settlePendingRotation({
        db: this.#deps.db,
        writes: this.#deps.writes,
        keystore: this.#deps.keystore(),
        instance: current,
        clientFor: this.#deps.clientFor,
        nowMs: this.#deps.clock.now(),
      })
      if (instance !== current && !this.#closed) {
        await this.#deps.stopTransport()
        this.#deps.resume(instance)
        this.#deps.log.warn(
          { instance: instance.instanceId },
          "O'Chat: the relay holds the keys of the rotation that was under way; this node now uses them",
        )
        this.#deps.announce()
      }
    } catch (error) {
      this.#deps.log.warn(
        { err: error },
        "O'Chat: the outcome of the last key rotation is not known yet; asking the relay again in 30 s",
      )
      if (!this.#closed) {
        this.#timer = setTimeout(() => void this.settle(), SETTLE_ROTATION_EVERY_MS)
        this.#timer.unref()
      }
    } finally {
      this.#busy = false
    }
  }

  close(): void {
    this.#closed = true
    clearTimeout(this.#timer)
  }
}
