import { createCipheriv, createDecipheriv, randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import { ByteReader } from './byte-reader.ts'
import { BackupError } from './errors.ts'

/**
 * The outside of a backup file: a short header, then the container (container.ts) either as is or
 * encrypted with a key derived from a passphrase.
 *
 * Header: `OCHATBAK`, the format version (1 byte), the mode (0 plain, 1 encrypted). Encrypted, it goes
 * on with scrypt's log2(N), r and p (1 byte each), a 16-byte salt, a 7-byte nonce prefix and a 16-byte
 * key check. The key check tells a wrong passphrase from a damaged file: scrypt makes 64 bytes, the
 * first 32 are the AES-256 key, the next 16 are the check (they reveal nothing about the key).
 *
 * The container is then cut in chunks of 64 KiB, each sealed with AES-256-GCM and stored as its
 * length (4 bytes, big-endian) and its ciphertext with the tag. The nonce is the prefix, the chunk's
 * number (4 bytes) and 1 on the last chunk, 0 before: chunks cannot be reordered, dropped or cut off
 * at the end without a tag failing (the STREAM construction). The whole header is every chunk's
 * associated data, so no header byte can be changed either.
 */
const MAGIC = Buffer.from('OCHATBAK', 'latin1')
export const FORMAT_VERSION = 1
const PLAIN = 0
const ENCRYPTED = 1
const CHUNK_BYTES = 64 * 1024
const TAG_BYTES = 16
const SALT_BYTES = 16
const PREFIX_BYTES = 7
const CHECK_BYTES = 16
/**
 * scrypt's cost for new files: 128 MiB and about half a second; a passphrase protects a file that may
 * be copied anywhere, and is tried offline as often as an attacker likes.
 */
const NEW_COST = { log2N: 17, r: 8, p: 1 } as const
/**
 * The highest cost a file may ask for (256 MiB, twice today's): a crafted header must not make a
 * restore take gigabytes.
 */
const MAX_COST = { log2N: 18, r: 8, p: 4 } as const
export const MIN_PASSPHRASE_CHARS = 12

type Cost = { log2N: number; r: number; p: number }

function deriveKeys(passphrase: string, salt: Buffer, cost: Cost): Promise<{ key: Buffer; check: Buffer }> {
  const N = 2 ** cost.log2N
  return new Promise((resolve, reject) =>
    scrypt(
      passphrase.normalize('NFC'),
      salt,
      64,
      { N, r: cost.r, p: cost.p, maxmem: 256 * N * cost.r },
      (error, derived) =>
        error
          ? reject(error)
          : resolve({ key: derived.subarray(0, 32), check: derived.subarray(32, 32 + CHECK_BYTES) }),
    ),
  )
}

function nonce(prefix: Buffer, index: number, last: boolean): Buffer {
  const value = Buffer.alloc(12)
  prefix.copy(value, 0)
  value.writeUInt32BE(index, PREFIX_BYTES)
  value[11] = last ? 1 : 0
  return value
}

/** Refuses a passphrase too short to be worth encrypting with. */
export function checkPassphrase(passphrase: string): void {
  if ([...passphrase].length < MIN_PASSPHRASE_CHARS)
    throw new BackupError(
      'E_BACKUP_PASSPHRASE_WEAK',
      `the passphrase has fewer than ${MIN_PASSPHRASE_CHARS} characters: use a longer one (several words, or \`openssl rand -base64 24\`)`,
    )
}

/**
 * The file's bytes from the container's: the header, then the container as is (no passphrase) or in
 * sealed chunks. For `stream.pipeline`.
 */
export async function sealing(passphrase: string | undefined) {
  if (passphrase === undefined)
    return async function* plain(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
      yield Buffer.concat([MAGIC, Buffer.from([FORMAT_VERSION, PLAIN])])
      yield* source
    }
  checkPassphrase(passphrase)
  const salt = randomBytes(SALT_BYTES)
  const prefix = randomBytes(PREFIX_BYTES)
  const { key, check } = await deriveKeys(passphrase, salt, NEW_COST)
  const header = Buffer.concat([
    MAGIC,
    Buffer.from([FORMAT_VERSION, ENCRYPTED, NEW_COST.log2N, NEW_COST.r, NEW_COST.p]),
    salt,
    prefix,
    check,
  ])
  const seal = (plaintext: Buffer, index: number, last: boolean) => {
    const cipher = createCipheriv('aes-256-gcm', key, nonce(prefix, index, last), {
      authTagLength: TAG_BYTES,
    })
    cipher.setAAD(header)
    const sealed = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])
    const length = Buffer.alloc(4)
    length.writeUInt32BE(sealed.length)
    return Buffer.concat([length, sealed])
  }
  return async function* encrypted(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    yield header
    let index = 0
    let held: Buffer[] = []
    let heldBytes = 0
    for await (const chunk of source) {
      held.push(chunk)
      heldBytes += chunk.length
      // Strictly more than a chunk: what is left at the end (maybe nothing) is always the last chunk.
      if (heldBytes <= CHUNK_BYTES) continue
      let all = Buffer.concat(held, heldBytes)
      while (all.length > CHUNK_BYTES) {
        yield seal(all.subarray(0, CHUNK_BYTES), index++, false)
        all = all.subarray(CHUNK_BYTES)
      }
      held = [all]
      heldBytes = all.length
    }
    yield seal(Buffer.concat(held, heldBytes), index, true)
  }
}

