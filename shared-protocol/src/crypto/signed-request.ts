import { createHash, randomBytes } from 'node:crypto'
import { canonicalBytes } from '../canonical.ts'
import { fromBase64Url, toBase64Url } from '../encoding.ts'
import { accept, type Outcome, type Rejection, reject } from '../errors.ts'
import { LIMITS } from '../limits.ts'
import { type RequestSigningInput, SignedRequestHeadersSchema } from '../schemas/request.ts'
import { signDetached, verifyDetached } from './ed25519.ts'
import { labelled, SIGNING_LABELS } from './signing.ts'

/**
 * Signed node → relay requests (PROTOCOL.md §2). The signature covers the
 * method, the path with its query, the relay it is meant for, the instance, a timestamp, a nonce and
 * the SHA-256 of the body, so none of them can be changed or replayed elsewhere.
 */

export function sha256Base64Url(body: Uint8Array | string): string {
  return createHash('sha256').update(body).digest('base64url')
}

/**
 * Whether a timestamp in Unix seconds (a signed request's or a webhook's) is inside the ±300 s window of
 * a clock read in ms (PROTOCOL.md §2.2). The clock is cut to whole seconds first, as the timestamp is:
 * 300 s away is accepted whatever the milliseconds, 301 s is refused, in both directions.
 */
export function withinClockWindow(timestampSeconds: number, nowMs: number): boolean {
  return Math.abs(Math.floor(nowMs / 1000) - timestampSeconds) <= LIMITS.clockSkewSeconds
}

/**
 * The refusal of a signed request whose timestamp is outside that window (E_AUTH_CLOCK_SKEW): the relay
 * answers it before reading the body and again when it checks the signature, in the same words.
 */
export function clockSkewRejection(): Rejection<'E_AUTH_CLOCK_SKEW'> {
  return reject(
    'E_AUTH_CLOCK_SKEW',
    'auth-required',
    `request timestamp is more than ${LIMITS.clockSkewSeconds} s from the relay clock; check the node clock (NTP)`,
  )
}

/**
 * How long a nonce must be remembered: until the window stops accepting its timestamp, which is the
 * first instant of second timestamp + 301 (withinClockWindow).
 */
export function nonceExpiry(timestampSeconds: number): number {
  return (timestampSeconds + LIMITS.clockSkewSeconds + 1) * 1000
}

export function requestSigningInput(input: RequestSigningInput): Uint8Array {
  return labelled(SIGNING_LABELS.request, canonicalBytes(input))
}

export type SignRequestProps = {
  method: string
  /** Path and query exactly as they go on the wire. */
  path: string
  /** The relay id: the request is valid only there. */
  audience: string
  instanceId: string
  identitySecretKey: Uint8Array
  body?: Uint8Array | string
  /** Unix seconds; now unless a test fixes it. */
  timestamp?: number
  /** 16 bytes; random unless a test vector fixes it. */
  nonce?: Uint8Array
}

/** Returns the four headers to add to the request. */
export function signRequest(props: SignRequestProps): Record<string, string> {
  const timestamp = props.timestamp ?? Math.floor(Date.now() / 1000)
  const nonce = toBase64Url(props.nonce ?? randomBytes(16))
  const input: RequestSigningInput = {
    v: 1,
    method: props.method.toUpperCase(),
    path: props.path,
    audience: props.audience,
    instanceId: props.instanceId,
    timestamp,
    nonce,
    bodySha256: sha256Base64Url(props.body ?? ''),
  }
  const signature = signDetached(requestSigningInput(input), props.identitySecretKey)
  return {
    'ochat-instance': props.instanceId,
    'ochat-timestamp': String(timestamp),
    'ochat-nonce': nonce,
    'ochat-signature': toBase64Url(signature),
  }
}

/**
 * Remembers nonces for the skew window. `claim` answers true the first time it sees a nonce and false
 * after, atomically: the relay backs it with a unique index in PostgreSQL shared by all replicas.
 */
export interface NonceStore {
  /** `nowMs` is the verifier's clock, so a faked clock in tests and the window agree. */
  claim(nonce: string, expiresAtMs: number, nowMs: number): boolean | Promise<boolean>
}

