import {
  ATTACHMENT_CHUNK_BYTES,
  ATTACHMENT_HEADER_BYTES,
  ATTACHMENT_TAG_BYTES,
  type Envelope,
  LIMITS,
  reason,
  type SubmitResult,
} from '@ochat/shared-protocol'
import { completeBlobsOf } from '../blobs/repository.ts'
import type { Executor } from '../db/client.ts'
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
  const ownBlobs = await completeBlobsOf(
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
    const listed = envelope.header.blobs ?? []
    const foreign = listed.find((blobId) => !ownBlobs.has(blobId))
    if (foreign) {
      results[index] = {
        ok: false,
        id,
        code: 'E_BLOB_UNKNOWN',
        reason: reason('invalid', `blob ${foreign} was not uploaded (completely) by this instance`),
      }
      return
    }
    const plaintextBytes = listed.reduce((sum, blobId) => sum + plaintextSize(ownBlobs.get(blobId) ?? 0), 0)
    if (plaintextBytes > LIMITS.messageAttachmentBytes) {
      results[index] = {
        ok: false,
        id,
        code: 'E_ATTACHMENTS_TOO_LARGE',
        reason: reason('invalid', 'attachments of one message add up to more than 500 MB'),
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

/** Plaintext bytes of an attachment stream of `ciphertextBytes` (PROTOCOL.md §8.2: 8-byte header, 16-byte tag per 64 KiB chunk). */
function plaintextSize(ciphertextBytes: number): number {
  const chunks = Math.max(
    1,
    Math.ceil((ciphertextBytes - ATTACHMENT_HEADER_BYTES) / (ATTACHMENT_CHUNK_BYTES + ATTACHMENT_TAG_BYTES)),
  )
  return ciphertextBytes - ATTACHMENT_HEADER_BYTES - chunks * ATTACHMENT_TAG_BYTES
}
