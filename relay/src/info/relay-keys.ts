import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import {
  deriveRelayId,
  identityKeyPairFromSeed,
  type RelayId,
  type SignedRelayKeySet,
  signKeySet,
  toBase64,
  webhookPublicKeyBytes,
} from '@ochat/shared-protocol'
import { z } from 'zod'

/**
 * The relay's own Ed25519 signing keys (PROTOCOL.md §1.5). They sign webhooks and the key set nodes pin.
 * Kept in a file (mode 0600) that replicas share; created on first start. These are the relay's keys, not
 * an instance's: the relay never holds an instance's secret keys (invariant 1).
 */
const KeyFileSchema = z.object({
  relayId: z.string(),
  keySet: z.unknown(),
  secrets: z.array(z.object({ kid: z.string(), secretKey: z.string().startsWith('whsk_') })).min(1),
})

export type RelayKeys = Readonly<{
  relayId: RelayId
  keySet: SignedRelayKeySet
  /** "whsk_…" keys that sign webhooks now: the active key, and during a rotation the next one. */
  signingKeys: readonly string[]
}>

export function loadOrCreateRelayKeys(file: string, nowMs: number): RelayKeys {
  mkdirSync(dirname(file), { recursive: true })
  try {
    writeFileSync(file, JSON.stringify(newKeyFile(nowMs), null, 2), { flag: 'wx', mode: 0o600 })
  } catch (error) {
    // Another replica, or an earlier start, created it: use that one.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  }
  const parsed = KeyFileSchema.parse(JSON.parse(readFileSync(file, 'utf8')))
  const keySet = parsed.keySet as SignedRelayKeySet
  return Object.freeze({
    relayId: parsed.relayId as RelayId,
    keySet,
    signingKeys: parsed.secrets.map((secret) => secret.secretKey),
  })
}

function newKeyFile(nowMs: number) {
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
