import { z } from 'zod'
import { ReasonSchema } from '../errors.ts'
import { LIMITS } from '../limits.ts'
import {
  base64UrlBytes,
  base64UrlUpTo,
  IdSchema,
  InstanceIdSchema,
  SignatureSchema,
  TimestampMsSchema,
  VersionSchema,
} from './common.ts'

/**
 * What the relay may read of an envelope (PROTOCOL.md §4). Signed together with the ciphertext by the
 * sender's identity key. The relay routes on `from`/`to` and deduplicates on `id`.
 */
export const EnvelopeHeaderSchema = z.strictObject({
  v: VersionSchema,
  /** Chosen by the sender (a UUIDv7); the same id on every retry, so each side can drop duplicates. */
  id: IdSchema,
  from: InstanceIdSchema,
  to: InstanceIdSchema,
  /** When the sender created it, ms. The relay's own timestamps are separate and not signed. */
  createdAt: TimestampMsSchema,
  /** nacl.box nonce, 24 random bytes. */
  nonce: base64UrlBytes(24, 'nonce'),
  /**
   * Relay blob ids of the attachments this envelope carries (PROTOCOL.md §8.1). The relay cannot read
   * the payload, so this is how it knows the recipient may download them; the payload's AttachmentRefs
   * must name the same ids.
   */
  blobs: z
    .array(IdSchema)
    .min(1)
    .max(LIMITS.attachmentsPerMessage)
    .refine((ids) => new Set(ids).size === ids.length, { message: 'blob ids repeat' })
    .optional(),
})
export type EnvelopeHeader = z.infer<typeof EnvelopeHeaderSchema>

export const EnvelopeSchema = z
  .strictObject({
    header: EnvelopeHeaderSchema,
    /** nacl.box(payload JSON, nonce, recipient encryption key, sender encryption secret key). */
    ciphertext: base64UrlUpTo(LIMITS.envelopeCiphertextBytes, 'ciphertext'),
    /** Ed25519 over the envelope signing input (PROTOCOL.md §4.3). */
    signature: SignatureSchema,
  })
  .refine((envelope) => envelope.header.from !== envelope.header.to, {
    message: 'an envelope cannot be addressed to its sender',
    path: ['header', 'to'],
  })
export type Envelope = z.infer<typeof EnvelopeSchema>

/** One envelope, or a bulk send of up to 1,000 (one per recipient), with distinct ids. */
export const EnvelopeBatchSchema = z
  .array(EnvelopeSchema)
  .min(1)
  .max(LIMITS.bulkRecipients)
  .refine((envelopes) => new Set(envelopes.map((envelope) => envelope.header.id)).size === envelopes.length, {
    message: 'envelope ids must be unique within one submit',
  })

/** POST /v1/envelopes */
export const SubmitRequestSchema = z.strictObject({ envelopes: EnvelopeBatchSchema })
export type SubmitRequest = z.infer<typeof SubmitRequestSchema>

/** The relay's answer per envelope, in submit order. Sent only after the durable write. */
export const SubmitResultSchema = z.discriminatedUnion('ok', [
  z.strictObject({
    ok: z.literal(true),
    id: IdSchema,
    /** Per-connection sequence number; gaps show lost or purged envelopes. */
    seq: z.int().positive(),
    acceptedAt: TimestampMsSchema,
    /** Present when this id was already stored: the first result is returned again. */
    duplicate: z.literal(true).optional(),
  }),
  z.strictObject({
    ok: z.literal(false),
    id: IdSchema,
    code: z.string().max(80),
    reason: ReasonSchema,
  }),
])
export type SubmitResult = z.infer<typeof SubmitResultSchema>

export const SubmitResponseSchema = z.strictObject({
  results: z.array(SubmitResultSchema).max(LIMITS.bulkRecipients),
})
export type SubmitResponse = z.infer<typeof SubmitResponseSchema>