/**
 * Reads the header and answers the container's bytes: from `file` as is, or opened chunk by chunk.
 * Throws a BackupError for a file that is not a backup, too new, encrypted without a passphrase, plain
 * though a passphrase was given, or a wrong passphrase; a chunk that fails its tag is thrown as damage
 * when it is reached.
 */
export async function opening(
  file: ByteReader,
  passphrase: string | undefined,
): Promise<{ encrypted: boolean; container: ByteReader }> {
  const notBackup = () =>
    new BackupError('E_BACKUP_DAMAGED', 'this is not an ochat-node backup file (its first bytes are wrong)')
  const start = await file.exactly(MAGIC.length + 2, 'the header').catch((error) => {
    throw error instanceof BackupError ? notBackup() : error
  })
  if (!start.subarray(0, MAGIC.length).equals(MAGIC)) throw notBackup()
  const version = start[MAGIC.length] as number
  const mode = start[MAGIC.length + 1] as number
  if (version > FORMAT_VERSION)
    throw new BackupError(
      'E_BACKUP_TOO_NEW',
      `the backup's format is version ${version}, this ochat-node reads up to ${FORMAT_VERSION}: restore it with a newer ochat-node`,
    )
  if (version < 1 || (mode !== PLAIN && mode !== ENCRYPTED))
    throw new BackupError('E_BACKUP_DAMAGED', 'the backup header is damaged (unknown version or mode)')
  if (mode === PLAIN) {
    // Whoever asks for a passphrase expects an encrypted file: a plain one in its place may have been
    // put there by someone who can write where the backups are kept, to plant records of their own.
    if (passphrase !== undefined)
      throw new BackupError(
        'E_BACKUP_NOT_ENCRYPTED',
        'a passphrase was given but this backup is not encrypted: it may not be the file that was written with that passphrase. Nothing was restored. Restore it without --passphrase-file only if you trust where the file came from',
      )
    return { encrypted: false, container: file }
  }
  if (passphrase === undefined)
    throw new BackupError(
      'E_BACKUP_PASSPHRASE_NEEDED',
      'this backup is encrypted: give its passphrase with --passphrase-file PATH',
    )
  const rest = await file.exactly(3 + SALT_BYTES + PREFIX_BYTES + CHECK_BYTES, 'the header')
  const cost = { log2N: rest[0] as number, r: rest[1] as number, p: rest[2] as number }
  if (
    cost.log2N < 10 ||
    cost.log2N > MAX_COST.log2N ||
    cost.r < 1 ||
    cost.r > MAX_COST.r ||
    cost.p < 1 ||
    cost.p > MAX_COST.p
  )
    throw new BackupError('E_BACKUP_DAMAGED', 'the backup header is damaged (impossible key-derivation cost)')
  const salt = rest.subarray(3, 3 + SALT_BYTES)
  const prefix = rest.subarray(3 + SALT_BYTES, 3 + SALT_BYTES + PREFIX_BYTES)
  const stored = rest.subarray(3 + SALT_BYTES + PREFIX_BYTES)
  const { key, check } = await deriveKeys(passphrase, salt, cost)
  if (!timingSafeEqual(check, stored))
    throw new BackupError(
      'E_BACKUP_PASSPHRASE_WRONG',
      'the passphrase does not open this backup: give the passphrase file it was made with (blank space around the passphrase is ignored)',
    )
  const header = Buffer.concat([start, rest])
  return { encrypted: true, container: new ByteReader(opened(file, header, key, prefix)) }
}

async function* opened(
  file: ByteReader,
  header: Buffer,
  key: Buffer,
  prefix: Buffer,
): AsyncGenerator<Buffer> {
  for (let index = 0; ; index++) {
    if (await file.atEnd())
      throw new BackupError(
        'E_BACKUP_DAMAGED',
        'the backup is truncated: its last encrypted chunk is missing',
      )
    const at = file.offset
    const length = (await file.exactly(4, 'an encrypted chunk')).readUInt32BE(0)
    if (length < TAG_BYTES || length > CHUNK_BYTES + TAG_BYTES)
      throw new BackupError(
        'E_BACKUP_DAMAGED',
        `the backup is damaged at byte ${at} (a chunk of impossible size)`,
      )
    const sealed = await file.exactly(length, 'an encrypted chunk')
    const body = sealed.subarray(0, length - TAG_BYTES)
    const tag = sealed.subarray(length - TAG_BYTES)
    // Only the last chunk may be short; a full one is the last if it opens as the last.
    for (const last of body.length < CHUNK_BYTES ? [true] : [false, true]) {
      const decipher = createDecipheriv('aes-256-gcm', key, nonce(prefix, index, last), {
        authTagLength: TAG_BYTES,
      })
      decipher.setAAD(header)
      decipher.setAuthTag(tag)
      let plaintext: Buffer
      try {
        plaintext = Buffer.concat([decipher.update(body), decipher.final()])
      } catch {
        if (!last) continue
        throw new BackupError(
          'E_BACKUP_DAMAGED',
          `the backup was altered or damaged at byte ${at}: its encrypted chunk ${index} fails authentication`,
        )
      }
      yield plaintext
      if (!last) break
      if (!(await file.atEnd()))
        throw new BackupError('E_BACKUP_DAMAGED', 'the backup has bytes after its last encrypted chunk')
      return
    }
  }
}
