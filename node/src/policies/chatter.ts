import type { Principal } from '../auth/principal.ts'
import type { MessageRow } from '../chatter/repository.ts'
import { NodeError } from '../errors.ts'
import { isAdmin, seesEverything } from './roles.ts'

/** A comment is changed or deleted by its author, or by an administrator (a key needs the admin scope). */
export function authorizeMessageChange(principal: Principal, message: MessageRow): void {
  if (message.authorPartnerId !== principal.partnerId && !isAdmin(principal))
    throw new NodeError('E_FORBIDDEN', 'only the author or an administrator can change a message')
}

/**
 * A deleted message keeps its last body as a version: only administrators read it (as they read its
 * files); for everyone else the tombstone has no history.
 */
export function seesDeletedHistory(principal: Principal): boolean {
  return seesEverything(principal)
}
