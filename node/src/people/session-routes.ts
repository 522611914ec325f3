import { isIP } from 'node:net'
import { type Clock, noBody, refusal, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { decodeCursor, PageQuerySchema, page, pageOf } from '../api/pagination.ts'
import {
  DEVICE_COOKIE,
  DEVICE_COOKIE_MAX_AGE_MS,
  DEVICE_COOKIE_PATH,
  type DeviceCookies,
} from '../auth/device-cookie.ts'
import { type LoginAttemptLog, LoginAttemptViewSchema } from '../auth/login-attempts.ts'
import type { LoginAttempt, LoginThrottle } from '../auth/login-throttle.ts'
import { burnPasswordCheck, verifyPassword } from '../auth/passwords.ts'
import { principalOf, SESSION_COOKIE } from '../auth/plugin.ts'
import { deleteSession, findSession } from '../auth/repository.ts'
import { randomToken, sha256 } from '../auth/tokens.ts'
import type { Db, Tx } from '../db/client.ts'
import { NodeError } from '../errors.ts'
import type { SessionSettings } from '../settings.ts'
import { avatarVersion } from './avatar-repository.ts'
import { presentSession, presentUser, SessionViewSchema, type UserView } from './presenter.ts'
import { findUserByLogin, findUserWithPartner, insertSession } from './repository.ts'
import { LoginSchema } from './schema.ts'

export type LoginGuard = {
  throttle: LoginThrottle
  attempts: LoginAttemptLog
  devices: DeviceCookies
}

/** Log in and out, and the failed logins administrators review. */
export function sessionRoutes(
  app: FastifyInstance,
  opts: { db: Db; clock: Clock; config: SessionSettings } & LoginGuard,
): void {
  const { db, clock, config } = opts
  const routes = app.withTypeProvider<ZodTypeProvider>()

  routes.post(
    '/api/v1/session',
    {
      config: { access: 'public' },
      schema: {
        summary:
          'Log in: sets the session cookie and a device cookie, and returns the CSRF token to send as X-CSRF-Token; failures slow down with growing delays (429 with Retry-After)',
        body: LoginSchema,
        response: {
          200: SessionViewSchema,
          429: refusal(
            'Too many failed logins for this login or address (E_RATE_LIMITED); retry after Retry-After',
          ),
        },
      },
    },
    async (request, reply) => {
      const body = request.body
      const now = clock.now()
      const row = findUserByLogin(db, body.login)
      const attempt: LoginAttempt = {
        login: body.login,
        address: clientAddress(request),
        trustedClient: trustedClient(request, { db, config, opts, login: body.login, userId: row?.id, now }),
        now,
      }
      // The same answer, after the same work, for an unknown login and a wrong password.
      const valid = await checkPassword(request, attempt, opts, {
        knownLogin: row !== undefined,
        verify: async () => {
          if (row?.active) return verifyPassword(body.password, row.passwordHash)
          await burnPasswordCheck(body.password)
          return false
        },
      })
      if (!row || !valid) throw new NodeError('E_LOGIN_FAILED')
      const token = randomToken()
      const csrfToken = randomToken(24)
      insertSession(db, {
        tokenHash: sha256(token),
        userId: row.id,
        csrfToken,
        createdAt: now,
        lastSeenAt: now,
      })
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
      return presentSession(csrfToken, userView(db, row.id))
    },
  )

  routes.delete(
    '/api/v1/session',
    {
      config: { access: 'user' },
      schema: { summary: 'Log out', response: { 204: noBody('Logged out; the session cookie is cleared') } },
    },
    async (request, reply) => {
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
    },
  )

  routes.get(
    '/api/v1/session',
    {
      config: { access: 'user' },
      schema: { summary: 'Who is logged in', response: { 200: SessionViewSchema } },
    },
    async (request) => {
      const principal = principalOf(request)
      return presentSession(principal.csrfToken ?? null, userView(db, principal.userId))
    },
  )

  routes.get(
    '/api/v1/login-attempts',
    {
      config: { access: 'user', scope: 'admin', admin: true },
      schema: {
        summary: 'Failed and throttled logins of the last 30 days, newest first (administrators)',
        querystring: PageQuerySchema,
        response: { 200: pageOf(LoginAttemptViewSchema) },
      },
    },
    async (request) => {
      const query = request.query
      const rows = opts.attempts.list({ before: decodeCursor(query.cursor), limit: query.limit + 1 })
      return page(rows, query.limit)
    },
  )
}

/**
 * Checks a password under the login throttle: refused with 429 and Retry-After while the attempt must
 * wait; otherwise counted as a failure while it is checked (so guesses sent side by side are throttled
 * too) and given back if it was right. Failures are recorded for the administrators; a login that
 * names no user is masked there, since people type their password into the login field by mistake.
 */
export async function checkPassword(
  request: FastifyRequest,
  attempt: LoginAttempt,
  guard: LoginGuard,
  input: { knownLogin: boolean; verify: () => Promise<boolean> },
): Promise<boolean> {
  const shown = input.knownLogin ? attempt.login : maskLogin(attempt.login)
  const waitMs = guard.throttle.retryAfterMs(attempt)
  if (waitMs > 0) {
    guard.attempts.recordThrottled({ ...describe(request, attempt), login: shown })
    const seconds = Math.ceil(waitMs / 1000)
    throw new NodeError('E_RATE_LIMITED', `too many failed logins; try again in ${seconds} s`, {
      headers: { 'retry-after': String(seconds) },
    })
  }
  const giveBack = guard.throttle.reserve(attempt)
  const valid = await input.verify()
  if (valid) {
    giveBack()
    guard.throttle.succeeded(attempt)
  } else guard.attempts.record({ ...describe(request, attempt), login: shown, throttled: false })
  return valid
}

/** Enough of a login that names no user to spot a pattern, not enough to read a mistyped password. */
function maskLogin(login: string): string {
  return login.length <= 2 ? '…' : `${login.slice(0, 2)}… (${login.length} characters)`
}

/**
 * The client's address: Fastify's request.ip, through NODE_TRUST_PROXY. With a trusted proxy, that is
 * what the proxy put in X-Forwarded-For; anything there that is not an address (a misconfigured `true`
 * believing a client's own header) falls back to the socket's, so it cannot choose its throttle key.
 */
export function clientAddress(request: FastifyRequest): string {
  if (isIP(request.ip)) return request.ip
  return request.socket.remoteAddress ?? 'unknown'
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
    config: SessionSettings
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
export function secureCookie(request: FastifyRequest, config: SessionSettings): boolean {
  return config.secureCookies || request.protocol === 'https'
}

/** A user as the API shows them, or E_NOT_FOUND. */
export function userView(tx: Tx, userId: number): UserView {
  const found = findUserWithPartner(tx, userId)
  if (!found) throw new NodeError('E_NOT_FOUND')
  return presentUser(found.user, found.partner, avatarVersion(tx, found.partner.id))
}
