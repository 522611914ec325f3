import { z } from 'zod'
import { base64UrlBytes, InstanceIdSchema, SignatureSchema } from './common.ts'

/**
 * Headers of a signed node → relay request (PROTOCOL.md §2). Header names are lower case, as Node
 * presents them. The timestamp is in Unix seconds, like the webhook timestamp (PROTOCOL.md §7).
 */
export const SIGNED_REQUEST_HEADERS = Object.freeze({
  instance: 'ochat-instance',
  timestamp: 'ochat-timestamp',
  nonce: 'ochat-nonce',
  signature: 'ochat-signature',
})

export const SignedRequestHeadersSchema = z.object({
  'ochat-instance': InstanceIdSchema,
  // No leading zeros: one number, one spelling.
  'ochat-timestamp': z
    .string()
    .regex(/^(0|[1-9][0-9]{0,11})$/, { message: 'timestamp must be Unix seconds' }),
  /** 16 random bytes, never reused by the signer; the relay remembers it for the skew window. */
  'ochat-nonce': base64UrlBytes(16, 'nonce'),
  'ochat-signature': SignatureSchema,
})
export type SignedRequestHeaders = z.infer<typeof SignedRequestHeadersSchema>

/** The values that are signed, as canonical JSON (PROTOCOL.md §2.2). */
export const RequestSigningInputSchema = z.strictObject({
  v: z.literal(1),
  method: z.string().regex(/^[A-Z]{3,7}$/),
  /** Path and query exactly as sent, e.g. "/v1/envelopes?wait=1". */
  path: z.string().startsWith('/').max(2000),
  /** The relay this request is for, so it cannot be replayed against another relay. */
  audience: z.string().max(100),
  instanceId: InstanceIdSchema,
  timestamp: z.int().min(0),
  nonce: z.string().max(64),
  /** SHA-256 of the raw body bytes, base64url; the hash of no bytes for a request without a body. */
  bodySha256: z.string().length(43),
})
export type RequestSigningInput = z.infer<typeof RequestSigningInputSchema>
