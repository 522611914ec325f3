import { type RelayInfo, verifyKeySetUpdate } from '@ochat/shared-protocol'
import { eq } from 'drizzle-orm'
import { ochatIdentity } from '../../db/schema.ts'
import type { WriteQueue } from '../../db/write-queue.ts'
import type { Instance } from './instance.ts'

/**
 * Picks up a rotation of the relay's signing keys (PROTOCOL.md §1.5): a key set
 * published at /v1/info (`info`, as just read) is pinned only if it is for our relay, newer than the pinned one, and signed by
 * a key we already pin. Answers the instance with the new set, or undefined when nothing changed; a set
 * that fails the check is reported and ignored (webhooks stay checked against the pinned keys).
 */
export async function refreshRelayKeySet(input: {
  info: RelayInfo
  writes: WriteQueue
  instance: Instance
  warn(message: string): void
}): Promise<Instance | undefined> {
  const { info } = input
  const pinned = input.instance.relayKeySet
  if (info.relayId !== input.instance.relayId) {
    input.warn(
      `O'Chat: the relay now answers as ${info.relayId}, not ${input.instance.relayId}; its keys are not trusted`,
    )
    return undefined
  }
  if (info.keySet.keySet.serial <= pinned.serial) return undefined
  const verified = verifyKeySetUpdate(info.keySet, { relayId: input.instance.relayId, pinned })
  if (!verified.ok) {
    input.warn(`O'Chat: the relay's new key set was refused (${verified.reason})`)
    return undefined
  }
  await input.writes.run((tx) =>
    tx.update(ochatIdentity).set({ pinnedKeySet: verified.value }).where(eq(ochatIdentity.id, 1)).run(),
  )
  return Object.freeze({ ...input.instance, relayKeySet: verified.value.keySet })
}
