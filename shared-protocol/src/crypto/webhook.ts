import { fromBase64, toBase64, utf8 } from '../encoding.ts'
import { accept, type Outcome, reject } from '../errors.ts'
import { identityKeyPairFromSeed, signDetached, verifyDetached } from './ed25519.ts'
import { type NonceStore, nonceExpiry, withinClockWindow } from './signed-request.ts'
import { webhookPublicKeyBytes } from './structures.ts'

/**
 * Standard Webhooks v1.0.0 with the asymmetric `v1a` scheme (PROTOCOL.md §7):
 *   webhook-id:        unique per message, kept across retries;
 *   webhook-timestamp: Unix seconds;
 *   webhook-signature: space-separated "v1a,<base64 ed25519 signature>", one per signing key, so a
 *                      relay can sign with old and new keys while it rotates;
 * over the bytes `${webhook-id}.${webhook-timestamp}.${body}`. Keys are written "whsk_"/"whpk_" +
 * standard base64 of the 64-byte secret key (seed ‖ public) or the 32-byte public key.
 */

export const WEBHOOK_HEADERS = Object.freeze({
  id: 'webhook-id',
  timestamp: 'webhook-timestamp',
  signature: 'webhook-signature',
})

export type WebhookKeyPair = { secretKey: string; publicKey: string }

export function webhookKeyPairFromSeed(seed: Uint8Array): WebhookKeyPair {
  const pair = identityKeyPairFromSeed(seed)
  return { secretKey: `whsk_${toBase64(pair.secretKey)}`, publicKey: `whpk_${toBase64(pair.publicKey)}` }
}

function secretKeyBytes(whsk: string): Uint8Array {
  const bytes = whsk.startsWith('whsk_') ? fromBase64(whsk.slice('whsk_'.length)) : undefined
  if (bytes?.byteLength !== 64) throw new RangeError('a v1a signing key is "whsk_" + base64 of 64 bytes')
  return bytes
}

/** A relay signs with its active key and, while rotating, the next one: more is refused. */
export const MAX_SIGNATURES = 4

/** The signed bytes use the timestamp exactly as written in the header (PROTOCOL.md §7). */
function signedContent(id: string, timestamp: number | string, body: Uint8Array | string): Uint8Array {
  const prefix = utf8(`${id}.${timestamp}.`)
  const payload = typeof body === 'string' ? utf8(body) : body
  const out = new Uint8Array(prefix.byteLength + payload.byteLength)
  out.set(prefix)
  out.set(payload, prefix.byteLength)
  return out
}

export type SignWebhookProps = {
  id: string
  /** Unix seconds. */
  timestamp: number
  /** The exact bytes that will be sent. */
  body: Uint8Array | string
  /** "whsk_…" keys; each adds a signature. */
  secretKeys: readonly string[]
}

export function signWebhook(props: SignWebhookProps): Record<string, string> {
  const content = signedContent(props.id, props.timestamp, props.body)
  const signatures = props.secretKeys.map(
    (key) => `v1a,${toBase64(signDetached(content, secretKeyBytes(key)))}`,
  )
  return {
    [WEBHOOK_HEADERS.id]: props.id,
    [WEBHOOK_HEADERS.timestamp]: String(props.timestamp),
    [WEBHOOK_HEADERS.signature]: signatures.join(' '),
  }
}

export type WebhookCode =
  | 'E_WEBHOOK_MALFORMED'
  | 'E_WEBHOOK_CLOCK_SKEW'
  | 'E_WEBHOOK_BAD_SIGNATURE'
  | 'E_WEBHOOK_REPLAYED'

export type VerifyWebhookProps = {
  headers: Record<string, string | string[] | undefined>
  body: Uint8Array | string
  /** The relay keys the node pinned ("whpk_…"); any one of them may have signed. */
  publicKeys: readonly string[]
  /**
   * Each (webhook-id, webhook-timestamp) pair is accepted once: a captured POST cannot be replayed,
   * while the relay's own retries (same id, new timestamp, new signature) still get through and are
   * deduplicated per item.
   */
  nonces: NonceStore
  nowMs?: number
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? undefined : value
}

export async function verifyWebhook(
  props: VerifyWebhookProps,
): Promise<Outcome<{ id: string; timestamp: number }, WebhookCode>> {
  const id = single(props.headers[WEBHOOK_HEADERS.id])
  const timestampText = single(props.headers[WEBHOOK_HEADERS.timestamp])
  const signatureHeader = single(props.headers[WEBHOOK_HEADERS.signature])
  if (!id || !timestampText || !signatureHeader) {
    return reject(
      'E_WEBHOOK_MALFORMED',
      'auth-required',
      'webhook-id, webhook-timestamp and webhook-signature are required',
    )
  }
  if (id.length > 200 || !/^(0|[1-9][0-9]{0,11})$/.test(timestampText) || signatureHeader.length > 4000) {
    return reject('E_WEBHOOK_MALFORMED', 'auth-required', 'webhook headers are malformed')
  }
  const timestamp = Number(timestampText)
  const nowMs = props.nowMs ?? Date.now()
  if (!withinClockWindow(timestamp, nowMs)) {
    return reject(
      'E_WEBHOOK_CLOCK_SKEW',
      'auth-required',
      'webhook timestamp is more than 300 s from our clock; check the clocks (NTP)',
    )
  }
  const content = signedContent(id, timestampText, props.body)
  const keys = props.publicKeys
    .map(webhookPublicKeyBytes)
    .filter((key): key is Uint8Array => key !== undefined)
  // Signatures of other schemes (e.g. symmetric "v1") are skipped, as the spec asks. At most
  // MAX_SIGNATURES v1a entries are tried, so an unauthenticated sender cannot buy many verifications.
  const entries = signatureHeader.split(' ').filter((entry) => entry.startsWith('v1a,'))
  if (entries.length > MAX_SIGNATURES) {
    return reject('E_WEBHOOK_MALFORMED', 'auth-required', `more than ${MAX_SIGNATURES} v1a signatures`)
  }
  const valid = entries.some((entry) => {
    const [scheme, encoded] = entry.split(',', 2)
    const signature = scheme === 'v1a' && encoded ? fromBase64(encoded) : undefined
    return signature !== undefined && keys.some((key) => verifyDetached(content, signature, key))
  })
  if (!valid)
    return reject(
      'E_WEBHOOK_BAD_SIGNATURE',
      'auth-required',
      'no webhook signature matches a pinned relay key',
    )
  if (!(await props.nonces.claim(`webhook:${id}.${timestamp}`, nonceExpiry(timestamp), nowMs))) {
    return reject('E_WEBHOOK_REPLAYED', 'auth-required', 'this webhook was already received: replay')
  }
  return accept({ id, timestamp })
}
