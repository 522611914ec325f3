import { createCipheriv, createDecipheriv, randomBytes, scrypt, scryptSync } from 'node:crypto'
import { fromBase64Url, toBase64Url } from '@ochat/shared-protocol'

/**
 * Seals secrets at rest, so a copied data directory gives nobody the keys: the instance's secret
 * keys and, while they are needed, attachment keys. The sealing key is derived once per process from
 * the operator's secret (NODE_OCHAT_SECRET or NODE_OCHAT_SECRET_FILE) with scrypt and a random salt
 * stored beside the sealed text; each value is sealed with ChaCha20-Poly1305 under a fresh 12-byte
 * nonce.
 *
 * Format: `v1.<salt>.<nonce>.<ciphertext‖tag>`, base64url parts.
 */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const
const TAG_BYTES = 16

export class KeystoreError extends Error {
  override name = 'KeystoreError'
}

export class Keystore {
  readonly #secret: string
  /** Derived keys by salt: one scrypt per salt per process (slow by design). */
  readonly #keys = new Map<string, Buffer>()
  /** The salt new values are sealed under: the stored keys' own once known, so one scrypt serves all. */
  #salt: Buffer = randomBytes(16)

  constructor(secret: string) {
    if (secret.length < 16)
      throw new KeystoreError("the O'Chat secret must be at least 16 characters (NODE_OCHAT_SECRET)")
    this.#secret = secret
  }

  /**
   * Derives the sealing key off the event loop (scrypt is slow by design), for the salt of `stored`
   * (the sealed instance keys) or for a fresh salt; later seals and opens under that salt need no
   * further derivation and never block a request.
   */
  async prepare(stored?: string): Promise<void> {
    const salt = stored === undefined ? undefined : fromBase64Url(stored.split('.')[1])
    if (salt) this.#salt = Buffer.from(salt)
    const id = this.#salt.toString('base64url')
    if (this.#keys.has(id)) return
    const key = await new Promise<Buffer>((resolve, reject) =>
      scrypt(this.#secret, this.#salt, 32, SCRYPT, (error, derived) =>
        error ? reject(error) : resolve(derived),
      ),
    )
    this.#keys.set(id, key)
  }

  #key(salt: Buffer): Buffer {
    const id = salt.toString('base64url')
    let key = this.#keys.get(id)
    if (!key) {
      key = scryptSync(this.#secret, salt, 32, SCRYPT)
      this.#keys.set(id, key)
    }
    return key
  }

  seal(plaintext: Uint8Array): string {
    const nonce = randomBytes(12)
    const cipher = createCipheriv('chacha20-poly1305', this.#key(this.#salt), nonce, {
      authTagLength: TAG_BYTES,
    })
    const sealed = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])
    return ['v1', toBase64Url(this.#salt), toBase64Url(nonce), toBase64Url(sealed)].join('.')
  }

  /** Throws KeystoreError when the text was sealed under another secret, or was altered. */
  open(text: string): Uint8Array {
    const [version, saltText, nonceText, sealedText] = text.split('.')
    const salt = fromBase64Url(saltText)
    const nonce = fromBase64Url(nonceText)
    const sealed = fromBase64Url(sealedText)
    if (
      version !== 'v1' ||
      !salt ||
      !nonce ||
      nonce.byteLength !== 12 ||
      !sealed ||
      sealed.byteLength < TAG_BYTES
    )
      throw new KeystoreError('sealed secret is malformed')
    const decipher = createDecipheriv('chacha20-poly1305', this.#key(Buffer.from(salt)), nonce, {
      authTagLength: TAG_BYTES,
    })
    decipher.setAuthTag(sealed.subarray(sealed.byteLength - TAG_BYTES))
    try {
      return Buffer.concat([
        decipher.update(sealed.subarray(0, sealed.byteLength - TAG_BYTES)),
        decipher.final(),
      ])
    } catch {
      throw new KeystoreError(
        "the O'Chat secret does not open the stored keys: NODE_OCHAT_SECRET is not the one they were sealed with",
      )
    }
  }
}
