import { deriveInstanceId, signRegistration, verifyKeySetUpdate } from '@ochat/shared-protocol'
import type { Database } from '../../db/client.ts'
import { ochatIdentity } from '../../db/schema.ts'
import { NodeError } from '../../errors.ts'
import { RelayAnswerError, RelayHttpClient, RelayUnreachableError } from '../relay/http-client.ts'
import { identityRow, newInstanceKeys, sealSecretKeys } from './instance.ts'
import type { Keystore } from './keystore.ts'

/**
 * Registers this node with a relay (PROTOCOL.md §1.3): reads the relay's info and pins its key set
 * (trust on first use, the set signed by its own key), generates the instance keys here, signs the
 * registration with them, and stores the keys sealed under the operator's secret. A node registers
 * once; its instance id never changes.
 */
export async function registerInstance(props: {
  database: Database
  keystore: Keystore
  relayUrl: string
  /** The company name the relay and peers see. */
  name: string
  /** Where the relay POSTs deliveries while this node's WebSocket is down. */
  webhookUrl: string | undefined
  /** Needed when the relay's registration policy is invite-only (`ochat-relay invite`). */
  inviteToken: string | undefined
  nowMs: number
}): Promise<{ instanceId: string; relayId: string }> {
  if (identityRow(props.database.db))
    throw new NodeError('E_OCHAT_ALREADY_REGISTERED', 'this node is registered; its identity cannot change')
  const relay = new RelayHttpClient(props.relayUrl)
  const info = await relayCall(() => relay.info())
  if (info.registration === 'invite' && !props.inviteToken)
    throw new NodeError(
      'E_OCHAT_INVITE_REQUIRED',
      'this relay registers by invitation: ask its operator for a token (ochat-relay invite)',
    )
  const pinned = verifyKeySetUpdate(info.keySet, { relayId: info.relayId, pinned: undefined })
  if (!pinned.ok) throw new NodeError('E_OCHAT_RELAY_UNTRUSTED', pinned.reason)

  const { identity, encryption, keys } = newInstanceKeys()
  const signed = signRegistration(
    {
      v: 1,
      relayId: info.relayId,
      name: props.name,
      keys,
      ...(props.webhookUrl ? { webhookUrl: props.webhookUrl } : {}),
      ...(props.inviteToken ? { inviteToken: props.inviteToken } : {}),
      at: props.nowMs,
    },
    identity.secretKey,
  )
  const registered = await relayCall(() => relay.register(signed))
  const instanceId = deriveInstanceId(identity.publicKey)
  if (registered.instanceId !== instanceId)
    throw new NodeError('E_OCHAT_RELAY_UNTRUSTED', 'the relay answered with another instance id')
  props.database.db
    .insert(ochatIdentity)
    .values({
      id: 1,
      relayUrl: relay.baseUrl,
      relayId: info.relayId,
      relayName: info.name,
      pinnedKeySet: pinned.value,
      instanceId,
      name: props.name,
      identityPublicKey: keys.identityKey,
      encryptionPublicKey: keys.encryptionKey,
      sealedSecretKeys: sealSecretKeys(props.keystore, { identity, encryption }),
      webhookUrl: props.webhookUrl ?? null,
      relayStatus: registered.status === 'suspended' ? 'suspended' : 'valid',
      lastContactAt: props.nowMs,
      registeredAt: props.nowMs,
    })
    .run()
  return { instanceId, relayId: info.relayId }
}

/** Turns a relay failure into the node's error with the relay's own words and what to do next. */
export async function relayCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (error) {
    if (error instanceof RelayUnreachableError)
      throw new NodeError('E_OCHAT_RELAY_UNREACHABLE', error.message)
    // A 5xx is the relay (or a proxy before it) failing, not refusing: try again later.
    if (error instanceof RelayAnswerError && error.status >= 500)
      throw new NodeError(
        'E_OCHAT_RELAY_UNREACHABLE',
        `the relay is unavailable: ${error.message} (${error.code}, ${error.reason})`,
      )
    if (error instanceof RelayAnswerError)
      throw new NodeError(
        error.status === 404
          ? 'E_NOT_FOUND'
          : error.status === 429
            ? 'E_OCHAT_RELAY_RATE_LIMITED'
            : 'E_OCHAT_RELAY_REFUSED',
        `the relay refused: ${error.message} (${error.code}, ${error.reason})`,
      )
    throw error
  }
}
