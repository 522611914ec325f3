import type { Clock } from '@ochat/shared-protocol/server'
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify'
import type { Db } from '../db/client.ts'
import { NodeError } from '../errors.ts'
import { isAdmin, scopeAllows } from '../policies/roles.ts'
import type { Principal } from './principal.ts'
import { findApiKey, findSession, toPrincipal, touchApiKey, touchSession } from './repository.ts'
import type { Scope } from './scopes.ts'
import { sha256 } from './tokens.ts'

export const SESSION_COOKIE = 'ochat_session'
/** Writing last-used times on every request would make every read a write; once a minute is enough. */
const TOUCH_EVERY_MS = 60_000

declare module 'fastify' {
  interface FastifyContextConfig {
    /** public: anyone; user: a session or an API key (the default is to refuse, see assertRouteAuth). */
    access?: 'public' | 'user'
    /** The API-key scope this route needs. */
    scope?: Scope
    /** Only admins. */
    admin?: boolean
  }
  interface FastifyRequest {
    principal: Principal | undefined
  }
}

/** Deny by default: a route that does not say who may call it does not start. */
export function assertRouteAuth(route: RouteOptions): void {
  const config = route.config as { access?: string; scope?: string } | undefined
  if (config?.access !== 'public' && config?.access !== 'user')
    throw new Error(`route ${route.method} ${route.url} must declare config.access`)
  if (config.access === 'user' && !config.scope && !route.url.startsWith('/api/v1/session'))
    throw new Error(`route ${route.method} ${route.url} must declare config.scope`)
}

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/**
 * Resolves the caller from the session cookie or the bearer API key, and refuses what the route does
 * not allow. Cookie-authenticated writes must carry the session's CSRF token in X-CSRF-Token (the
 * cookie is SameSite=Lax as well); API keys are not sent by browsers on their own and need no token.
 */
export function installAuth(
  app: FastifyInstance,
  deps: { db: Db; clock: Clock; sessionIdleMs: number },
): void {
  app.decorateRequest('principal', undefined)
  app.addHook('onRequest', async (request) => {
    const config = request.routeOptions.config
    if (!request.routeOptions.url || config.access === 'public') return
    const principal = authenticate(request, deps)
    if (!principal) throw new NodeError('E_AUTH_REQUIRED')
    if (principal.via === 'session' && UNSAFE_METHODS.has(request.method)) {
      if (request.headers['x-csrf-token'] !== principal.csrfToken) throw new NodeError('E_CSRF')
    }
    if (config.scope && !scopeAllows(principal, config.scope))
      throw new NodeError('E_SCOPE', `this request needs the "${config.scope}" scope`)
    if (config.admin && !isAdmin(principal))
      throw new NodeError('E_FORBIDDEN', 'only an administrator can do this')
    request.principal = principal
  })
}

/**
 * The caller of a request, or undefined when its credential is missing, wrong, revoked, expired or its
 * user deactivated. `touch: false` checks without counting as use (a live socket re-checks the
 * credential it was opened with before each event; that must not keep an idle session alive).
 */
export function authenticate(
  request: FastifyRequest,
  deps: { db: Db; clock: Clock; sessionIdleMs: number },
  options: { touch: boolean } = { touch: true },
): Principal | undefined {
  const now = deps.clock.now()
  // The scheme name is case-insensitive (RFC 9110 §11.1): "bearer" works like "Bearer".
  const bearer = /^bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1]
  if (bearer !== undefined) {
    const row = findApiKey(deps.db, sha256(bearer))
    if (!row?.active) return undefined
    if (options.touch && (row.lastUsedAt === null || now - row.lastUsedAt > TOUCH_EVERY_MS))
      touchApiKey(deps.db, row.keyId, now)
    return toPrincipal(row, 'api-key', row.scopes as Scope[])
  }
  const token = request.cookies?.[SESSION_COOKIE]
  if (!token) return undefined
  const tokenHash = sha256(token)
  const row = findSession(deps.db, tokenHash)
  if (!row?.active || now - row.lastSeenAt > deps.sessionIdleMs) return undefined
  if (options.touch && now - row.lastSeenAt > TOUCH_EVERY_MS) touchSession(deps.db, tokenHash, now)
  return toPrincipal(row, 'session', null, row.csrfToken)
}

/** The authenticated caller; routes declared `auth: 'user'` always have one. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new NodeError('E_AUTH_REQUIRED')
  return request.principal
}
