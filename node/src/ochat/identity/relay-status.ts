import type { Clock } from '@ochat/shared-protocol/server'
import { eq } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { ochatIdentity } from '../../db/schema.ts'
import type { WriteQueue } from '../../db/write-queue.ts'
import { RelayAnswerError, RelayUnreachableError } from '../relay/http-client.ts'
import { identityRow } from './instance.ts'

/** A contact with the relay is worth recording at most this often; a change of status, always: 10 s. */
const CONTACT_EVERY_MS = 10_000

/**
 * What the registration page shows: valid, suspended by the relay's operator, or unreachable, with the
 * last error and the last contact, as this node last saw its relay.
 */
export class RelayStatus {
  constructor(private readonly deps: { db: Db; writes: WriteQueue; clock: Clock; onChange(): void }) {}

  async record(status: 'valid' | 'suspended' | 'unreachable', lastError: string | null): Promise<void> {
    const row = identityRow(this.deps.db)
    if (!row) return
    const now = this.deps.clock.now()
    const changed = row.relayStatus !== status || row.lastError !== lastError
    if (
      !changed &&
      status === 'valid' &&
      row.lastContactAt !== null &&
      now - row.lastContactAt < CONTACT_EVERY_MS
    )
      return
    await this.deps.writes.run((tx) =>
      tx
        .update(ochatIdentity)
        .set({ relayStatus: status, lastError, ...(status === 'valid' ? { lastContactAt: now } : {}) })
        .where(eq(ochatIdentity.id, 1))
        .run(),
    )
    if (changed) this.deps.onChange()
  }

  /** A failed relay call: unreachable, suspended, or a refusal kept as the last error. */
  async recordError(error: unknown): Promise<void> {
    if (error instanceof RelayUnreachableError) await this.record('unreachable', error.message)
    // A relay that answers 5xx is not serving (restarting, or its database is down): unreachable too.
    else if (error instanceof RelayAnswerError && error.status >= 500)
      await this.record('unreachable', `the relay is unavailable (${error.reason})`)
    else if (error instanceof RelayAnswerError && error.code === 'E_SUSPENDED')
      await this.record('suspended', `${error.message} (${error.reason})`)
    else if (error instanceof RelayAnswerError) {
      const row = identityRow(this.deps.db)
      await this.record(row?.relayStatus ?? 'valid', `${error.code}: ${error.reason}`)
    }
  }
}
