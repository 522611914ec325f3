import type { Principal } from '../auth/principal.ts'
import type { Scope } from '../auth/scopes.ts'
import { NodeError } from '../errors.ts'
import { isAdmin } from './roles.ts'

/**
 * Who may change a user: themselves, or an administrator. Only an administrator changes roles and
 * deactivates, and never on themselves: a node must not lose its last administrator by a slip.
 */
export function authorizeUserChange(
  principal: Principal,
  userId: number,
  change: { role?: 'admin' | 'user' | undefined; active?: boolean | undefined },
): void {
  const admin = isAdmin(principal)
  if (userId !== principal.userId && !admin)
    throw new NodeError('E_FORBIDDEN', 'you can only change your own profile')
  if (!admin && (change.role !== undefined || change.active !== undefined))
    throw new NodeError('E_FORBIDDEN', 'only an administrator can change roles or deactivate users')
  if (userId === principal.userId && (change.role === 'user' || change.active === false))
    throw new NodeError('E_FORBIDDEN', 'you cannot demote or deactivate yourself; ask another administrator')
}

/**
 * Changing one's own password needs the current one: a stolen session or a narrow API key must not
 * take the account. An administrator resetting someone else's password does not know theirs.
 */
export function needsCurrentPassword(
  principal: Principal,
  userId: number,
  change: { password?: string | undefined },
): boolean {
  return Boolean(change.password) && userId === principal.userId
}

/** An internal user's partner is changed through the user, so names and emails stay in one place. */
export function authorizePartnerChange(partner: { internal: boolean }): void {
  if (partner.internal)
    throw new NodeError('E_FORBIDDEN', 'change an internal user through /api/v1/users/{id}')
}

/**
 * API keys are made in the UI by a person: a key cannot mint more keys. It depends on the caller
 * alone, so the route asks it before validation: a key is refused before its body is read, and
 * learns nothing from a 400 about what a body would need.
 */
export function authorizeApiKeyMinting(principal: Principal): void {
  if (principal.via !== 'session')
    throw new NodeError('E_FORBIDDEN', 'create API keys from a logged-in session')
}

/**
 * Only an administrator hands out the admin scope, and `mail:inbound`: whoever hands in raw mail is
 * believed about who sent it.
 */
const ADMIN_SCOPES: readonly Scope[] = ['admin', 'mail:inbound']

export function authorizeApiKeyCreation(principal: Principal, scopes: readonly Scope[]): void {
  const held = scopes.filter((scope) => ADMIN_SCOPES.includes(scope))
  if (held.length > 0 && principal.role !== 'admin')
    throw new NodeError(
      'E_FORBIDDEN',
      `only administrators can create keys with the ${held.join(' and ')} scope`,
    )
}

/** A user lists and revokes their own API keys only; anyone else's is "not found". */
export function ownsApiKey(principal: Principal, key: { userId: number }): boolean {
  return key.userId === principal.userId
}
