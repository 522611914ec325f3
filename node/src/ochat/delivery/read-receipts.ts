import { LIMITS, newId, type SignedReceipt, signReceipt } from '@ochat/shared-protocol'
import type { Clock } from '@ochat/shared-protocol/server'
import { and, eq, inArray } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { ochatChannels, ochatConnections, ochatMessages } from '../../db/schema.ts'
import type { WriteQueue } from '../../db/write-queue.ts'
import type { Instance } from '../identity/instance.ts'
import { RelayAnswerError } from '../relay/http-client.ts'
import { relayWaitMs } from './pacing.ts'

/** Read receipts wait this long for more messages to be opened, then leave in one signed batch: 250 ms. */
const BATCH_WAIT_MS = 250
/** After a failed send, due receipts are tried again after this long: 30 s. */
const RETRY_MS = 30_000

/**
 * Sends Read receipts (PROTOCOL.md §5.1) for incoming messages a person opened: opening a thread
 * marks its messages `read_receipt = 'due'`; this signs one receipt per peer for up to 1,000 of them
 * and sends it over the socket, or by HTTP when the socket is down, then marks them sent. A receipt
 * that could not leave stays due.
 */
export class ReadReceipts {
  #timer: NodeJS.Timeout | undefined
  #sending: Promise<void> | undefined
  #stopped = false

  constructor(
    private readonly deps: {
      db: Db
      writes: WriteQueue
      clock: Clock
      instance: Instance
      send(receipts: SignedReceipt[]): Promise<void>
      onError(error: unknown): void
    },
  ) {}

  kick(delayMs = BATCH_WAIT_MS): void {
    if (this.#stopped || this.#timer) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#sending = this.#flush().catch((error) => {
        // Told to slow down (429): not a failure; wait what was asked (1 h at most), not the failure delay.
        const waitMs =
          error instanceof RelayAnswerError && error.status === 429
            ? relayWaitMs(error.retryAfterS)
            : undefined
        if (waitMs === undefined) this.deps.onError(error)
        this.kick(waitMs ?? RETRY_MS)
      })
    }, delayMs)
    this.#timer.unref()
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    await this.#sending?.catch(() => undefined)
  }

  async #flush(): Promise<void> {
    const due = this.deps.db
      .select({
        id: ochatMessages.id,
        envelopeId: ochatMessages.envelopeId,
        peer: ochatConnections.peerInstanceId,
      })
      .from(ochatMessages)
      .innerJoin(ochatChannels, eq(ochatChannels.id, ochatMessages.channelId))
      .innerJoin(ochatConnections, eq(ochatConnections.id, ochatChannels.connectionId))
      .where(and(eq(ochatMessages.readReceipt, 'due'), eq(ochatConnections.state, 'accepted')))
      .limit(LIMITS.receiptEnvelopeIds * 4)
      .all()
    if (due.length === 0) return
    const byPeer = new Map<string, typeof due>()
    for (const row of due) byPeer.set(row.peer, [...(byPeer.get(row.peer) ?? []), row])
    const now = this.deps.clock.now()
    const receipts: SignedReceipt[] = []
    const ids: number[] = []
    for (const [peer, rows] of byPeer) {
      for (let start = 0; start < rows.length; start += LIMITS.receiptEnvelopeIds) {
        const slice = rows.slice(start, start + LIMITS.receiptEnvelopeIds)
        receipts.push(
          signReceipt(
            {
              v: 1,
              id: newId(now),
              kind: 'read',
              from: this.deps.instance.instanceId,
              to: peer,
              envelopeIds: [...new Set(slice.map((row) => row.envelopeId))],
              at: now,
            },
            this.deps.instance.identity.secretKey,
          ),
        )
        ids.push(...slice.map((row) => row.id))
      }
    }
    await this.deps.send(receipts)
    await this.deps.writes.run((tx) =>
      tx.update(ochatMessages).set({ readReceipt: 'sent' }).where(inArray(ochatMessages.id, ids)).run(),
    )
    if (due.length === LIMITS.receiptEnvelopeIds * 4) this.kick(0)
  }
}
