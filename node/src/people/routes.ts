import { and, asc, desc, eq, gt, ne, or, sql } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { decodeCursor, PageQuerySchema, page } from '../api/pagination.ts'
import { IdParams } from '../api/params.ts'
import { DeviceCookies } from '../auth/device-cookie.ts'
import { LoginAttemptLog } from '../auth/login-attempts.ts'
import { LoginThrottle } from '../auth/login-throttle.ts'
import { hashPassword, verifyPassword } from '../auth/passwords.ts'
import { principalOf, SESSION_COOKIE } from '../auth/plugin.ts'
import { isAdmin } from '../auth/principal.ts'
import { revokeApiKeys } from '../auth/repository.ts'
import { randomToken, sha256 } from '../auth/tokens.ts'
import type { Clock } from '../clock.ts'
import type { Config } from '../config.ts'
import type { Db } from '../db/client.ts'
import { apiKeys, partners, sessions, users } from '../db/schema.ts'
import { NodeError, parseWith } from '../errors.ts'
import { createUser } from './create-user.ts'
import { presentApiKey, presentPartner, presentUser } from './presenter.ts'
import {
  ApiKeyCreateSchema,
  PartnerCreateSchema,
  PartnerUpdateSchema,
  UserCreateSchema,
  UserUpdateSchema,
} from './schema.ts'
import { checkPassword, clientAddress, type LoginGuard, sessionRoutes, userView } from './session-routes.ts'

export const PartnerQuery = PageQuerySchema.extend({ search: z.string().trim().max(100).optional() })

