import type { Clock } from '@ochat/shared-protocol/server'
import type { Db } from '../db/client.ts'
import { GroupCommit } from '../db/group-commit.ts'
import type { HandOff } from './accept-receipts.ts'
import {
  type Acknowledgement,
  type AcknowledgeResult,
  acknowledgeAll,
  needsTransaction,
} from './acknowledge.ts'
import { type ClaimedItem, releaseClaims, wake } from './queue-repository.ts'

/** Largest batch settled in one transaction, in items and receipts. */
const MAX_BATCH_ITEMS = 5000

/** A sender's socket on this replica, as the ack writer sees it: room to reserve, and a way to send. */
export interface HandOffTarget {
  /** True once the socket is shutting down: it takes nothing more. */
  readonly closed: boolean
  /** Holds `count` places of the socket's window; false (and nothing held) if there is not that much room. */
  reserve(count: number): boolean
  /** Gives back places held by `reserve`. */
  unreserve(count: number): void
  /** Takes claimed items, oldest first, and sends them. */
  take(items: ClaimedItem[]): void
}

/**
 * Acknowledgements from every socket on this replica, group-committed: a bulk send to 1,000 connected
 * recipients settles in a few transactions, not 1,000. One batch is in flight, as for envelopes: the
 * acks that arrive while it commits go in the next one. With several in flight, nearly every ack at
 * moderate load finds a free slot and goes alone, one `ochat_accept_receipts` and one WAL flush each,
 * competing with the envelope commits for the CPU, which makes delivery slower, not faster
 * (docs/performance.md). The price: a slow commit holds up every ack on the replica until it ends.
 *
 * The Delivered receipts of a batch go back to their senders through the queue. When a sender's socket
 * is on this replica and has room, its receipts are inserted already claimed for it, in the same
 * transaction, and handed to the socket once the batch commits: no wake-up and no separate claim. They
 * stay queued until the sender acks them; if its socket goes first, they are released for the next one.
 */
export class AckWriter {
  readonly #commits: GroupCommit<Acknowledgement, AcknowledgeResult>

  constructor(props: {
    db: Db
    clock: Clock
    deadlineMs: number
    replicaId: string
    /** How long a claim hides an item (the socket claim visibility). */
    visibilityMs: number
    /** The socket of an instance on this replica, if any. */
    handOffTo: (instanceId: string) => HandOffTarget | undefined
  }) {
    this.#commits = new GroupCommit({
      concurrency: 1,
      maxWeight: MAX_BATCH_ITEMS,
      weight: (ack) => ack.results.length + ack.receipts.length,
      write: async (acks) => {
        const nowMs = props.clock.now()
        const reserved = reserveRoom(acks, props.handOffTo)
        const handOff: HandOff = {
          destinations: new Set(reserved.keys()),
          replicaId: props.replicaId,
          claimedUntil: nowMs + props.visibilityMs,
          claimed: new Map(),
        }
        try {
          const settle = { acks, nowMs, deadlineMs: props.deadlineMs, handOff }
          // Nothing refused: one statement, committed on its own (one round trip).
          const results = needsTransaction(acks)
            ? await props.db.transaction((tx) => acknowledgeAll(tx, settle))
            : await acknowledgeAll(props.db, settle)
          // Committed: a failure from here on must not fail (and retry) the batch. Nothing is lost if the
          // release below fails: the claims run out after `visibilityMs` and the items go again.
          await handOver(props.db, { reserved, claimed: handOff.claimed, replicaId: props.replicaId }).catch(
            () => {},
          )
          return results
        } finally {
          for (const [, { target, count }] of reserved) target.unreserve(count)
        }
      },
    })
  }

  /** Resolves after the acknowledgement's batch commits. */
  submit(ack: Acknowledgement): Promise<AcknowledgeResult> {
    return this.#commits.submit(ack)
  }
}

/** For each sender of the batch's receipts whose socket is here, room for all of its receipts, if it has it. */
function reserveRoom(
  acks: Acknowledgement[],
  handOffTo: (instanceId: string) => HandOffTarget | undefined,
): Map<string, { target: HandOffTarget; count: number }> {
  const counts = new Map<string, number>()
  for (const ack of acks)
    for (const receipt of ack.receipts)
      counts.set(receipt.receipt.to, (counts.get(receipt.receipt.to) ?? 0) + 1)
  return reservePlaces(counts, handOffTo)
}

/**
 * For each destination whose socket is here and has room for all `count` of its items, holds those
 * places (all or none per destination). The caller gives them back (`unreserve`) once handed over.
 */
export function reservePlaces(
  counts: Map<string, number>,
  handOffTo: (instanceId: string) => HandOffTarget | undefined,
): Map<string, { target: HandOffTarget; count: number }> {
  const reserved = new Map<string, { target: HandOffTarget; count: number }>()
  for (const [destination, count] of counts) {
    const target = handOffTo(destination)
    if (target && !target.closed && target.reserve(count)) reserved.set(destination, { target, count })
  }
  return reserved
}

/**
 * After the commit: each socket takes what was claimed for it. A socket that began shutting down in
 * the meantime may already have released its claims: its items are released here and its instance
 * woken, so the next socket (here or on another replica) gets them at once.
 */
export async function handOver(
  db: Db,
  props: {
    reserved: Map<string, { target: HandOffTarget; count: number }>
    claimed: Map<string, ClaimedItem[]>
    replicaId: string
  },
): Promise<void> {
  const orphans: { destination: string; items: ClaimedItem[] }[] = []
  for (const [destination, items] of props.claimed) {
    const target = props.reserved.get(destination)?.target
    if (target && !target.closed) target.take(items)
    else orphans.push({ destination, items })
  }
  if (orphans.length === 0) return
  await releaseClaims(db, {
    qids: orphans.flatMap((orphan) => orphan.items.map((item) => item.qid)),
    replicaId: props.replicaId,
  })
  await wake(
    db,
    orphans.map((orphan) => orphan.destination),
  )
}
