import { createHash, timingSafeEqual } from 'node:crypto'
import { type BlobRow, hasGrant } from './blobs/repository.ts'
import { type ConnectionRow, haveConnection } from './connections/repository.ts'
import type { Executor } from './db/client.ts'
import type { EnvelopeRow } from './envelopes/repository.ts'
import { RelayError } from './errors.ts'
import type { InstanceRow } from './instances/repository.ts'

/**
 * Who may see what on the relay, in one place. Deny by default: each rule names who may, and nobody
 * else does. Routes and commands load the thing, ask the rule, and answer a "no" exactly as they answer
 * for a thing that does not exist (404, E_NOT_FOUND), so that a refusal never tells that it exists.
 *
 * Two rules are enforced inside the hot path's statements instead, where one query must both check and
 * write a whole batch: an envelope goes only over an accepted connection (`ochat_submit_envelopes`), and
 * a receipt may name only an envelope sent to its signer (`ochat_accept_receipts`). An envelope may list
 * only blobs its sender uploaded (`completeBlobsOf`, one query per submit).
 */

/** Throws the answer for anything the caller may not see: the same 404 as for what does not exist. */
export function authorize(allowed: unknown): asserts allowed {
  if (!allowed) throw new RelayError('E_NOT_FOUND')
}

/**
 * An instance's public details: to itself, and to an instance that has a connection with it in any
 * state (a pending request too: an addressee must see who asks before it decides).
 */
export async function maySeeInstance(
  db: Executor,
  props: { viewer: InstanceRow; instance: InstanceRow },
): Promise<boolean> {
  return props.instance.id === props.viewer.id || haveConnection(db, props.viewer.id, props.instance.id)
}

/** Who may be asked for a connection: an active instance. A suspended one answers like an unknown one. */
export function mayBeAskedToConnect(addressee: Pick<InstanceRow, 'status'>): boolean {
  return addressee.status === 'active'
}

/** The side the viewer takes in a connection, or undefined when it is not one of the two. */
export function sideOf(
  connection: Pick<ConnectionRow, 'requester' | 'addressee'>,
  viewer: string,
): 'requester' | 'addressee' | undefined {
  if (connection.requester === viewer) return 'requester'
  if (connection.addressee === viewer) return 'addressee'
  return undefined
}

/** A connection, its history and its decisions: only its two sides. */
export function maySeeConnection(
  connection: Pick<ConnectionRow, 'requester' | 'addressee'>,
  viewer: string,
): boolean {
  return sideOf(connection, viewer) !== undefined
}

/**
 * An envelope's status on the relay: only its sender. The recipient learns of an envelope by receiving
 * it, and nobody else ever does.
 */
export function maySeeEnvelope(envelope: Pick<EnvelopeRow, 'sender'>, viewer: string): boolean {
  return envelope.sender === viewer
}

/**
 * A blob's bytes: once complete, to its uploader and to the recipients of an envelope that listed it
 * (the grant is written with the envelope, PROTOCOL.md §8.3).
 */
export async function mayDownloadBlob(
  db: Executor,
  props: { viewer: string; blob: BlobRow },
): Promise<boolean> {
  if (props.blob.state !== 'complete') return false
  return (
    props.blob.uploader === props.viewer || hasGrant(db, { blobId: props.blob.id, instanceId: props.viewer })
  )
}

/**
 * A blob's upload: whoever holds its one-time token, compared by hash. The hash is cleared when the
 * upload completes, so a finished blob cannot be overwritten.
 */
export function mayUploadBlob(blob: Pick<BlobRow, 'uploadTokenHash'>, tokenHash: string): boolean {
  return Boolean(blob.uploadTokenHash) && blob.uploadTokenHash === tokenHash
}

/**
 * GET /metrics: only with `Authorization: Bearer <RELAY_METRICS_TOKEN>`, and nobody while no token is
 * configured (behind a proxy every caller could look local, so an address proves nothing). Compared in
 * constant time, over SHA-256 digests so both sides have the same length whatever the caller sends.
 */
export function mayReadMetrics(authorization: string | undefined, token: string | undefined): boolean {
  if (token === undefined || authorization === undefined) return false
  const digest = (value: string) => createHash('sha256').update(value).digest()
  return timingSafeEqual(digest(authorization), digest(`Bearer ${token}`))
}
