import type { Clock } from '../clock.ts'
import type { Db } from '../db/client.ts'
import { GroupCommit } from '../db/group-commit.ts'
import { type Acknowledgement, type AcknowledgeResult, acknowledgeAll } from './acknowledge.ts'

/** Largest batch settled in one transaction, in items and receipts. */
const MAX_BATCH_ITEMS = 5000

/**
 * Acknowledgements from every socket on this replica, group-committed: a bulk send to 1,000 connected
 * recipients settles in a few transactions, not 1,000. Four batches may be in flight, so one slow
 * commit does not hold up the next acks.
 */
export class AckWriter {
  readonly #commits: GroupCommit<Acknowledgement, AcknowledgeResult>

  constructor(props: { db: Db; clock: Clock; deadlineMs: number }) {
    this.#commits = new GroupCommit({
      concurrency: 4,
      maxWeight: MAX_BATCH_ITEMS,
      weight: (ack) => ack.results.length + ack.receipts.length,
      write: (acks) =>
        props.db.transaction((tx) =>
          acknowledgeAll(tx, { acks, nowMs: props.clock.now(), deadlineMs: props.deadlineMs }),
        ),
    })
  }

  /** Resolves after the acknowledgement's batch commits. */
  submit(ack: Acknowledgement): Promise<AcknowledgeResult> {
    return this.#commits.submit(ack)
  }
}
