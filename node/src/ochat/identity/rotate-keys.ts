import { signKeyRotation, toBase64Url } from '@ochat/shared-protocol'
import { eq } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { ochatIdentity } from '../../db/schema.ts'
import type { WriteQueue } from '../../db/write-queue.ts'
import { NodeError } from '../../errors.ts'
import type { RelayHttpClient } from '../relay/http-client.ts'
import { type Instance, identityRow, newInstanceKeys, openInstance, sealSecretKeys } from './instance.ts'
import type { Keystore } from './keystore.ts'
import { relayCall } from './register-instance.ts'

/**
 * Replaces this node's identity and encryption keys (PROTOCOL.md §1.4), e.g. after a suspected leak:
 * new keys are generated here, the rotation is signed by the current identity key (authority) and
 * the new one (possession) and sent to the relay, then the new secret keys are stored sealed under the
 * operator's secret. The instance id stays. Peers see the new keys on their next connection sync and
 * their channel pauses until one of their admins verifies the new safety code (invariant 8).
 *
 * The relay goes first: if it refuses or cannot be reached, nothing changed here. The caller stops
 * the transport before (nothing is sealed or signed with the old keys meanwhile) and restarts it with
 * the instance this answers.
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
  const held = await relayCall(() => props.relay.rotateKeys(signed))
  if (held.identityKey !== keys.identityKey || held.encryptionKey !== keys.encryptionKey)
    throw new NodeError('E_OCHAT_RELAY_UNTRUSTED', 'the relay answered with other keys than the rotated ones')
  await props.writes.run((tx) =>
    tx
      .update(ochatIdentity)
      .set({
        identityPublicKey: keys.identityKey,
        encryptionPublicKey: keys.encryptionKey,
        sealedSecretKeys: sealSecretKeys(props.keystore, { identity, encryption }),
      })
      .where(eq(ochatIdentity.id, 1))
      .run(),
  )
  const row = identityRow(props.db)
  if (!row) throw new NodeError('E_INTERNAL')
  return openInstance(row, props.keystore)
}
