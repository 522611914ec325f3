import { z } from 'zod'
import { IdSchema, Sha256Schema } from './common.ts'

/**
 * 201 answer of POST /v1/blobs (PROTOCOL.md §8.3): where to PUT the ciphertext, and the one-time token
 * that authorises that upload.
 */
export const BlobCreatedSchema = z.strictObject({
  blobId: IdSchema,
  /** A path on the relay: `/v1/blobs/<blobId>`. */
  uploadUrl: z.string().max(200),
  uploadToken: z.string().min(1).max(1000),
  /** The declared ciphertext bytes, which the upload must send exactly. */
  size: z.int().min(1),
})
export type BlobCreated = z.infer<typeof BlobCreatedSchema>

/** 200 answer of PUT /v1/blobs/{id}: the blob is stored, whole, before this answer is sent. */
export const BlobStoredSchema = z.strictObject({
  blobId: IdSchema,
  /** Ciphertext bytes stored. */
  size: z.int().min(1),
  /** SHA-256 of the stored ciphertext, base64url. */
  sha256: Sha256Schema,
})
export type BlobStored = z.infer<typeof BlobStoredSchema>
