import { z } from 'zod'
import type { OchatState } from '../runtime.ts'
import type { IdentityRow } from './instance.ts'

export const RegistrationViewSchema = z.object({
  /** off (no operator secret), locked (the secret does not open the keys), unregistered, or registered. */
  state: z.enum(['off', 'locked', 'unregistered', 'registered']),
  /** For registered nodes: valid, suspended by the relay's operator, or unreachable (with the last error). */
  status: z.enum(['valid', 'suspended', 'unreachable']).nullable(),
  reason: z.string().nullable(),
  lastError: z.string().nullable(),
  lastContactAt: z.int().nullable(),
  instanceId: z.string().nullable(),
  name: z.string().nullable(),
  relayUrl: z.string().nullable(),
  relayId: z.string().nullable(),
  relayName: z.string().nullable(),
  webhookUrl: z.string().nullable(),
  /** The socket to the relay: ready, connecting, down, suspended or off. */
  socket: z.string(),
  keys: z.object({ identityKey: z.string(), encryptionKey: z.string() }).nullable(),
  /**
   * A key rotation whose outcome is not known yet (the relay's answer was lost): the node asks the
   * relay which keys it holds every 30 s and goes on with those.
   */
  rotationPending: z.boolean(),
  registeredAt: z.int().nullable(),
})
export type RegistrationView = z.input<typeof RegistrationViewSchema>

/** This node's registration: the process's O'Chat state, its socket's, and the stored identity row. */
export function presentRegistration(input: {
  state: OchatState
  socket: string
  row: IdentityRow | undefined
}): RegistrationView {
  const { state, row } = input
  return {
    state: state.kind === 'ready' ? 'registered' : state.kind,
    status: row?.relayStatus ?? null,
    reason: state.kind === 'off' || state.kind === 'locked' ? state.reason : null,
    lastError: row?.lastError ?? null,
    lastContactAt: row?.lastContactAt ?? null,
    instanceId: row?.instanceId ?? null,
    name: row?.name ?? null,
    relayUrl: row?.relayUrl ?? null,
    relayId: row?.relayId ?? null,
    relayName: row?.relayName ?? null,
    webhookUrl: row?.webhookUrl ?? null,
    socket: input.socket,
    keys: row ? { identityKey: row.identityPublicKey, encryptionKey: row.encryptionPublicKey } : null,
    rotationPending: row?.pendingSecretKeys != null,
    registeredAt: row?.registeredAt ?? null,
  }
}