/** Sessions (log in and out, session-routes.ts), users, partners and API keys. */
export async function peopleRoutes(app: FastifyInstance, opts: { db: Db; clock: Clock; config: Config }) {
  const { db, clock } = opts
  const guard: LoginGuard = {
    throttle: new LoginThrottle(),
    attempts: new LoginAttemptLog(db),
    devices: DeviceCookies.load(db, clock.now()),
  }
  sessionRoutes(app, { db, clock, config: opts.config, ...guard })
  const me = (userId: number) => userView(db, userId)

  app.get('/api/v1/users', { config: { access: 'user', scope: 'records:read' } }, async (request) => {
    const query = parseWith(PageQuerySchema, request.query, 'E_INVALID_PARAMS')
    const after = decodeCursor(query.cursor)
    const rows = db
      .select()
      .from(users)
      .innerJoin(partners, eq(partners.id, users.partnerId))
      .where(after ? gt(users.id, after) : undefined)
      .orderBy(asc(users.id))
      .limit(query.limit + 1)
      .all()
    const result = page(
      rows.map((row) => ({ ...presentUser(row.users, row.partners), id: row.users.id })),
      query.limit,
    )
    return result
  })

  app.post(
    '/api/v1/users',
    { config: { access: 'user', scope: 'admin', admin: true } },
    async (request, reply) => {
      const body = parseWith(UserCreateSchema, request.body)
      const { user, partner } = await createUser({ db, user: body, now: clock.now() })
      return reply.status(201).send(presentUser(user, partner))
    },
  )

  app.get('/api/v1/users/:id', { config: { access: 'user', scope: 'records:read' } }, async (request) => {
    const { id } = parseWith(IdParams, request.params, 'E_INVALID_PARAMS')
    return me(id)
  })

  app.patch('/api/v1/users/:id', { config: { access: 'user', scope: 'records:write' } }, async (request) => {
    const principal = principalOf(request)
    const { id } = parseWith(IdParams, request.params, 'E_INVALID_PARAMS')
    const body = parseWith(UserUpdateSchema, request.body)
    const admin = isAdmin(principal)
    if (id !== principal.userId && !admin)
      throw new NodeError('E_FORBIDDEN', 'you can only change your own profile')
    if (!admin && (body.role !== undefined || body.active !== undefined))
      throw new NodeError('E_FORBIDDEN', 'only an administrator can change roles or deactivate users')
    if (id === principal.userId && (body.role === 'user' || body.active === false))
      throw new NodeError(
        'E_FORBIDDEN',
        'you cannot demote or deactivate yourself; ask another administrator',
      )
    if (body.password && id === principal.userId) {
      const stored = db
        .select({ login: users.login, hash: users.passwordHash })
        .from(users)
        .where(eq(users.id, id))
        .get()
      if (!stored) throw new NodeError('E_NOT_FOUND')
      if (body.currentPassword === undefined)
        throw new NodeError('E_FORBIDDEN', 'currentPassword: give your current password to change it')
      // Guesses here count like failed logins: a stolen session cannot try passwords any faster than
      // the session's own budget, and the user's own session is not slowed by others' failures.
      const session = principal.via === 'session' ? request.cookies[SESSION_COOKIE] : undefined
      const attempt = {
        login: stored.login,
        address: clientAddress(request),
        trustedClient: session ? `session:${sha256(session)}` : undefined,
        now: clock.now(),
      }
      const currentPassword = body.currentPassword
      const valid = await checkPassword(request, attempt, guard, {
        knownLogin: true,
        verify: () => verifyPassword(currentPassword, stored.hash),
      })
      if (!valid)
        throw new NodeError('E_FORBIDDEN', 'currentPassword: give your current password to change it')
    }
    const passwordHash = body.password ? await hashPassword(body.password) : undefined
    const now = clock.now()
    db.transaction((tx) => {
      const user = tx.select().from(users).where(eq(users.id, id)).get()
      if (!user) throw new NodeError('E_NOT_FOUND')
      const userChanges = {
        ...(body.notification ? { notification: body.notification } : {}),
        ...(body.timeZone ? { timeZone: body.timeZone } : {}),
        ...(body.role ? { role: body.role } : {}),
        ...(body.active !== undefined ? { active: body.active } : {}),
        ...(passwordHash ? { passwordHash } : {}),
      }
      if (Object.keys(userChanges).length > 0) tx.update(users).set(userChanges).where(eq(users.id, id)).run()
      if (body.name !== undefined || body.email !== undefined)
        tx.update(partners)
          .set({
            ...(body.name ? { name: body.name } : {}),
            ...(body.email !== undefined ? { email: body.email } : {}),
          })
          .where(eq(partners.id, user.partnerId))
          .run()
      // A new password or deactivation ends the user's sessions, except the one making the change.
      if (passwordHash || body.active === false) {
        const current = request.cookies[SESSION_COOKIE]
        tx.delete(sessions)
          .where(and(eq(sessions.userId, id), current ? ne(sessions.tokenHash, sha256(current)) : undefined))
          .run()
      }
      // Deactivation revokes the keys for good: reactivating the user must not bring them back. A
      // new password revokes them when asked (a leaked password may have leaked keys with it).
      if (body.active === false || (passwordHash && body.revokeApiKeys))
        revokeApiKeys(tx, { userId: id, now })
    })
    return me(id)
  })

  app.get('/api/v1/partners', { config: { access: 'user', scope: 'records:read' } }, async (request) => {
    const query = parseWith(PartnerQuery, request.query, 'E_INVALID_PARAMS')
    const after = decodeCursor(query.cursor)
    const search = query.search ? `%${query.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : undefined
    const rows = db
      .select()
      .from(partners)
      .where(
        and(
          eq(partners.active, true),
          after ? gt(partners.id, after) : undefined,
          // SQLite's LIKE has no escape character unless one is named: without it "100%" matched nothing.
          search
            ? or(
                sql`${partners.name} like ${search} escape '\\'`,
                sql`${partners.email} like ${search} escape '\\'`,
              )
            : undefined,
        ),
      )
      .orderBy(asc(partners.id))
      .limit(query.limit + 1)
      .all()
    return page(rows.map(presentPartner), query.limit)
  })

  app.post(
    '/api/v1/partners',
    { config: { access: 'user', scope: 'records:write' } },
    async (request, reply) => {
      const body = parseWith(PartnerCreateSchema, request.body)
      const row = db
        .insert(partners)
        .values({ ...body, internal: false, createdAt: clock.now() })
        .returning()
        .get()
      return reply.status(201).send(presentPartner(row))
    },
  )

  app.get('/api/v1/partners/:id', { config: { access: 'user', scope: 'records:read' } }, async (request) => {
    const { id } = parseWith(IdParams, request.params, 'E_INVALID_PARAMS')
    const row = db.select().from(partners).where(eq(partners.id, id)).get()
    if (!row) throw new NodeError('E_NOT_FOUND')
    return presentPartner(row)
  })

  app.patch(
    '/api/v1/partners/:id',
    { config: { access: 'user', scope: 'records:write' } },
    async (request) => {
      const { id } = parseWith(IdParams, request.params, 'E_INVALID_PARAMS')
      const body = parseWith(PartnerUpdateSchema, request.body)
      const row = db.select().from(partners).where(eq(partners.id, id)).get()
      if (!row) throw new NodeError('E_NOT_FOUND')
      // A user's own partner is changed through the user, so names and emails stay in one place.
      if (row.internal)
        throw new NodeError('E_FORBIDDEN', 'change an internal user through /api/v1/users/{id}')
      return presentPartner(db.update(partners).set(body).where(eq(partners.id, id)).returning().get() ?? row)
    },
  )

  app.get('/api/v1/api-keys', { config: { access: 'user', scope: 'admin' } }, async (request) => {
    const principal = principalOf(request)
    return {
      items: db
        .select()
        .from(apiKeys)
        .where(eq(apiKeys.userId, principal.userId))
        .orderBy(desc(apiKeys.id))
        .all()
        .map(presentApiKey),
    }
  })

  app.post('/api/v1/api-keys', { config: { access: 'user', scope: 'admin' } }, async (request, reply) => {
    const principal = principalOf(request)
    // Keys are made in the UI by a person: an API key cannot mint more keys.
    if (principal.via !== 'session')
      throw new NodeError('E_FORBIDDEN', 'create API keys from a logged-in session')
    const body = parseWith(ApiKeyCreateSchema, request.body)
    if (body.scopes.includes('admin') && principal.role !== 'admin')
      throw new NodeError('E_FORBIDDEN', 'only administrators can create keys with the admin scope')
    const prefix = randomToken(6).slice(0, 8)
    const secret = `ock_${prefix}_${randomToken()}`
    const row = db
      .insert(apiKeys)
      .values({
        userId: principal.userId,
        name: body.name,
        prefix,
        secretHash: sha256(secret),
        scopes: body.scopes,
        createdAt: clock.now(),
      })
      .returning()
      .get()
    // The secret is shown once; only its hash is kept.
    return reply.status(201).send({ ...presentApiKey(row), secret })
  })

  app.delete(
    '/api/v1/api-keys/:id',
    { config: { access: 'user', scope: 'admin' } },
    async (request, reply) => {
      const principal = principalOf(request)
      const { id } = parseWith(IdParams, request.params, 'E_INVALID_PARAMS')
      const row = db
        .select()
        .from(apiKeys)
        .where(and(eq(apiKeys.id, id), eq(apiKeys.userId, principal.userId)))
        .get()
      if (!row) throw new NodeError('E_NOT_FOUND')
      if (row.revokedAt === null)
        db.update(apiKeys).set({ revokedAt: clock.now() }).where(eq(apiKeys.id, id)).run()
      return reply.status(204).send()
    },
  )
}
