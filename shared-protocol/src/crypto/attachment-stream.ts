import { createCipheriv, createDecipheriv, createHash, type Hash, randomBytes } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'
import { bytesEqual, fromBase64Url, toBase64Url } from '../encoding.ts'
import { reason as makeReason, type Reason } from '../errors.ts'
import { LIMITS } from '../limits.ts'

/**
 * Streaming encryption of attachments (PROTOCOL.md §8.2).
 *
 * Cipher: ChaCha20-Poly1305 (IETF, RFC 8439) from node:crypto: native code, several times faster than a
 * tweetnacl `secretbox` stream (figures in PROTOCOL.md §12), and libsodium has it as
 * `crypto_aead_chacha20poly1305_ietf_*`, so other implementations can read our files.
 *
 * Layout: an 8-byte header, "OCA1" then the chunk size as uint32be (65,536), then chunks. Every chunk
 * but the last holds exactly `chunkSize` plaintext bytes; the last holds 0..chunkSize bytes. Each chunk
 * is sealed with the file's own random key, the header as associated data, and the nonce
 *   bytes 0–2 zero ‖ bytes 3–10 the chunk index, uint64be ‖ byte 11 = 1 for the last chunk, else 0,
 * so a chunk moved, repeated or dropped, a stream cut short, or a last chunk passed off as a middle one
 * fails authentication. A fresh key per file is what makes counter nonces safe.
 *
 * Memory stays bounded: at most one chunk plus one incoming buffer is held, whatever the file size.
 */

export const ATTACHMENT_MAGIC = Buffer.from('OCA1', 'ascii')
export const ATTACHMENT_CHUNK_BYTES = 64 * 1024
export const ATTACHMENT_HEADER_BYTES = 8
export const ATTACHMENT_TAG_BYTES = 16
const CIPHER = 'chacha20-poly1305'
/** How far from its place a misplaced chunk is looked for, to name the fault (diagnosis only). */
const DIAGNOSIS_WINDOW = 16

export type AttachmentErrorCode =
  | 'E_ATTACHMENT_BAD_HEADER'
  | 'E_ATTACHMENT_TRUNCATED'
  | 'E_ATTACHMENT_REORDERED'
  | 'E_ATTACHMENT_DUPLICATED'
  | 'E_ATTACHMENT_TAMPERED'
  | 'E_ATTACHMENT_TRAILING_DATA'
  | 'E_ATTACHMENT_TOO_LARGE'
  | 'E_ATTACHMENT_SIZE_MISMATCH'
  | 'E_ATTACHMENT_HASH_MISMATCH'

/** What an attachment stream emits on 'error': a typed code and an `invalid:` reason. */
export class AttachmentStreamError extends Error {
  override name = 'AttachmentStreamError'
  readonly code: AttachmentErrorCode
  readonly reason: Reason

  constructor(code: AttachmentErrorCode, text: string) {
    super(text)
    this.code = code
    this.reason = makeReason('invalid', text)
  }
}

export function generateAttachmentKey(): Uint8Array {
  return randomBytes(32)
}

/** Bytes on the wire for a plaintext of `plainBytes`: what the relay expects as the declared length. */
export function attachmentCiphertextSize(plainBytes: number, chunkBytes = ATTACHMENT_CHUNK_BYTES): number {
  const chunks = Math.max(1, Math.ceil(plainBytes / chunkBytes))
  return ATTACHMENT_HEADER_BYTES + plainBytes + chunks * ATTACHMENT_TAG_BYTES
}

function attachmentHeader(chunkBytes: number): Buffer {
  const header = Buffer.alloc(ATTACHMENT_HEADER_BYTES)
  ATTACHMENT_MAGIC.copy(header)
  header.writeUInt32BE(chunkBytes, 4)
  return header
}

export function chunkNonce(index: number, final: boolean): Buffer {
  const nonce = Buffer.alloc(12)
  nonce.writeUInt32BE(Math.floor(index / 2 ** 32), 3)
  nonce.writeUInt32BE(index % 2 ** 32, 7)
  nonce[11] = final ? 1 : 0
  return nonce
}

