import { revokeApiKeys } from '../auth/repository.ts'
import type { Db } from '../db/client.ts'
import { NodeError } from '../errors.ts'
import { digestDue } from '../mail/digest/due.ts'
import { DigestError } from '../mail/digest/errors.ts'
import { deleteSessionsOfUser, findPartner, findUser, updatePartnerRow, updateUserRow } from './repository.ts'
import type { UserUpdate } from './schema.ts'

/**
 * Applies a change to a user and their partner in one transaction, once the policies allowed it and
 * any password given was hashed. A new password or a deactivation ends the user's other sessions;
 * a deactivation, or a new password with `revokeApiKeys`, revokes their API keys for good.
 */
export function updateUser(input: {
  db: Db
  userId: number
  change: UserUpdate
  /** The new password's scrypt hash, when the change sets one. */
  passwordHash: string | undefined
  /** The session making the change (SHA-256 of its token): it stays logged in. */
  currentSessionHash: string | undefined
  now: number
}): void {
  const { change, passwordHash, userId } = input
  input.db.transaction((tx) => {
    const user = findUser(tx, userId)
    if (!user) throw new NodeError('E_NOT_FOUND')
    // The digest is an email: turning it on without an address, or removing the address while it is
    // on, is refused, rather than the digest never going without a word.
    if (change.digest === true || change.email === null) {
      const digest = change.digest ?? user.digest
      const email = change.email !== undefined ? change.email : findPartner(tx, user.partnerId)?.email
      if (digest && !email)
        throw new DigestError(
          'E_DIGEST_NEEDS_EMAIL',
          change.digest ? 'digest: this user has no email address' : 'email: the daily digest is on',
        )
    }
    // Turned on once today's hour is over, the first digest goes at that hour tomorrow, as chosen,
    // not at once; turned on within the hour, it goes now.
    const skipToday =
      change.digest === true && !user.digest
        ? digestDue({
            now: input.now,
            timeZone: change.timeZone ?? user.timeZone,
            hour: (change.digestHour ?? user.digestHour) + 1,
            sentOn: user.digestSentOn,
          })
        : null
    const userChanges = {
      ...(skipToday ? { digestSentOn: skipToday } : {}),
      ...(change.notification ? { notification: change.notification } : {}),
      ...(change.timeZone ? { timeZone: change.timeZone } : {}),
      ...(change.digest !== undefined ? { digest: change.digest } : {}),
      ...(change.digestHour !== undefined ? { digestHour: change.digestHour } : {}),
      ...(change.role ? { role: change.role } : {}),
      ...(change.active !== undefined ? { active: change.active } : {}),
      ...(passwordHash ? { passwordHash } : {}),
    }
    if (Object.keys(userChanges).length > 0) updateUserRow(tx, userId, userChanges)
    if (change.name !== undefined || change.email !== undefined)
      updatePartnerRow(tx, user.partnerId, {
        ...(change.name ? { name: change.name } : {}),
        ...(change.email !== undefined ? { email: change.email } : {}),
      })
    if (passwordHash || change.active === false)
      deleteSessionsOfUser(tx, { userId, exceptTokenHash: input.currentSessionHash })
    // Reactivating the user must not bring revoked keys back; a leaked password may have leaked keys
    // with it, so a new one revokes them when asked.
    if (change.active === false || (passwordHash && change.revokeApiKeys))
      revokeApiKeys(tx, { userId, now: input.now })
  })
}
