import {
  type EncryptionKeyPair,
  encryptionKeyPairFromSecret,
  fromBase64Url,
  generateEncryptionKeyPair,
  generateIdentityKeyPair,
  type IdentityKeyPair,
  type InstancePublicKeys,
  PeerBoxKeys,
  type RelayKeySet,
  toBase64Url,
} from '@ochat/shared-protocol'
import { eq } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { ochatIdentity } from '../../db/schema.ts'
import { type Keystore, KeystoreError } from './keystore.ts'

/** This node's O'Chat identity, with its secret keys opened, as the process holds it in memory. */
export type Instance = Readonly<{
  instanceId: string
  relayId: string
  relayUrl: string
  name: string
  identity: IdentityKeyPair
  encryption: EncryptionKeyPair
  /** nacl.box shared keys with peers, cached (PROTOCOL.md §4.2). */
  boxKeys: PeerBoxKeys
  /**
   * The encryption keys a rotation replaced, until when (clock ms): envelopes peers sealed to them
   * before they learned the new ones can still be opened (identity/rotate-keys.ts).
   */
  previous: { boxKeys: PeerBoxKeys; until: number } | undefined
  /** The pinned relay key set: webhooks must be signed by one of its keys. */
  relayKeySet: RelayKeySet
}>

export type IdentityRow = typeof ochatIdentity.$inferSelect

export function identityRow(tx: Tx): IdentityRow | undefined {
  return tx.select().from(ochatIdentity).where(eq(ochatIdentity.id, 1)).get()
}

/** The two secret keys, sealed together: 64 bytes of Ed25519 secret key then 32 of X25519. */
export function sealSecretKeys(
  keystore: Keystore,
  keys: { identity: IdentityKeyPair; encryption: EncryptionKeyPair },
): string {
  return keystore.seal(Buffer.concat([keys.identity.secretKey, keys.encryption.secretKey]))
}

/** Opens sealed secret keys; throws KeystoreError when the operator's secret does not open them. */
export function openSecretKeys(
  sealed: string,
  keystore: Keystore,
): { identity: IdentityKeyPair; encryption: EncryptionKeyPair } {
  const secret = keystore.open(sealed)
  if (secret.byteLength !== 96) throw new KeystoreError("the stored O'Chat keys are malformed")
  const identitySecret = secret.slice(0, 64)
  return {
    identity: { secretKey: identitySecret, publicKey: identitySecret.slice(32) },
    encryption: encryptionKeyPairFromSecret(secret.slice(64)),
  }
}

/** Opens the stored identity; throws KeystoreError when the operator's secret does not open it. */
export function openInstance(row: IdentityRow, keystore: Keystore): Instance {
  const { identity, encryption } = openSecretKeys(row.sealedSecretKeys, keystore)
  if (
    toBase64Url(identity.publicKey) !== row.identityPublicKey ||
    toBase64Url(encryption.publicKey) !== row.encryptionPublicKey
  )
    throw new KeystoreError("the stored O'Chat keys do not match their public keys")
  return Object.freeze({
    instanceId: row.instanceId,
    relayId: row.relayId,
    relayUrl: row.relayUrl,
    name: row.name,
    identity,
    encryption,
    boxKeys: new PeerBoxKeys(encryption.secretKey),
    previous:
      row.previousSecretKeys && row.previousKeysUntil !== null
        ? {
            boxKeys: new PeerBoxKeys(openSecretKeys(row.previousSecretKeys, keystore).encryption.secretKey),
            until: row.previousKeysUntil,
          }
        : undefined,
    relayKeySet: row.pinnedKeySet.keySet,
  })
}

export function publicKeyBytes(text: string): Uint8Array {
  const bytes = fromBase64Url(text)
  if (bytes?.byteLength !== 32) throw new Error('not a 32-byte base64url key')
  return bytes
}

/** A fresh pair of keys for this instance, generated here (the relay only ever sees the public halves). */
export function newInstanceKeys() {
  const identity = generateIdentityKeyPair()
  const encryption = generateEncryptionKeyPair()
  const keys: InstancePublicKeys = {
    identityKey: toBase64Url(identity.publicKey),
    encryptionKey: toBase64Url(encryption.publicKey),
  }
  return { identity, encryption, keys }
}
