import { and, eq, isNotNull } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { ochatMessages, partners } from '../../db/schema.ts'
import type { WriteQueue } from '../../db/write-queue.ts'
import { NodeError } from '../../errors.ts'
import { channelOfConnection } from '../channels/repository.ts'
import { relayCall } from '../identity/register-instance.ts'
import type { Ochat } from '../runtime.ts'
import { presentConnection } from './presenter.ts'
import { type ConnectionRow, findConnection, updateConnection } from './repository.ts'
import { storeConnectionViews } from './sync-connections.ts'

/**
 * The contact the other company is filed under: an active, external partner of ours. `refusal`, when
 * given, is the one message for any contact that will not do (what changing the contact has always
 * said); otherwise the message says which way it fails.
 */
export function checkContact(tx: Tx, partnerId: number | undefined, refusal?: string): number {
  if (partnerId === undefined) throw new NodeError('E_OCHAT_CONTACT_REQUIRED', 'contactPartnerId is required')
  const partner = tx.select().from(partners).where(eq(partners.id, partnerId)).get()
  if (!partner?.active)
    throw new NodeError('E_OCHAT_CONTACT_REQUIRED', refusal ?? `contactPartnerId: no contact ${partnerId}`)
  if (partner.internal)
    throw new NodeError(
      'E_OCHAT_CONTACT_REQUIRED',
      refusal ?? "contactPartnerId: that is one of our users; choose the other company's contact",
    )
  return partner.id
}

/** Asks another instance to connect (PROTOCOL.md §3.1), filed under a contact of ours. */
export async function requestConnection(input: {
  ochat: Ochat
  writes: WriteQueue
  db: Db
  instanceId: string
  message: string
  contactPartnerId: number | undefined
  nowMs: number
}): Promise<ConnectionRow> {
  // The id first: a wrong one is the likelier mistake, and its answer tells what to do next.
  if (input.instanceId === input.ochat.instance().instanceId)
    throw new NodeError('E_INVALID_BODY', 'instanceId: that is this node')
  const contactPartnerId = checkContact(input.db, input.contactPartnerId)
  const view = await relayCall(() =>
    input.ochat.relay().requestConnection(input.instanceId, input.message),
  ).catch((error: unknown) => {
    // The relay answers 404 for an id it does not know (or will not show): one message that says so.
    if (error instanceof NodeError && error.code === 'E_NOT_FOUND')
      throw new NodeError('E_OCHAT_INSTANCE_UNKNOWN', `no instance ${input.instanceId} at this relay`)
    throw error
  })
  if (view.peer.instanceId !== input.instanceId || view.direction !== 'outgoing')
    throw new NodeError('E_OCHAT_RELAY_UNTRUSTED', 'the relay answered with a connection to another instance')
  const outcome = await input.writes.run((tx) =>
    storeConnectionViews(tx, [view], input.nowMs, new Map([[view.id, { contactPartnerId }]])),
  )
  input.ochat.afterConnections(outcome)
  return findConnection(input.db, view.id) as ConnectionRow
}

/** Accept (a contact is required), reject, or revoke; the relay decides what is allowed. */
export async function decideConnection(input: {
  ochat: Ochat
  writes: WriteQueue
  db: Db
  id: string
  action: 'accept' | 'reject' | 'revoke'
  note: string | undefined
  contactPartnerId: number | undefined
  nowMs: number
}): Promise<ConnectionRow> {
  const existing = findConnection(input.db, input.id)
  if (!existing) throw new NodeError('E_NOT_FOUND')
  const contactPartnerId =
    input.action === 'accept'
      ? checkContact(input.db, input.contactPartnerId ?? existing.contactPartnerId ?? undefined)
      : undefined
  const allowed =
    (input.action === 'revoke' &&
      (existing.state === 'accepted' ||
        (existing.state === 'pending' && existing.direction === 'outgoing'))) ||
    (input.action !== 'revoke' && existing.state === 'pending' && existing.direction === 'incoming')
  if (!allowed)
    throw new NodeError(
      'E_OCHAT_CONNECTION_STATE',
      `a ${existing.direction} ${existing.state} connection cannot be ${input.action}ed`,
    )
  const accepting = input.action === 'accept'
  if (accepting) input.ochat.acceptingHere.add(input.id)
  try {
    return await decide(input, contactPartnerId)
  } finally {
    if (accepting) input.ochat.acceptingHere.delete(input.id)
  }
}

