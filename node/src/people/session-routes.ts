import { eq } from 'drizzle-orm'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { decodeCursor, PageQuerySchema, page } from '../api/pagination.ts'
import {
  DEVICE_COOKIE,
  DEVICE_COOKIE_MAX_AGE_MS,
  DEVICE_COOKIE_PATH,
  type DeviceCookies,
} from '../auth/device-cookie.ts'
import type { LoginAttemptLog } from '../auth/login-attempts.ts'
import type { LoginAttempt, LoginThrottle } from '../auth/login-throttle.ts'
import { burnPasswordCheck, verifyPassword } from '../auth/passwords.ts'
import { principalOf, SESSION_COOKIE } from '../auth/plugin.ts'
import { deleteSession, findSession } from '../auth/repository.ts'
import { randomToken, sha256 } from '../auth/tokens.ts'
import type { Clock } from '../clock.ts'
import type { Config } from '../config.ts'
import type { Db } from '../db/client.ts'
import { partners, sessions, users } from '../db/schema.ts'
import { NodeError, parseWith } from '../errors.ts'
import { presentUser } from './presenter.ts'
import { LoginSchema } from './schema.ts'

export type LoginGuard = {
  throttle: LoginThrottle
  attempts: LoginAttemptLog
  devices: DeviceCookies
}

/** Log in and out, and the failed logins administrators review. */
export function sessionRoutes(
  app: FastifyInstance,
  opts: { db: Db; clock: Clock; config: Config } & LoginGuard,
): void {
  const { db, clock, config } = opts

  app.post('/api/v1/session', { config: { access: 'public' } }, async (request, reply) => {
    const body = parseWith(LoginSchema, request.body)
    const now = clock.now()
    const row = db.select().from(users).where(eq(users.login, body.login)).get()
    const attempt: LoginAttempt = {
      login: body.login,
      address: request.ip,
      trustedClient: trustedClient(request, { db, config, opts, login: body.login, userId: row?.id, now }),
      now,
    }
    assertNotThrottled(request, attempt, opts)
    // The same answer, after the same work, for an unknown login and a wrong password.
    let valid = false
    if (row?.active) valid = await verifyPassword(body.password, row.passwordHash)
    else await burnPasswordCheck(body.password)
    if (!row || !valid) {
      recordFailure(request, attempt, opts)
      throw new NodeError('E_LOGIN_FAILED')
    }
    opts.throttle.succeeded(attempt)
    const token = randomToken()
    const csrfToken = randomToken(24)
    db.insert(sessions)
      .values({ tokenHash: sha256(token), userId: row.id, csrfToken, createdAt: now, lastSeenAt: now })
      .run()
    const secure = secureCookie(request, config)
    void reply.setCookie(SESSION_COOKIE, token, {
      path: '/',
      httpOnly: true,
      sameSite: 'lax',
      secure,
      maxAge: Math.floor(config.sessionIdleMs / 1000),
    })
    // A fresh one on every login: a device that lost its trust by failing gets it back only this way.
    void reply.setCookie(DEVICE_COOKIE, opts.devices.issue(row.login, now), {
      path: DEVICE_COOKIE_PATH,
      httpOnly: true,
      sameSite: 'strict',
      secure,
      maxAge: Math.floor(DEVICE_COOKIE_MAX_AGE_MS / 1000),
    })
    return { csrfToken, user: userView(db, row.id) }
  })

  app.delete('/api/v1/session', { config: { access: 'user' } }, async (request, reply) => {
    const token = request.cookies[SESSION_COOKIE]
    if (token) deleteSession(db, sha256(token))
    // The device cookie stays: this browser is still the user's.
    void reply.clearCookie(SESSION_COOKIE, {
      path: '/',
      httpOnly: true,
      sameSite: 'lax',
      secure: secureCookie(request, config),
    })
    return reply.status(204).send()
  })

  app.get('/api/v1/session', { config: { access: 'user' } }, async (request) => {
    const principal = principalOf(request)
    return { csrfToken: principal.csrfToken ?? null, user: userView(db, principal.userId) }
  })

  app.get(
    '/api/v1/login-attempts',
    { config: { access: 'user', scope: 'admin', admin: true } },
    async (request) => {
      const query = parseWith(PageQuerySchema, request.query, 'E_INVALID_PARAMS')
      const rows = opts.attempts.list({ before: decodeCursor(query.cursor), limit: query.limit + 1 })
      return page(rows, query.limit)
    },
  )
}

/**
 * Refuses with 429 and Retry-After while the attempt must wait; a refused attempt is recorded for the
 * administrators but does not count as a failure (it checked no password).
 */
export function assertNotThrottled(request: FastifyRequest, attempt: LoginAttempt, guard: LoginGuard): void {
  const waitMs = guard.throttle.retryAfterMs(attempt)
  if (waitMs <= 0) return
  guard.attempts.record({ ...describe(request, attempt), throttled: true })
  const seconds = Math.ceil(waitMs / 1000)
  throw new NodeError('E_RATE_LIMITED', `too many failed logins; try again in ${seconds} s`, {
    headers: { 'retry-after': String(seconds) },
  })
}

export function recordFailure(request: FastifyRequest, attempt: LoginAttempt, guard: LoginGuard): void {
  guard.throttle.failed(attempt)
  guard.attempts.record({ ...describe(request, attempt), throttled: false })
}

function describe(request: FastifyRequest, attempt: LoginAttempt) {
  return {
    login: attempt.login,
    address: attempt.address,
    userAgent: request.headers['user-agent'],
    now: attempt.now,
  }
}

/**
 * The client the request proves it is, for this login: a device cookie issued for it, or else a
 * valid session of the same user. Anything else is a stranger.
 */
function trustedClient(
  request: FastifyRequest,
  input: {
    db: Db
    config: Config
    opts: LoginGuard
    login: string
    userId: number | undefined
    now: number
  },
): string | undefined {
  const device = input.opts.devices.verify(request.cookies[DEVICE_COOKIE], input.login, input.now)
  if (device !== undefined) return `device:${device}`
  const token = request.cookies[SESSION_COOKIE]
  if (!token || input.userId === undefined) return undefined
  const tokenHash = sha256(token)
  const session = findSession(input.db, tokenHash)
  if (!session?.active || session.userId !== input.userId) return undefined
  if (input.now - session.lastSeenAt > input.config.sessionIdleMs) return undefined
  return `session:${tokenHash}`
}

/**
 * Secure when the node's public URL is https, and also when the request itself came over https (a
 * TLS proxy saying so through X-Forwarded-Proto, believed only with NODE_TRUST_PROXY): a node behind
 * such a proxy with a public URL left at its http default would otherwise send its cookies bare.
 */
export function secureCookie(request: FastifyRequest, config: Config): boolean {
  return config.secureCookies || request.protocol === 'https'
}

export function userView(db: Db, userId: number) {
  const row = db
    .select()
    .from(users)
    .innerJoin(partners, eq(partners.id, users.partnerId))
    .where(eq(users.id, userId))
    .get()
  if (!row) throw new NodeError('E_NOT_FOUND')
  return presentUser(row.users, row.partners)
}