function sealChunk(
  key: Uint8Array,
  header: Buffer,
  index: number,
  final: boolean,
  plaintext: Buffer,
): Buffer {
  const cipher = createCipheriv(CIPHER, key, chunkNonce(index, final), {
    authTagLength: ATTACHMENT_TAG_BYTES,
  })
  cipher.setAAD(header, { plaintextLength: plaintext.byteLength })
  const body = cipher.update(plaintext)
  cipher.final()
  return Buffer.concat([body, cipher.getAuthTag()])
}

function openChunk(
  key: Uint8Array,
  header: Buffer,
  index: number,
  final: boolean,
  sealed: Buffer,
): Buffer | undefined {
  if (sealed.byteLength < ATTACHMENT_TAG_BYTES) return undefined
  const decipher = createDecipheriv(CIPHER, key, chunkNonce(index, final), {
    authTagLength: ATTACHMENT_TAG_BYTES,
  })
  decipher.setAAD(header, { plaintextLength: sealed.byteLength - ATTACHMENT_TAG_BYTES })
  decipher.setAuthTag(sealed.subarray(sealed.byteLength - ATTACHMENT_TAG_BYTES))
  const body = decipher.update(sealed.subarray(0, sealed.byteLength - ATTACHMENT_TAG_BYTES))
  try {
    decipher.final()
  } catch {
    // OpenSSL reports a failed tag check by throwing; here it is an answer, not an error.
    return undefined
  }
  return body
}

/** A FIFO of buffers that hands out exact-sized slices, copying only when a slice spans buffers. */
class ByteQueue {
  #parts: Buffer[] = []
  length = 0

  push(part: Buffer): void {
    if (part.byteLength === 0) return
    this.#parts.push(part)
    this.length += part.byteLength
  }

  take(bytes: number): Buffer {
    const first = this.#parts[0]
    if (first && first.byteLength >= bytes) {
      const slice = first.subarray(0, bytes)
      if (first.byteLength === bytes) this.#parts.shift()
      else this.#parts[0] = first.subarray(bytes)
      this.length -= bytes
      return slice
    }
    const out = Buffer.allocUnsafe(bytes)
    let filled = 0
    while (filled < bytes) {
      const part = this.#parts[0]
      if (!part) throw new RangeError('ByteQueue underflow')
      const used = Math.min(part.byteLength, bytes - filled)
      part.copy(out, filled, 0, used)
      filled += used
      if (used === part.byteLength) this.#parts.shift()
      else this.#parts[0] = part.subarray(used)
    }
    this.length -= bytes
    return out
  }
}

export type AttachmentDigest = { size: number; sha256: string }

export type EncryptorOptions = {
  key: Uint8Array
  /** Refuse plaintext beyond this many bytes; default 100 MB (`LIMITS.attachmentBytes`). */
  maxBytes?: number
  chunkBytes?: number
}

/** Plaintext in, ciphertext out. After 'end', `digest()` gives the plaintext size and SHA-256. */
export class AttachmentEncryptor extends Transform {
  readonly #key: Uint8Array
  readonly #chunkBytes: number
  readonly #maxBytes: number
  readonly #header: Buffer
  readonly #pending = new ByteQueue()
  readonly #hash: Hash = createHash('sha256')
  #index = 0
  #size = 0
  #digest: AttachmentDigest | undefined

