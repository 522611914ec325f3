import { randomBytes } from 'node:crypto'
import { existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import {
  deriveRelayId,
  firstIssue,
  fromBase64,
  identityKeyPairFromSeed,
  type RelayId,
  RelayIdSchema,
  type RelayKey,
  relayIdKey,
  type SignedRelayKeySet,
  SignedRelayKeySetSchema,
  signKeySet,
  toBase64,
  webhookPublicKeyBytes,
} from '@ochat/shared-protocol'
import { z } from 'zod'

/**
 * The relay's own Ed25519 signing keys (PROTOCOL.md §1.5). They sign webhooks and the key set nodes pin.
 * Kept in a file (mode 0600) that replicas share; created on first start. These are the relay's keys, not
 * an instance's: the relay never holds an instance's secret keys.
 *
 * The file is only ever replaced whole (written beside it, then linked or renamed into place), so a
 * replica starting while another creates it or an operator rotates the keys reads the old file or the
 * new one, never half of one.
 */
const KeyFileSchema = z.object({
  relayId: RelayIdSchema,
  keySet: SignedRelayKeySetSchema,
  secrets: z.array(z.object({ kid: z.string(), secretKey: z.string().startsWith('whsk_') })).min(1),
})
type KeyFile = z.infer<typeof KeyFileSchema>

export type RelayKeys = Readonly<{
  relayId: RelayId
  keySet: SignedRelayKeySet
  /**
   * "whsk_…" keys that sign webhooks now: the active key alone until the first rotation, and from then
   * on the active key and the retiring one, so that a node still pinning the previous set verifies them.
   */
  signingKeys: readonly string[]
}>

export function loadOrCreateRelayKeys(file: string, nowMs: number): RelayKeys {
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true })
    try {
      // link() fails if the file exists, so of two replicas starting at once only one creates it. A volume
      // without hard links gets a rename instead, which cannot tell who came first: the last one wins.
      replaceWith(file, newKeyFile(nowMs), (temporary) => {
        try {
          linkSync(temporary, file)
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code
          if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw error
          renameSync(temporary, file)
        }
      })
    } catch (error) {
      // Another replica created it meanwhile: use that one.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
  }
  const parsed = readKeyFile(file)
  return Object.freeze({
    relayId: parsed.relayId,
    keySet: parsed.keySet,
    signingKeys: parsed.secrets.map((secret) => secret.secretKey),
  })
}

/** The key file, checked as nodes will check its key set: a bad file stops the relay at boot, named. */
function readKeyFile(file: string): KeyFile {
  const text = readFileSync(file, 'utf8')
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new Error(`${file}: the relay key file is not JSON (${(error as Error).message})`)
  }
  const parsed = KeyFileSchema.safeParse(json)
  if (!parsed.success) throw new Error(`${file}: not a relay key file: ${firstIssue(parsed.error)}`)
  const { relayId, keySet } = parsed.data
  if (keySet.keySet.relayId !== relayId) throw new Error(`${file}: the key set is not for ${relayId}`)
  // Nodes refuse a set in which no key derives the relay id (PROTOCOL.md §1.5).
  if (relayIdKey(keySet.keySet) === undefined)
    throw new Error(`${file}: no key of the key set derives ${relayId}`)
  return parsed.data
}

/**
 * Writes `content` to a new file beside `file` (same directory, so same file system), mode 0600, then
 * `place`s it (rename or link); the temporary name is gone afterwards either way.
 */
function replaceWith(file: string, content: KeyFile, place: (temporary: string) => void): void {
  const temporary = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    writeFileSync(temporary, JSON.stringify(content, null, 2), { flag: 'wx', mode: 0o600 })
    place(temporary)
  } finally {
    rmSync(temporary, { force: true })
  }
}

function newKeyFile(nowMs: number): KeyFile {
  const pair = identityKeyPairFromSeed(randomBytes(32))
  const relayId = deriveRelayId(pair.publicKey)
  const publicKey = `whpk_${toBase64(pair.publicKey)}`
  const kid = new Date(nowMs).toISOString().slice(0, 10)
  const keySet = signKeySet(
    { v: 1, relayId, serial: 1, issuedAt: nowMs, keys: [{ kid, publicKey, status: 'active' }] },
    [{ kid, secretKey: pair.secretKey }],
  )
  if (!webhookPublicKeyBytes(publicKey)) throw new Error('generated relay key is malformed')
  return { relayId, keySet, secrets: [{ kid, secretKey: `whsk_${toBase64(pair.secretKey)}` }] }
}

/**
 * Rotates the relay's signing keys (PROTOCOL.md §1.5): the active key becomes `retiring`, the key that
 * was retiring is dropped (with its secret), and a new key becomes active. So after a rotation the relay
 * signs webhooks with two keys, the active and the retiring one.
 *
 * The new set has the next serial and is signed by every key of the file before the rotation (the keys
 * of the current set) and by the new one. A node follows it if it pinned the current set or the one
 * before it (whose active key is now retiring, and still signs); a node that pinned an older set knows
 * none of the signers and must be registered again.
 *
 * `origin` (the key the relay id derives from) is written only once that key has left `keys`, from the
 * second rotation on: until then the set is exactly what nodes that predate `origin` read (PROTOCOL.md
 * §10). Replaces the key file whole; every replica must restart to sign with the new key.
 */
export function rotateRelayKeys(file: string, nowMs: number): RelayKeys {
  const current = readKeyFile(file)
  const previous = current.keySet.keySet
  const origin = relayIdKey(previous)
  if (origin === undefined) throw new Error(`${file}: no key of the key set derives ${current.relayId}`)
  const pair = identityKeyPairFromSeed(randomBytes(32))
  const kid = uniqueKid(new Date(nowMs).toISOString().slice(0, 10), previous.keys)
  const keys: RelayKey[] = [
    ...previous.keys
      .filter((key) => key.status === 'active')
      .map((key) => ({ ...key, status: 'retiring' as const })),
    { kid, publicKey: `whpk_${toBase64(pair.publicKey)}`, status: 'active' },
  ]
  const signers = current.secrets.map((secret) => ({
    kid: secret.kid,
    secretKey: fromBase64(secret.secretKey.slice('whsk_'.length)) ?? new Uint8Array(),
  }))
  const originLeft = !keys.some((key) => key.publicKey === origin)
  const keySet = signKeySet(
    {
      v: 1,
      relayId: current.relayId,
      serial: previous.serial + 1,
      issuedAt: nowMs,
      ...(originLeft ? { origin } : {}),
      keys,
    },
    [...signers, { kid, secretKey: pair.secretKey }],
  )
  const kept = new Set(keys.map((key) => key.kid))
  const secrets = [
    ...current.secrets.filter((secret) => kept.has(secret.kid)),
    { kid, secretKey: `whsk_${toBase64(pair.secretKey)}` },
  ]
  replaceWith(file, { relayId: current.relayId, keySet, secrets }, (temporary) => renameSync(temporary, file))
  return loadOrCreateRelayKeys(file, nowMs)
}

/** `base`, or `base.2`, `base.3`…: two rotations on one day must not reuse a kid. */
function uniqueKid(base: string, keys: readonly RelayKey[]): string {
  const taken = new Set(keys.map((key) => key.kid))
  let kid = base
  for (let n = 2; taken.has(kid); n++) kid = `${base}.${n}`
  return kid
}