/** An in-process NonceStore, for one process (tests, a single node). Forgets nonces once they expire. */
export class MemoryNonceStore implements NonceStore {
  readonly #expiry = new Map<string, number>()
  #nextSweepMs = 0

  claim(nonce: string, expiresAtMs: number, nowMs: number): boolean {
    if (nowMs >= this.#nextSweepMs) {
      for (const [seen, expires] of this.#expiry) if (expires <= nowMs) this.#expiry.delete(seen)
      this.#nextSweepMs = nowMs + 10_000
    }
    const expires = this.#expiry.get(nonce)
    if (expires !== undefined && expires > nowMs) return false
    this.#expiry.set(nonce, expiresAtMs)
    return true
  }
}

export type RequestCode =
  | 'E_AUTH_MISSING'
  | 'E_AUTH_MALFORMED'
  | 'E_AUTH_CLOCK_SKEW'
  | 'E_AUTH_BAD_SIGNATURE'
  | 'E_AUTH_REPLAYED'

/** The headers, checked for shape only; first step of verification, so the caller can look up the key. */
export function parseSignedRequestHeaders(
  headers: Record<string, string | string[] | undefined>,
): Outcome<{ instanceId: string; timestamp: number; nonce: string; signature: string }, RequestCode> {
  if (!headers['ochat-signature'] && !headers['ochat-instance']) {
    return reject(
      'E_AUTH_MISSING',
      'auth-required',
      'sign this request (ochat-instance, ochat-timestamp, ochat-nonce, ochat-signature)',
    )
  }
  const parsed = SignedRequestHeadersSchema.safeParse(headers)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    return reject('E_AUTH_MALFORMED', 'auth-required', `header ${issue?.path.join('.')}: ${issue?.message}`)
  }
  const h = parsed.data
  return accept({
    instanceId: h['ochat-instance'],
    timestamp: Number(h['ochat-timestamp']),
    nonce: h['ochat-nonce'],
    signature: h['ochat-signature'],
  })
}

export type VerifyRequestProps = {
  method: string
  path: string
  audience: string
  headers: Record<string, string | string[] | undefined>
  /** The raw body bytes as received, before any JSON parsing. */
  body: Uint8Array | string
  /** The current identity key of the instance named in `ochat-instance`; undefined if there is none. */
  identityKey: Uint8Array | undefined
  nonces: NonceStore
  nowMs?: number
}

/**
 * Checks in this order: headers, clock window, instance and signature, and only then the nonce, so that a
 * forger cannot burn nonces. Every failure is a value with a reason; nothing throws.
 */
export async function verifySignedRequest(
  props: VerifyRequestProps,
): Promise<Outcome<{ instanceId: string }, RequestCode>> {
  const parsed = parseSignedRequestHeaders(props.headers)
  if (!parsed.ok) return parsed
  const { instanceId, timestamp, nonce, signature } = parsed.value
  // The clock is checked before the instance is looked at, and an unknown instance gets the same
  // answer as a bad signature, so a caller cannot probe which instances exist.
  const nowMs = props.nowMs ?? Date.now()
  if (!withinClockWindow(timestamp, nowMs)) return clockSkewRejection()
  const input: RequestSigningInput = {
    v: 1,
    method: props.method.toUpperCase(),
    path: props.path,
    audience: props.audience,
    instanceId,
    timestamp,
    nonce,
    bodySha256: sha256Base64Url(props.body),
  }
  const signatureBytes = fromBase64Url(signature)
  if (
    !props.identityKey ||
    !signatureBytes ||
    !verifyDetached(requestSigningInput(input), signatureBytes, props.identityKey)
  ) {
    return reject('E_AUTH_BAD_SIGNATURE', 'auth-required', 'signature is not valid')
  }
  const expiresAtMs = nonceExpiry(timestamp)
  if (!(await props.nonces.claim(`${instanceId}:${nonce}`, expiresAtMs, nowMs))) {
    return reject('E_AUTH_REPLAYED', 'auth-required', 'nonce was already used: this request is a replay')
  }
  return accept({ instanceId })
}
