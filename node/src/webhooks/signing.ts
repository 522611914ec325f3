import { createHmac, randomBytes } from 'node:crypto'
import { fromBase64, toBase64, WEBHOOK_HEADERS } from '@ochat/shared-protocol'

/**
 * Standard Webhooks v1.0.0 with the symmetric `v1` scheme, for the webhooks a node sends to the
 * integrators of its company:
 *   webhook-id:        unique per message, kept across retries;
 *   webhook-timestamp: Unix seconds;
 *   webhook-signature: space-separated "v1,<base64 HMAC-SHA256>", one per secret, so while an
 *                      integrator rotates its secret both the new and the previous one verify;
 * over `${webhook-id}.${webhook-timestamp}.${body}`. A secret is written "whsec_" + standard base64 of
 * the key bytes, as the official libraries read it.
 */

const PREFIX = 'whsec_'

/** The spec asks for 24 to 64 bytes of key; we generate 32, as SHA-256's block-sized keys need no more. */
const MIN_KEY_BYTES = 24
const MAX_KEY_BYTES = 64
const NEW_KEY_BYTES = 32

export function newWebhookSecret(): string {
  return `${PREFIX}${toBase64(randomBytes(NEW_KEY_BYTES))}`
}

function keyBytes(secret: string): Uint8Array | undefined {
  if (!secret.startsWith(PREFIX)) return undefined
  const bytes = fromBase64(secret.slice(PREFIX.length))
  if (!bytes || bytes.byteLength < MIN_KEY_BYTES || bytes.byteLength > MAX_KEY_BYTES) return undefined
  return bytes
}

export function isWebhookSecret(value: string): boolean {
  return keyBytes(value) !== undefined
}

export type WebhookHeadersInput = {
  /** Unique per message and kept across retries, so the receiver can deduplicate. */
  id: string
  /** Unix seconds; a retry gets a new timestamp and so a new signature. */
  timestamp: number
  /** The exact text that will be sent as the request body. */
  body: string
  /** "whsec_…" secrets, the current one first; each adds a signature. */
  secrets: readonly string[]
}

export function webhookHeaders(input: WebhookHeadersInput): Record<string, string> {
  if (input.secrets.length === 0) throw new RangeError('a webhook needs at least one secret to be signed')
  // The header carries the timestamp as a whole number of seconds, and the signature covers that text.
  if (!Number.isSafeInteger(input.timestamp) || input.timestamp < 0) {
    throw new RangeError('a webhook timestamp is a whole number of Unix seconds')
  }
  const content = `${input.id}.${input.timestamp}.${input.body}`
  const signatures = input.secrets.map((secret, index) => {
    const key = keyBytes(secret)
    // The secret itself is never echoed: this message may end up in a log.
    if (!key) {
      throw new RangeError(
        `webhook secret #${index + 1} is not "whsec_" + base64 of ${MIN_KEY_BYTES} to ${MAX_KEY_BYTES} bytes`,
      )
    }
    return `v1,${createHmac('sha256', key).update(content, 'utf8').digest('base64')}`
  })
  return {
    [WEBHOOK_HEADERS.id]: input.id,
    [WEBHOOK_HEADERS.timestamp]: String(input.timestamp),
    [WEBHOOK_HEADERS.signature]: signatures.join(' '),
  }
}