async function decide(
  input: Parameters<typeof decideConnection>[0],
  contactPartnerId: number | undefined,
): Promise<ConnectionRow> {
  const view = await relayCall(() =>
    input.ochat
      .relay()
      .decideConnection(input.id, { action: input.action, ...(input.note ? { note: input.note } : {}) }),
  )
  // Our decision covers this connection only: an answer about another is not stored as one we made.
  if (view.id !== input.id)
    throw new NodeError('E_OCHAT_RELAY_UNTRUSTED', 'the relay answered about another connection')
  const outcome = await input.writes.run((tx) =>
    storeConnectionViews(
      tx,
      [view],
      input.nowMs,
      new Map([
        [
          view.id,
          {
            ...(contactPartnerId === undefined ? {} : { contactPartnerId }),
            acceptedHere: input.action === 'accept',
          },
        ],
      ]),
    ),
  )
  input.ochat.afterConnections(outcome)
  return findConnection(input.db, view.id) as ConnectionRow
}

/**
 * An admin compared the new safety code with the other company and confirms it: the new keys are
 * pinned and the channel resumes; messages held meanwhile leave now.
 */
export async function verifyKeys(input: {
  ochat: Ochat
  writes: WriteQueue
  id: string
  /** The code the admin compared, as shown (spaces and line breaks ignored). */
  safetyCode: string
  userId: number
  nowMs: number
}): Promise<ConnectionRow> {
  const instance = input.ochat.instance()
  const row = await input.writes.run((tx) => {
    const existing = findConnection(tx, input.id)
    if (!existing) throw new NodeError('E_NOT_FOUND')
    const expected = presentConnection(existing, {
      instance,
      admin: true,
      contactName: null,
      channelId: null,
    })
    const current = existing.keyChangedAt === null ? expected.safetyCode : expected.keyChange?.newSafetyCode
    if (current?.groups.join('') !== input.safetyCode.replace(/\s+/g, ''))
      throw new NodeError('E_OCHAT_SAFETY_CODE_MISMATCH')
    // The keys the relay reports now become the pinned ones: the admin compared their code.
    const updated = updateConnection(tx, input.id, {
      pinnedKeys: existing.peerKeys,
      keyChangedAt: null,
      verifiedAt: input.nowMs,
      verifiedBy: input.userId,
    })
    if (!updated) throw new NodeError('E_NOT_FOUND')
    const channel = channelOfConnection(tx, input.id)
    if (channel)
      tx.update(ochatMessages)
        .set({ outboxDueAt: input.nowMs })
        .where(and(eq(ochatMessages.channelId, channel.id), isNotNull(ochatMessages.outboxDueAt)))
        .run()
    return updated
  })
  input.ochat.afterConnections({ changed: true, keyChanges: [], newChannels: [], opened: true })
  return row
}

/** Files the other company of a connection under another contact (an active, external partner of ours). */
export async function setConnectionContact(input: {
  ochat: Ochat
  writes: WriteQueue
  id: string
  contactPartnerId: number
}): Promise<ConnectionRow> {
  const row = await input.writes.run((tx) => {
    if (!findConnection(tx, input.id)) throw new NodeError('E_NOT_FOUND')
    const contactPartnerId = checkContact(
      tx,
      input.contactPartnerId,
      `contactPartnerId: no external contact ${input.contactPartnerId}`,
    )
    return updateConnection(tx, input.id, { contactPartnerId })
  })
  if (!row) throw new NodeError('E_NOT_FOUND')
  input.ochat.afterConnections({ changed: true, keyChanges: [], newChannels: [], opened: false })
  return row
}
