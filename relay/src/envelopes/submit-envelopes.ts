import { type Envelope, reason, type SubmitResult } from '@ochat/shared-protocol'
import { and, eq, inArray } from 'drizzle-orm'
import type { Executor } from '../db/client.ts'
import { blobs } from '../db/schema.ts'
import type { EnvelopeWriter } from './envelope-writer.ts'
import type { RateLimiter } from './rate-limiter.ts'

export type SubmitEnvelopesProps = {
  db: Executor
  writer: EnvelopeWriter
  limits: { instance: RateLimiter; connection: RateLimiter }
  /** The authenticated instance. */
  sender: string
  /** Already validated by EnvelopeBatchSchema. */
  envelopes: Envelope[]
  nowMs: number
}

/**
 * Checks each envelope (PROTOCOL.md §4.4): `from` is the sender, its blobs are the sender's, and the
 * rate limits; then hands the rest to the group-commit writer, which checks the connection and answers
 * after the durable write. One result per envelope, in order: a refusal of one does not refuse others.
 */
export async function submitEnvelopes(
  props: SubmitEnvelopesProps,
): Promise<{ results: SubmitResult[]; retryAfterMs?: number }> {
  const results = new Array<SubmitResult | undefined>(props.envelopes.length)
  const ownBlobs = await blobsOwnedBy(
    props.db,
    props.sender,
    props.envelopes.flatMap((envelope) => envelope.header.blobs ?? []),
  )
  let retryAfterMs: number | undefined
  const accepted: { index: number; envelope: Envelope }[] = []
  props.envelopes.forEach((envelope, index) => {
    const { id, from, to } = envelope.header
    if (from !== props.sender) {
      results[index] = {
        ok: false,
        id,
        code: 'E_ENVELOPE_FROM_MISMATCH',
        reason: reason('blocked', `"from" must be ${props.sender}`),
      }
      return
    }
    const foreign = (envelope.header.blobs ?? []).find((blobId) => !ownBlobs.has(blobId))
    if (foreign) {
      results[index] = {
        ok: false,
        id,
        code: 'E_BLOB_UNKNOWN',
        reason: reason('invalid', `blob ${foreign} was not uploaded by this instance`),
      }
      return
    }
    const limited =
      limitFailure(props.limits.connection.take(`${props.sender}>${to}`, 1, props.nowMs)) ??
      limitFailure(props.limits.instance.take(props.sender, 1, props.nowMs))
    if (limited !== undefined) {
      retryAfterMs = Math.max(retryAfterMs ?? 0, limited)
      results[index] = {
        ok: false,
        id,
        code: 'E_RATE_LIMITED',
        reason: reason('rate-limited', `retry in ${Math.ceil(limited / 1000)} s`),
      }
      return
    }
    accepted.push({ index, envelope })
  })
  if (accepted.length > 0) {
    const written = await props.writer.submit(
      props.sender,
      accepted.map((entry) => entry.envelope),
    )
    accepted.forEach((entry, position) => {
      results[entry.index] = written[position]
    })
  }
  return {
    results: results.map((result, index) => result ?? failedInternally(props.envelopes[index])),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  }
}

function limitFailure(outcome: { ok: true } | { ok: false; retryAfterMs: number }): number | undefined {
  return outcome.ok ? undefined : outcome.retryAfterMs
}

function failedInternally(envelope: Envelope | undefined): SubmitResult {
  return {
    ok: false,
    id: envelope?.header.id ?? '00000000-0000-0000-0000-000000000000',
    code: 'E_INTERNAL',
    reason: reason('error', 'not written; retry'),
  }
}

async function blobsOwnedBy(db: Executor, sender: string, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set()
  const found = await db
    .select({ id: blobs.id })
    .from(blobs)
    .where(and(inArray(blobs.id, ids), eq(blobs.uploader, sender), eq(blobs.state, 'complete')))
  return new Set(found.map((row) => row.id))
}
