import type { Principal } from '../auth/principal.ts'
import type { Scope } from '../auth/scopes.ts'

/**
 * What a credential allows. A UI session may do everything its user's role allows; an API key is
 * further limited to the scopes it was created with, so a leaked integration key reaches only what
 * that integration needed.
 */
export function scopeAllows(principal: Principal, scope: Scope): boolean {
  return principal.scopes === null || principal.scopes.has(scope)
}

/**
 * May administer the node (create users, define models, act on others' content): an administrator,
 * through a session or a key with the `admin` scope. An administrator's narrower key acts as a user.
 */
export function isAdmin(principal: Principal): boolean {
  return principal.role === 'admin' && scopeAllows(principal, 'admin')
}

/**
 * Sees every record, and what was deleted from them (tombstones' versions and files): an
 * administrator by role, whatever the key. Reading is a matter of the role; what a key may call at
 * all is its scopes' business, checked before any route runs.
 */
export function seesEverything(principal: Principal): boolean {
  return principal.role === 'admin'
}

/** Who may call a route: anyone, only a UI session, or an API key with that scope (or a session). */
export type RouteCaller = 'public' | 'session' | Scope

/**
 * Who may call a route, from the same `config` the auth hook enforces (auth/plugin.ts): public routes
 * need nothing; an administrators' route needs the `admin` scope; a route with a scope takes an API key
 * with it or a session; a route without one (the session's own) takes only a session. The API document
 * and the app's record of every route's access both come from here, so they cannot disagree.
 */
export function routeCaller(routeConfig: unknown): RouteCaller {
  const config = routeConfig as { access?: string; scope?: Scope; admin?: boolean } | undefined
  if (config?.access === 'public') return 'public'
  if (config?.admin) return 'admin'
  return config?.scope ?? 'session'
}
