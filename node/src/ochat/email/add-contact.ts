import { randomUUID } from 'node:crypto'
import { eq } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { ochatConnections } from '../../db/schema.ts'
import type { WriteQueue } from '../../db/write-queue.ts'
import { ensureChannel } from '../channels/repository.ts'
import { checkContact } from '../connections/commands.ts'
import { type ConnectionRow, insertConnection } from '../connections/repository.ts'
import type { Ochat } from '../runtime.ts'
import { EmailPartnerError } from './errors.ts'

/** An email partner has no keys; the columns that hold a node's are left empty. */
const NO_KEYS = { identityKey: '', encryptionKey: '' }

/**
 * Adds a partner company that has no node, reached by email: a connection of its own (accepted at
 * once: our admin decided, and there is nobody on the other side to ask), filed under a contact, with
 * its channel and members, in one transaction. The relay never hears of it.
 */
export async function addEmailContact(input: {
  ochat: Pick<Ochat, 'afterConnections'>
  writes: WriteQueue
  /** Lower case (the route's schema). */
  email: string
  name: string
  contactPartnerId: number
  /** The admin adding it, as the connection's history names them. */
  by: string
  nowMs: number
}): Promise<ConnectionRow> {
  const { nowMs } = input
  const { row, channelId } = await input.writes.run((tx) => {
    const contactPartnerId = checkContact(tx, input.contactPartnerId)
    if (emailConnection(tx, input.email))
      throw new EmailPartnerError('E_OCHAT_EMAIL_DUPLICATE', `email: ${input.email} is a contact already`)
    const row = insertConnection(tx, {
      id: randomUUID(),
      transport: 'email',
      emailAddress: input.email,
      peerInstanceId: '',
      peerName: input.name,
      direction: 'outgoing',
      state: 'accepted',
      message: '',
      history: [{ action: 'accept', state: 'accepted', by: input.by, at: nowMs }],
      contactPartnerId,
      peerKeys: NO_KEYS,
      pinnedKeys: NO_KEYS,
      createdAt: nowMs,
      updatedAt: nowMs,
      syncedAt: nowMs,
    })
    return { row, channelId: ensureChannel(tx, row.id, nowMs).channel.id }
  })
  input.ochat.afterConnections({ changed: true, keyChanges: [], newChannels: [channelId], opened: false })
  return row
}

/** The email connection of an address (lower case), whatever its state. */
export function emailConnection(tx: Tx, email: string): ConnectionRow | undefined {
  return tx.select().from(ochatConnections).where(eq(ochatConnections.emailAddress, email)).get()
}
