import { z } from 'zod'
import {
  DisplayNameSchema,
  InstanceIdSchema,
  PublicKeySchema,
  RelayIdSchema,
  SignatureSchema,
  TimestampMsSchema,
  VersionSchema,
} from './common.ts'

/** An instance's public keys: Ed25519 for identity (signatures), X25519 for encryption (nacl.box). */
export const InstancePublicKeysSchema = z.strictObject({
  identityKey: PublicKeySchema,
  encryptionKey: PublicKeySchema,
})
export type InstancePublicKeys = z.infer<typeof InstancePublicKeysSchema>

/**
 * What a node signs to register (PROTOCOL.md §1). The identity signature is the proof that the node
 * holds the identity secret key, and it binds the encryption key to the identity. `relayId` stops a
 * registration meant for one relay from being replayed to another; `at` bounds it to ±300 s.
 */
export const RegistrationSchema = z.strictObject({
  v: VersionSchema,
  relayId: RelayIdSchema,
  name: DisplayNameSchema,
  keys: InstancePublicKeysSchema,
  /**
   * Where the relay POSTs deliveries when the node's WebSocket is not connected. The relay decides which
   * URLs it accepts (https only, and no private addresses, unless its operator allows them).
   */
  webhookUrl: z
    .url({ protocol: /^https?$/ })
    .max(2000)
    .optional(),
  /** One-time token from `ochat-relay invite`, when the relay's policy is invite-only. */
  inviteToken: z.string().min(16).max(200).optional(),
  at: TimestampMsSchema,
})
export type Registration = z.infer<typeof RegistrationSchema>

export const SignedRegistrationSchema = z.strictObject({
  registration: RegistrationSchema,
  signature: SignatureSchema,
})
export type SignedRegistration = z.infer<typeof SignedRegistrationSchema>

export const InstanceStatusSchema = z.enum(['active', 'suspended'])

/** What the relay tells anyone about an instance it knows. */
export const InstanceViewSchema = z.strictObject({
  instanceId: InstanceIdSchema,
  name: DisplayNameSchema,
  keys: InstancePublicKeysSchema,
  status: InstanceStatusSchema,
  registeredAt: TimestampMsSchema,
  keysRotatedAt: TimestampMsSchema.optional(),
})
export type InstanceView = z.infer<typeof InstanceViewSchema>

/**
 * The relay's answer about one instance: POST /v1/instances (201, or 200 when already registered),
 * GET /v1/instances/me and /v1/instances/{id}, POST /v1/instances/me/keys.
 */
export const InstanceResponseSchema = z.strictObject({ instance: InstanceViewSchema })
export type InstanceResponse = z.infer<typeof InstanceResponseSchema>

/**
 * Key rotation: the new keys, signed by the old identity key (authority) and by the new one (proof of
 * possession). The instance id does not change. Peers see the new keys and must re-verify the safety
 * code before their channel resumes (PROTOCOL.md §1.4, §3.3).
 */
export const KeyRotationSchema = z.strictObject({
  v: VersionSchema,
  relayId: RelayIdSchema,
  instanceId: InstanceIdSchema,
  previousIdentityKey: PublicKeySchema,
  keys: InstancePublicKeysSchema,
  at: TimestampMsSchema,
})
export type KeyRotation = z.infer<typeof KeyRotationSchema>

export const SignedKeyRotationSchema = z.strictObject({
  rotation: KeyRotationSchema,
  /** By the previous identity key. */
  signature: SignatureSchema,
  /** By the new identity key. */
  newKeySignature: SignatureSchema,
})
export type SignedKeyRotation = z.infer<typeof SignedKeyRotationSchema>

/** A relay signing key, written as PROTOCOL.md §1.1 says: "whpk_" + standard base64 of the 32-byte key. */
export const WebhookPublicKeySchema = z.string().regex(/^whpk_[A-Za-z0-9+/]{43}=$/, {
  message: 'not a Standard Webhooks ed25519 public key (whpk_ + base64)',
})

export const RelayKeySchema = z.strictObject({
  /** Short stable name for the key, e.g. "2026-11". */
  kid: z.string().regex(/^[A-Za-z0-9._-]{1,40}$/),
  publicKey: WebhookPublicKeySchema,
  /** active: signs now; retiring: still accepted while nodes pick up the new key. */
  status: z.enum(['active', 'retiring']),
})
export type RelayKey = z.infer<typeof RelayKeySchema>

