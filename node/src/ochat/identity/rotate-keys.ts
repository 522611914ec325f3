import { signKeyRotation, toBase64Url } from '@ochat/shared-protocol'
import { eq } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { ochatIdentity } from '../../db/schema.ts'
import type { WriteQueue } from '../../db/write-queue.ts'
import { NodeError } from '../../errors.ts'
import { RelayAnswerError, type RelayHttpClient } from '../relay/http-client.ts'
import {
  type Instance,
  identityRow,
  newInstanceKeys,
  openInstance,
  openSecretKeys,
  sealSecretKeys,
} from './instance.ts'
import type { Keystore } from './keystore.ts'
import { relayCall } from './register-instance.ts'

/** How long the keys a rotation replaced still open what peers sealed to them: 7 days. */
export const PREVIOUS_KEYS_MS = 7 * 24 * 3_600_000

/**
 * Replaces this node's identity and encryption keys (PROTOCOL.md §1.4), e.g. after a suspected leak:
 * new keys are generated here, the rotation is signed by the current identity key (authority) and
 * the new one (possession) and sent to the relay, then the new secret keys replace the old ones. The
 * instance id stays. Peers see the new keys on their next connection sync and their channel pauses
 * until one of their admins verifies the new safety code: a key change is never silent.
 *
 * The new secret keys are stored sealed as `pending_secret_keys` before the relay is asked, so no
 * outcome loses them: an answer swaps them in; a refusal drops them (the relay kept the old keys); no
 * answer (the relay unreachable, a 5xx, a crash of this process) leaves them pending until
 * `settlePendingRotation` learns from the relay which keys it accepts. The caller stops the transport
 * before (nothing is sealed or signed with the old keys meanwhile) and restarts it with the instance
 * this answers.
 */
export async function rotateKeys(props: {
  db: Db
  writes: WriteQueue
  keystore: Keystore
  /** The instance as it is now, with the secret keys that sign the rotation. */
  instance: Instance
  /** Signs its requests with the current identity key. */
  relay: RelayHttpClient
  nowMs: number
}): Promise<Instance> {
  const { instance } = props
  const { identity, encryption, keys } = newInstanceKeys()
  const signed = signKeyRotation(
    {
      v: 1,
      relayId: instance.relayId,
      instanceId: instance.instanceId,
      previousIdentityKey: toBase64Url(instance.identity.publicKey),
      keys,
      at: props.nowMs,
    },
    { previousSecretKey: instance.identity.secretKey, newSecretKey: identity.secretKey },
  )
  const pending = sealSecretKeys(props.keystore, { identity, encryption })
  await setPending(props.writes, pending)
  let held: Awaited<ReturnType<RelayHttpClient['rotateKeys']>>
  try {
    held = await props.relay.rotateKeys(signed)
  } catch (error) {
    // A 4xx is the relay refusing: it kept the old keys. Anything else may have reached it.
    if (error instanceof RelayAnswerError && error.status < 500) await setPending(props.writes, null)
    return relayCall(() => Promise.reject(error))
  }
  if (held.identityKey !== keys.identityKey || held.encryptionKey !== keys.encryptionKey) {
    await setPending(props.writes, null)
    throw new NodeError('E_OCHAT_RELAY_UNTRUSTED', 'the relay answered with other keys than the rotated ones')
  }
  return adoptPending(props)
}

/**
 * A rotation whose outcome this node did not learn (its answer was lost, or the process stopped while
 * it was under way): the relay is asked who this instance is, signed with the keys held now. If they
 * still work, the rotation never took effect and the pending keys are dropped; if the relay refuses
 * them as the wrong key and accepts the pending ones, the rotation did, and those become this node's
 * keys. Answers the instance to go on with; throws (keys left pending) while the relay cannot tell.
 */
export async function settlePendingRotation(props: {
  db: Db
  writes: WriteQueue
  keystore: Keystore
  instance: Instance
  /** A relay client that signs with `instance`'s keys. */
  clientFor: (instance: Instance) => RelayHttpClient
  nowMs: number
}): Promise<Instance> {
  const row = identityRow(props.db)
  if (!row?.pendingSecretKeys) return props.instance
  if (await accepts(props.clientFor(props.instance))) {
    await setPending(props.writes, null)
    return props.instance
  }
  const { identity, encryption } = openSecretKeys(row.pendingSecretKeys, props.keystore)
  const pending = openInstance(
    {
      ...row,
      identityPublicKey: toBase64Url(identity.publicKey),
      encryptionPublicKey: toBase64Url(encryption.publicKey),
      sealedSecretKeys: row.pendingSecretKeys,
    },
    props.keystore,
  )
  if (await accepts(props.clientFor(pending))) return adoptPending(props)
  throw new NodeError(
    'E_OCHAT_RELAY_REFUSED',
    'the relay accepts neither the current keys nor those of the rotation under way (is this clock right?)',
  )
}

/**
 * Whether the relay takes requests signed by this client's keys: false when it refuses the signature
 * (401); a suspended instance is told so only after its signature verified (relay auth). Throws when
 * the relay cannot be asked.
 */
async function accepts(client: RelayHttpClient): Promise<boolean> {
  try {
    await client.me()
    return true
  } catch (error) {
    if (!(error instanceof RelayAnswerError)) throw error
    if (error.code === 'E_SUSPENDED') return true
    if (error.status === 401) return false
    throw error
  }
}

async function setPending(writes: WriteQueue, sealed: string | null): Promise<void> {
  await writes.run((tx) =>
    tx.update(ochatIdentity).set({ pendingSecretKeys: sealed }).where(eq(ochatIdentity.id, 1)).run(),
  )
}

/**
 * The relay holds the pending keys: they become this node's keys, in one write. The replaced ones are
 * kept for PREVIOUS_KEYS_MS, to open what peers sealed to them before their next connection sync.
 */
async function adoptPending(props: {
  db: Db
  writes: WriteQueue
  keystore: Keystore
  nowMs: number
}): Promise<Instance> {
  await props.writes.run((tx) => {
    const row = identityRow(tx)
    if (!row?.pendingSecretKeys) throw new NodeError('E_CONFLICT', 'no key rotation is under way')
    const { identity, encryption } = openSecretKeys(row.pendingSecretKeys, props.keystore)
    tx.update(ochatIdentity)
      .set({
        identityPublicKey: toBase64Url(identity.publicKey),
        encryptionPublicKey: toBase64Url(encryption.publicKey),
        sealedSecretKeys: row.pendingSecretKeys,
        pendingSecretKeys: null,
        previousSecretKeys: row.sealedSecretKeys,
        previousKeysUntil: props.nowMs + PREVIOUS_KEYS_MS,
      })
      .where(eq(ochatIdentity.id, 1))
      .run()
  })
  const row = identityRow(props.db)
  if (!row) throw new NodeError('E_INTERNAL')
  return openInstance(row, props.keystore)
}
