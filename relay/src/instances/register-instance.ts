import { addressKey, type InstanceView, verifyRegistration } from '@ochat/shared-protocol'
import type { Db } from '../db/client.ts'
import { RelayError } from '../errors.ts'
import { countAttempt } from '../limits/rate-windows.ts'
import type { RegistrationSettings } from '../settings.ts'
import { consumeInvite, inviteIsUsable } from './invites.ts'
import { presentInstance } from './presenter.ts'
import { findInstance, insertInstance, updateInstance } from './repository.ts'
import { checkWebhookUrl } from './webhook-url.ts'

export type RegisterInstanceProps = {
  db: Db
  config: RegistrationSettings
  relayId: string
  /** The request body: verifyRegistration checks its shape again, with its relay, time and signature. */
  input: unknown
  /** The client's address: counted against the per-address limit, and kept on a new instance. */
  address: string
  nowMs: number
}

/**
 * Registers an instance by its public keys (PROTOCOL.md §1.3). Registering again with the same keys is
 * idempotent and may change the name and webhook URL (it is signed by the identity key); a different
 * encryption key must go through key rotation.
 */
export async function registerInstance(
  props: RegisterInstanceProps,
): Promise<{ created: boolean; instance: InstanceView }> {
  const verified = verifyRegistration(props.input, { relayId: props.relayId, nowMs: props.nowMs })
  if (!verified.ok) throw RelayError.fromRejection(400, verified)
  const { instanceId, registration } = verified.value
  // The invite and the per-address limit are checked before anything costly (the webhook URL's DNS
  // lookup) is done for a stranger. Registering again with the same keys is neither.
  if (!(await findInstance(props.db, instanceId))) {
    if (props.config.registration === 'invite') {
      if (!registration.inviteToken) throw new RelayError('E_REGISTRATION_INVITE_REQUIRED')
      if (!(await inviteIsUsable(props.db, { token: registration.inviteToken, nowMs: props.nowMs }))) {
        throw new RelayError('E_REGISTRATION_INVITE_INVALID')
      }
    } else {
      // With open registration nothing else stops one machine from registering instances by the hundred.
      await countAttempt(props.db, {
        limits: [
          {
            kind: 'registration-address',
            key: addressKey(props.address),
            max: props.config.registrationsPerAddressPerHour,
            what: 'registrations from this address',
          },
        ],
        code: 'E_REGISTRATION_RATE_LIMITED',
        nowMs: props.nowMs,
      })
    }
  }
  if (registration.webhookUrl)
    await checkWebhookUrl(registration.webhookUrl, props.config.allowPrivateWebhooks)

  return props.db.transaction(async (tx) => {
    const existing = await findInstance(tx, instanceId)
    if (existing) {
      if (
        existing.encryptionKey !== registration.keys.encryptionKey ||
        existing.identityKey !== registration.keys.identityKey
      ) {
        throw new RelayError(
          'E_REGISTRATION_CONFLICT',
          'the keys differ from the registered ones; rotate keys instead',
        )
      }
      const updated = await updateInstance(tx, instanceId, {
        name: registration.name,
        webhookUrl: registration.webhookUrl ?? null,
      })
      return { created: false, instance: presentInstance(updated ?? existing) }
    }
    if (props.config.registration === 'invite') {
      if (!registration.inviteToken) throw new RelayError('E_REGISTRATION_INVITE_REQUIRED')
      const consumed = await consumeInvite(tx, {
        token: registration.inviteToken,
        instanceId,
        nowMs: props.nowMs,
      })
      if (!consumed) throw new RelayError('E_REGISTRATION_INVITE_INVALID')
    }
    const row = {
      id: instanceId,
      name: registration.name,
      identityKey: registration.keys.identityKey,
      encryptionKey: registration.keys.encryptionKey,
      webhookUrl: registration.webhookUrl ?? null,
      status: 'active',
      registeredAt: props.nowMs,
      keysRotatedAt: null,
      registeredFrom: props.address,
    }
    await insertInstance(tx, row)
    return { created: true, instance: presentInstance(row) }
  })
}