/**
 * The relay's key set. A node pins it at registration and accepts a newer one only when it is signed
 * by a key it already pins and its `serial` is higher (PROTOCOL.md §1.5).
 */
export const RelayKeySetSchema = z.strictObject({
  v: VersionSchema,
  relayId: RelayIdSchema,
  serial: z.int().min(1).max(Number.MAX_SAFE_INTEGER),
  issuedAt: TimestampMsSchema,
  /**
   * The signing key the relay id was derived from (PROTOCOL.md §1.2), once it may have left `keys`: a
   * relay puts it in every set from its first rotation on, and never changes it. Absent, that key is
   * one of `keys`.
   */
  origin: WebhookPublicKeySchema.optional(),
  keys: z
    .array(RelayKeySchema)
    .min(1)
    .max(8)
    .refine((keys) => keys.some((key) => key.status === 'active'), {
      message: 'a key set needs an active key',
    })
    .refine((keys) => new Set(keys.map((key) => key.kid)).size === keys.length, { message: 'duplicate kid' }),
})
export type RelayKeySet = z.infer<typeof RelayKeySetSchema>

export const SignedRelayKeySetSchema = z.strictObject({
  keySet: RelayKeySetSchema,
  /** One signature per key that vouches for this set; at least one must be a key the node pins. */
  signatures: z
    .array(z.strictObject({ kid: z.string().max(40), signature: SignatureSchema }))
    .min(1)
    .max(8),
})
export type SignedRelayKeySet = z.infer<typeof SignedRelayKeySetSchema>

/**
 * What a relay may publish for one bucket. A node turns the rates into waits, so a rate near zero
 * would park its messages for years (1e-9 per second is a wait of 30 years) and a huge one would
 * disable its pacing: 0.01 per second is one envelope every 100 s, and 100,000 at once or per second
 * is past what one relay takes. The relay's defaults (60 then 10 per second per connection, 2,000 then
 * 200 per second per sender) sit well inside.
 */
export const RATE_BOUNDS = Object.freeze({
  burst: Object.freeze({ min: 1, max: 100_000 }),
  perSecond: Object.freeze({ min: 0.01, max: 100_000 }),
})

/** One token bucket: `burst` envelopes at once, then `perSecond` more each second. */
export const RateSchema = z.strictObject({
  burst: z.int().min(RATE_BOUNDS.burst.min).max(RATE_BOUNDS.burst.max),
  perSecond: z.number().min(RATE_BOUNDS.perSecond.min).max(RATE_BOUNDS.perSecond.max),
})
export type Rate = z.infer<typeof RateSchema>

/**
 * The envelope rates a relay allows a sender (PROTOCOL.md §4.4): one bucket per (sender, recipient)
 * connection and one per sender. A node paces its submits to them rather than be told to wait.
 */
export const SubmitRatesSchema = z.strictObject({
  connection: RateSchema,
  instance: RateSchema,
})
export type SubmitRates = z.infer<typeof SubmitRatesSchema>

/** GET /v1/info: public, unauthenticated. */
export const RelayInfoSchema = z.strictObject({
  v: VersionSchema,
  relayId: RelayIdSchema,
  name: DisplayNameSchema,
  registration: z.enum(['open', 'invite']),
  keySet: SignedRelayKeySetSchema,
  limits: z.strictObject({
    envelopeBytes: z.int().positive(),
    bulkRecipients: z.int().positive(),
    attachmentBytes: z.int().positive(),
    attachmentsPerMessage: z.int().positive(),
    messageAttachmentBytes: z.int().positive(),
    clockSkewSeconds: z.int().positive(),
  }),
})
export type RelayInfo = z.infer<typeof RelayInfoSchema>

/**
 * GET /v1/rates: public. A document of its own rather than members of RelayInfo, which nodes parse
 * strictly (§10): a relay can publish its rates without older nodes refusing its info. A relay that
 * answers 404 here is assumed to use the defaults of PROTOCOL.md §4.4.
 */
export const RelayRatesSchema = z.strictObject({
  v: VersionSchema,
  submit: SubmitRatesSchema,
})
export type RelayRates = z.infer<typeof RelayRatesSchema>
