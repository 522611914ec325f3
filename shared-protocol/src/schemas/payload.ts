import { z } from 'zod'
import { LIMITS } from '../limits.ts'
import {
  base64UrlBytes,
  DisplayNameSchema,
  IdSchema,
  InstanceIdSchema,
  Sha256Schema,
  SignatureSchema,
  TimestampMsSchema,
  VersionSchema,
} from './common.ts'

/**
 * A file sent with a message (PROTOCOL.md §8). The blob on the relay is ciphertext; the key to it
 * travels only here, inside the sealed payload.
 */
export const AttachmentRefSchema = z.strictObject({
  /** Id the relay gave the uploaded ciphertext. */
  blobId: IdSchema,
  name: z
    .string()
    .min(1)
    .max(255)
    // Control characters are what the rule is about, so they are spelled as code points, not a regex.
    .refine(
      (name) => ![...name].some((char) => char === '/' || char === '\\' || (char.codePointAt(0) ?? 0) < 0x20),
      {
        message: 'a file name cannot hold slashes or control characters',
      },
    ),
  /** MIME type as the sender saw it; the receiver re-checks it before serving the file. */
  type: z
    .string()
    .max(255)
    .regex(/^[\w.+-]+\/[\w.+-]+$/, { message: 'not a MIME type' }),
  /** Plaintext size in bytes. */
  size: z
    .int()
    .min(0)
    .max(LIMITS.attachmentBytes, {
      message: `a file is at most ${LIMITS.attachmentBytes.toLocaleString('en-US')} bytes (100 MB)`,
    }),
  /** Per-file ChaCha20-Poly1305 key (PROTOCOL.md §8.2). */
  key: base64UrlBytes(32, 'attachment key'),
  /** SHA-256 of the plaintext, checked by the receiver after decrypting. */
  sha256: Sha256Schema,
})
export type AttachmentRef = z.infer<typeof AttachmentRefSchema>

/** A record on one side ("lead 42, ACME renewal"), so replies land on the same record. */
export const RecordRefSchema = z.strictObject({
  model: z.string().regex(/^[a-z][a-z0-9_.]{0,63}$/),
  id: z.string().min(1).max(64),
  name: z.string().max(200),
})
export type RecordRef = z.infer<typeof RecordRefSchema>

export const SenderSchema = z.strictObject({
  /** The person who wrote it. */
  name: DisplayNameSchema,
  /** The company they write for. */
  company: DisplayNameSchema,
  email: z.email().max(254).optional(),
})

/** The plaintext inside an envelope's box. */
export const MessagePayloadSchema = z
  .strictObject({
    v: VersionSchema,
    type: z.literal('message'),
    /** Must equal the envelope header's id: a payload cannot be lifted into another envelope. */
    envelopeId: IdSchema,
    sentAt: TimestampMsSchema,
    sender: SenderSchema,
    /** HTML as the sender wrote it; the receiver sanitizes it before storing or showing it (§4.2). */
    html: z.string().max(LIMITS.messageHtmlChars),
    attachments: z.array(AttachmentRefSchema).max(LIMITS.attachmentsPerMessage).default([]),
    /** The sender's record this thread is about. */
    record: RecordRefSchema.optional(),
    /** The receiver's record, when replying to a thread the receiver started from one. */
    peerRecord: RecordRefSchema.optional(),
    /** The envelope this one answers. */
    inReplyTo: IdSchema.optional(),
    /** Shared by every envelope of one bulk send. */
    bulkId: IdSchema.optional(),
  })
  .refine(
    (payload) =>
      payload.attachments.reduce((sum, file) => sum + file.size, 0) <= LIMITS.messageAttachmentBytes,
    {
      message: `attachments of one message add up to at most ${LIMITS.messageAttachmentBytes} bytes`,
      path: ['attachments'],
    },
  )
export type MessagePayload = z.infer<typeof MessagePayloadSchema>

/**
 * Delivered and Read receipts (PROTOCOL.md §5). They are signed by the recipient node, not sealed:
 * the relay must read a Delivered receipt to know it may delete the ciphertext, and the envelope ids
 * they carry are metadata the relay already holds. Batched: one receipt covers up to 1,000 envelopes.
 */
export const ReceiptSchema = z.strictObject({
  v: VersionSchema,
  /** Unique per receipt; the relay and the sender drop repeats. */
  id: IdSchema,
  kind: z.enum(['delivered', 'read']),
  /** The recipient of the envelopes, who signs this receipt. */
  from: InstanceIdSchema,
  /** The original sender, who gets the receipt. */
  to: InstanceIdSchema,
  envelopeIds: z
    .array(IdSchema)
    .min(1)
    .max(LIMITS.receiptEnvelopeIds)
    .refine((ids) => new Set(ids).size === ids.length, { message: 'envelope ids repeat' }),
  at: TimestampMsSchema,
})
export type Receipt = z.infer<typeof ReceiptSchema>

export const SignedReceiptSchema = z.strictObject({
  receipt: ReceiptSchema,
  signature: SignatureSchema,
})
export type SignedReceipt = z.infer<typeof SignedReceiptSchema>
