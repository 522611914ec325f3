import { safetyCode } from '@ochat/shared-protocol'
import { z } from 'zod'
import type { Instance } from '../identity/instance.ts'
import type { ConnectionRow, Waiting } from './repository.ts'

export const ConnectionViewSchema = z.object({
  id: z.string(),
  /** An email partner's peer has no instance (an empty id). */
  peer: z.object({ instanceId: z.string(), name: z.string() }),
  /**
   * relay: another node, end-to-end encrypted through the relay; email: a partner company without a
   * node, reached by plain email at `email` (no keys, no safety code, no relay).
   */
  transport: z.enum(['relay', 'email']),
  email: z.string().nullable(),
  /** incoming: the other company asked; outgoing: we did. */
  direction: z.enum(['incoming', 'outgoing']),
  state: z.enum(['pending', 'accepted', 'rejected', 'revoked']),
  message: z.string(),
  history: z.array(
    z.object({
      action: z.string(),
      state: z.string(),
      by: z.string(),
      at: z.int(),
      note: z.string().optional(),
    }),
  ),
  contact: z.object({ id: z.int(), name: z.string() }).nullable(),
  channelId: z.int().nullable(),
  /**
   * What the partner has yet to receive from us: messages in the outbox, retrying, or held by the relay
   * until the partner's node takes them; and when the oldest of them was written (null: none waits).
   */
  waiting: z.object({ count: z.int(), oldestAt: z.int().nullable() }),
  /** True while the peer's keys changed and no admin verified the new safety code: nothing flows. */
  paused: z.boolean(),
  /** Admins only, relay connections: the code to compare with the other company (12 groups of five digits). */
  safetyCode: z.object({ display: z.string(), groups: z.array(z.string()) }).optional(),
  /** Admins only, while paused: the code of the new keys, to compare before verifying. */
  keyChange: z
    .object({ at: z.int(), newSafetyCode: z.object({ display: z.string(), groups: z.array(z.string()) }) })
    .nullable()
    .optional(),
  verifiedAt: z.int().nullable(),
  createdAt: z.int(),
  updatedAt: z.int(),
})
export type ConnectionView = z.input<typeof ConnectionViewSchema>

function code(instance: Instance, row: ConnectionRow, keys: ConnectionRow['pinnedKeys']) {
  const { display, groups } = safetyCode(
    {
      instanceId: instance.instanceId,
      keys: {
        identityKey: Buffer.from(instance.identity.publicKey).toString('base64url'),
        encryptionKey: Buffer.from(instance.encryption.publicKey).toString('base64url'),
      },
    },
    { instanceId: row.peerInstanceId, keys },
  )
  return { display, groups }
}

export function presentConnection(
  row: ConnectionRow,
  input: {
    instance: Instance
    admin: boolean
    contactName: string | null
    channelId: number | null
    waiting?: Waiting | undefined
  },
): ConnectionView {
  const byEmail = row.transport === 'email'
  return {
    id: row.id,
    peer: { instanceId: row.peerInstanceId, name: row.peerName },
    transport: row.transport,
    email: byEmail ? row.emailAddress : null,
    direction: row.direction,
    state: row.state,
    message: row.message,
    history: row.history,
    contact:
      row.contactPartnerId !== null && input.contactName !== null
        ? { id: row.contactPartnerId, name: input.contactName }
        : null,
    channelId: input.channelId,
    waiting: input.waiting ?? { count: 0, oldestAt: null },
    paused: row.keyChangedAt !== null,
    // An email partner has no keys: there is no code to compare.
    ...(input.admin && !byEmail
      ? {
          safetyCode: code(input.instance, row, row.pinnedKeys),
          keyChange:
            row.keyChangedAt === null
              ? null
              : { at: row.keyChangedAt, newSafetyCode: code(input.instance, row, row.peerKeys) },
        }
      : {}),
    verifiedAt: row.verifiedAt,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  }
}

/** Several connections, with the contact names and channel ids read for them (repository.ts). */
export function presentConnections(
  rows: ConnectionRow[],
  input: {
    instance: Instance
    admin: boolean
    contactNames: Map<number, string>
    channelIds: Map<string, number>
    waiting: Map<number, Waiting>
  },
): ConnectionView[] {
  return rows.map((row) => {
    const channelId = input.channelIds.get(row.id) ?? null
    return presentConnection(row, {
      instance: input.instance,
      admin: input.admin,
      contactName:
        row.contactPartnerId === null ? null : (input.contactNames.get(row.contactPartnerId) ?? null),
      channelId,
      waiting: channelId === null ? undefined : input.waiting.get(channelId),
    })
  })
}