  constructor(options: EncryptorOptions) {
    super()
    if (options.key.byteLength !== 32) throw new RangeError('an attachment key is 32 bytes')
    this.#key = options.key
    this.#chunkBytes = options.chunkBytes ?? ATTACHMENT_CHUNK_BYTES
    this.#maxBytes = options.maxBytes ?? LIMITS.attachmentBytes
    this.#header = attachmentHeader(this.#chunkBytes)
    this.push(this.#header)
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#size += chunk.byteLength
    if (this.#size > this.#maxBytes) {
      done(
        new AttachmentStreamError(
          'E_ATTACHMENT_TOO_LARGE',
          `attachment is larger than ${this.#maxBytes} bytes`,
        ),
      )
      return
    }
    this.#hash.update(chunk)
    this.#pending.push(chunk)
    // Keep the last chunk back until the end: only then is it known to be the final one.
    while (this.#pending.length > this.#chunkBytes) {
      this.push(
        sealChunk(this.#key, this.#header, this.#index++, false, this.#pending.take(this.#chunkBytes)),
      )
    }
    done()
  }

  override _flush(done: TransformCallback): void {
    this.push(
      sealChunk(this.#key, this.#header, this.#index++, true, this.#pending.take(this.#pending.length)),
    )
    this.#digest = { size: this.#size, sha256: this.#hash.digest('base64url') }
    done()
  }

  /** Plaintext size and SHA-256 (base64url); available once the stream has ended. */
  digest(): AttachmentDigest {
    if (!this.#digest) throw new Error('the attachment stream has not ended yet')
    return this.#digest
  }
}

export type DecryptorOptions = {
  key: Uint8Array
  /** Plaintext size from the AttachmentRef: a shorter or longer stream is refused. */
  expectedSize?: number
  /** SHA-256 (base64url) from the AttachmentRef, checked at the end. */
  expectedSha256?: string
  maxBytes?: number
  /** Largest chunk size accepted in a header, to keep memory bounded: 1 MiB. */
  maxChunkBytes?: number
}

/** Ciphertext in, plaintext out; emits an AttachmentStreamError on any fault. */
export class AttachmentDecryptor extends Transform {
  readonly #key: Uint8Array
  readonly #options: DecryptorOptions
  readonly #pending = new ByteQueue()
  readonly #hash: Hash = createHash('sha256')
  #header: Buffer | undefined
  #chunkBytes = 0
  #index = 0
  #size = 0
  #received = 0

  constructor(options: DecryptorOptions) {
    super()
    if (options.key.byteLength !== 32) throw new RangeError('an attachment key is 32 bytes')
    this.#key = options.key
    this.#options = options
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#received += chunk.byteLength
    this.#pending.push(chunk)
    const fault = this.#readHeader() ?? this.#drain()
    done(fault)
  }

  override _flush(done: TransformCallback): void {
    done(this.#finish())
  }

  #readHeader(): AttachmentStreamError | undefined {
    if (this.#header || this.#pending.length < ATTACHMENT_HEADER_BYTES) return undefined
    const header = this.#pending.take(ATTACHMENT_HEADER_BYTES)
    const chunkBytes = header.readUInt32BE(4)
    if (!header.subarray(0, 4).equals(ATTACHMENT_MAGIC)) {
      return new AttachmentStreamError(
        'E_ATTACHMENT_BAD_HEADER',
        'not an O\'Chat attachment stream (magic "OCA1" missing)',
      )
    }
    if (chunkBytes < 1024 || chunkBytes > (this.#options.maxChunkBytes ?? 1024 * 1024)) {
      return new AttachmentStreamError('E_ATTACHMENT_BAD_HEADER', `chunk size ${chunkBytes} is out of bounds`)
    }
    this.#header = Buffer.from(header)
    this.#chunkBytes = chunkBytes
    return undefined
  }

  /** Opens every chunk that is certainly not the last: one more byte has arrived after it. */
  #drain(): AttachmentStreamError | undefined {
    if (!this.#header) return undefined
    const sealedBytes = this.#chunkBytes + ATTACHMENT_TAG_BYTES
    while (this.#pending.length > sealedBytes) {
      const fault = this.#open(this.#pending.take(sealedBytes), false)
      if (fault) return fault
    }
    return undefined
  }

  #open(sealed: Buffer, final: boolean): AttachmentStreamError | undefined {
    const header = this.#header
    if (!header)
      return new AttachmentStreamError('E_ATTACHMENT_TRUNCATED', 'the stream ends inside its header')
    const plaintext = openChunk(this.#key, header, this.#index, final, sealed)
    if (!plaintext) return this.#diagnose(header, sealed, final)
    this.#size += plaintext.byteLength
    const maxBytes = this.#options.expectedSize ?? this.#options.maxBytes ?? LIMITS.attachmentBytes
    if (this.#size > maxBytes) {
      return new AttachmentStreamError(
        'E_ATTACHMENT_TOO_LARGE',
        `attachment is larger than ${maxBytes} bytes`,
      )
    }
    this.#hash.update(plaintext)
    this.#index++
    this.push(plaintext)
    return undefined
  }

  /** Names the fault of a chunk that failed authentication. Security does not depend on this. */
  #diagnose(header: Buffer, sealed: Buffer, final: boolean): AttachmentStreamError {
    const at = this.#index
    if (!final && openChunk(this.#key, header, at, true, sealed)) {
      return new AttachmentStreamError('E_ATTACHMENT_TRAILING_DATA', `bytes follow the last chunk (${at})`)
    }
    if (final && openChunk(this.#key, header, at, false, sealed)) {
      return new AttachmentStreamError(
        'E_ATTACHMENT_TRUNCATED',
        `the stream ends after chunk ${at}, before its last chunk`,
      )
    }
    for (let other = Math.max(0, at - DIAGNOSIS_WINDOW); other <= at + DIAGNOSIS_WINDOW; other++) {
      if (other === at) continue
      if (
        !openChunk(this.#key, header, other, false, sealed) &&
        !openChunk(this.#key, header, other, true, sealed)
      ) {
        continue
      }
      return other < at
        ? new AttachmentStreamError(
            'E_ATTACHMENT_DUPLICATED',
            `chunk ${other} appears again at position ${at}`,
          )
        : new AttachmentStreamError('E_ATTACHMENT_REORDERED', `chunk ${other} appears at position ${at}`)
    }
    return new AttachmentStreamError(
      'E_ATTACHMENT_TAMPERED',
      `chunk ${at} fails authentication: it was changed`,
    )
  }

  #finish(): AttachmentStreamError | undefined {
    if (!this.#header) {
      return new AttachmentStreamError('E_ATTACHMENT_TRUNCATED', 'the stream ends before its header')
    }
    const { expectedSize, expectedSha256 } = this.#options
    if (expectedSize !== undefined) {
      const expectedBytes = attachmentCiphertextSize(expectedSize, this.#chunkBytes)
      if (this.#received < expectedBytes) {
        return new AttachmentStreamError(
          'E_ATTACHMENT_TRUNCATED',
          `the stream ends after ${this.#received} of ${expectedBytes} bytes`,
        )
      }
      if (this.#received > expectedBytes) {
        return new AttachmentStreamError(
          'E_ATTACHMENT_TRAILING_DATA',
          `${this.#received - expectedBytes} bytes follow the last chunk`,
        )
      }
    }
    if (this.#pending.length < ATTACHMENT_TAG_BYTES) {
      return new AttachmentStreamError(
        'E_ATTACHMENT_TRUNCATED',
        `the stream ends after chunk ${this.#index - 1}, before its last chunk`,
      )
    }
    const fault = this.#open(this.#pending.take(this.#pending.length), true)
    if (fault) return fault
    if (expectedSize !== undefined && this.#size !== expectedSize) {
      return new AttachmentStreamError(
        'E_ATTACHMENT_SIZE_MISMATCH',
        `decrypted ${this.#size} bytes, expected ${expectedSize}`,
      )
    }
    if (expectedSha256 !== undefined) {
      const expected = fromBase64Url(expectedSha256)
      if (!expected || !bytesEqual(this.#hash.digest(), expected)) {
        return new AttachmentStreamError(
          'E_ATTACHMENT_HASH_MISMATCH',
          'the decrypted file does not match its SHA-256',
        )
      }
    }
    return undefined
  }
}

/** SHA-256 (base64url) of a buffer; for AttachmentRef.sha256 when the file is already in memory. */
export function sha256OfBytes(bytes: Uint8Array): string {
  return toBase64Url(createHash('sha256').update(bytes).digest())
}
