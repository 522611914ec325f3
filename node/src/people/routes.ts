import { type Clock, noBody, refusal, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import { decodeCursor, itemsOf, PageQuerySchema, page, pageOf } from '../api/pagination.ts'
import { IdParams } from '../api/params.ts'
import { DeviceCookies } from '../auth/device-cookie.ts'
import { LoginAttemptLog } from '../auth/login-attempts.ts'
import { LoginThrottle } from '../auth/login-throttle.ts'
import { hashPassword, verifyPassword } from '../auth/passwords.ts'
import { principalOf, SESSION_COOKIE } from '../auth/plugin.ts'
import { sha256 } from '../auth/tokens.ts'
import type { Db } from '../db/client.ts'
import { NodeError } from '../errors.ts'
import {
  authorizeApiKeyCreation,
  authorizeApiKeyMinting,
  authorizePartnerChange,
  authorizeUserChange,
  needsCurrentPassword,
  ownsApiKey,
} from '../policies/index.ts'
import type { SessionSettings } from '../settings.ts'
import { avatarVersion, avatarVersions } from './avatar-repository.ts'
import { createApiKey } from './create-api-key.ts'
import { createUser } from './create-user.ts'
import {
  ApiKeyCreatedSchema,
  ApiKeyViewSchema,
  PartnerViewSchema,
  presentApiKey,
  presentCreatedApiKey,
  presentPartner,
  presentUser,
  UserViewSchema,
} from './presenter.ts'
import {
  findApiKeyById,
  findPartner,
  findUser,
  insertPartner,
  listApiKeysOfUser,
  listPartners,
  listUsers,
  revokeApiKey,
  updatePartnerRow,
} from './repository.ts'
import {
  ApiKeyCreateSchema,
  PartnerCreateSchema,
  PartnerQuerySchema,
  PartnerUpdateSchema,
  UserCreateSchema,
  UserUpdateSchema,
} from './schema.ts'
import { checkPassword, clientAddress, type LoginGuard, sessionRoutes, userView } from './session-routes.ts'
import { updateUser } from './update-user.ts'

/** Sessions (log in and out, session-routes.ts), users, partners and API keys. */
export async function peopleRoutes(
  app: FastifyInstance,
  opts: { db: Db; clock: Clock; config: SessionSettings },
) {
  const { db, clock } = opts
  const guard: LoginGuard = {
    throttle: new LoginThrottle(),
    attempts: new LoginAttemptLog(db),
    devices: DeviceCookies.load(db, clock.now()),
  }
  sessionRoutes(app, { db, clock, config: opts.config, ...guard })
  const routes = app.withTypeProvider<ZodTypeProvider>()

  routes.get(
    '/api/v1/users',
    {
      config: { access: 'user', scope: 'records:read' },
      schema: { summary: 'Users', querystring: PageQuerySchema, response: { 200: pageOf(UserViewSchema) } },
    },
    async (request) => {
      const { limit, cursor } = request.query
      const rows = listUsers(db, { after: decodeCursor(cursor), limit: limit + 1 })
      const avatars = avatarVersions(
        db,
        rows.map((row) => row.partner.id),
      )
      return page(
        rows.map((row) => presentUser(row.user, row.partner, avatars.get(row.partner.id) ?? null)),
        limit,
      )
    },
  )

  routes.post(
    '/api/v1/users',
    {
      config: { access: 'user', scope: 'admin', admin: true },
      schema: {
        summary: 'Create a user (administrators)',
        body: UserCreateSchema,
        response: { 201: UserViewSchema },
      },
    },
    async (request, reply) => {
      const { user, partner } = await createUser({ db, user: request.body, now: clock.now() })
      return reply.status(201).send(presentUser(user, partner, null))
    },
  )

  routes.get(
    '/api/v1/users/:id',
    {
      config: { access: 'user', scope: 'records:read' },
      schema: { summary: 'One user', params: IdParams, response: { 200: UserViewSchema } },
    },
    async (request) => userView(db, request.params.id),
  )

  routes.patch(
    '/api/v1/users/:id',
    {
      config: { access: 'user', scope: 'records:write' },
      schema: {
        summary:
          'Change your profile, preferences (notifications, daily digest), time zone or password (administrators: anyone, role, active)',
        params: IdParams,
        body: UserUpdateSchema,
        response: {
          200: UserViewSchema,
          422: refusal('The daily digest needs an email address (E_DIGEST_NEEDS_EMAIL)'),
          429: refusal('Too many wrong current passwords (E_RATE_LIMITED); retry after Retry-After'),
        },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const { id } = request.params
      const body = request.body
      authorizeUserChange(principal, id, body)
      const session = principal.via === 'session' ? request.cookies[SESSION_COOKIE] : undefined
      if (needsCurrentPassword(principal, id, body)) {
        const stored = findUser(db, id)
        if (!stored) throw new NodeError('E_NOT_FOUND')
        if (body.currentPassword === undefined)
          throw new NodeError('E_FORBIDDEN', 'currentPassword: give your current password to change it')
        // Guesses here count like failed logins: a stolen session cannot try passwords any faster than
        // the session's own budget, and the user's own session is not slowed by others' failures.
        const attempt = {
          login: stored.login,
          address: clientAddress(request),
          trustedClient: session ? `session:${sha256(session)}` : undefined,
          now: clock.now(),
        }
        const currentPassword = body.currentPassword
        const valid = await checkPassword(request, attempt, guard, {
          knownLogin: true,
          verify: () => verifyPassword(currentPassword, stored.passwordHash),
        })
        if (!valid)
          throw new NodeError('E_FORBIDDEN', 'currentPassword: give your current password to change it')
      }
      const current = request.cookies[SESSION_COOKIE]
      updateUser({
        db,
        userId: id,
        change: body,
        passwordHash: body.password ? await hashPassword(body.password) : undefined,
        currentSessionHash: current ? sha256(current) : undefined,
        now: clock.now(),
      })
      return userView(db, id)
    },
  )

  routes.get(
    '/api/v1/partners',
    {
      config: { access: 'user', scope: 'records:read' },
      schema: {
        summary: 'Contacts, with search',
        querystring: PartnerQuerySchema,
        response: { 200: pageOf(PartnerViewSchema) },
      },
    },
    async (request) => {
      const { limit, cursor, search } = request.query
      const rows = listPartners(db, { after: decodeCursor(cursor), limit: limit + 1, search })
      const avatars = avatarVersions(
        db,
        rows.map((row) => row.id),
      )
      return page(
        rows.map((row) => presentPartner(row, avatars.get(row.id) ?? null)),
        limit,
      )
    },
  )

  routes.post(
    '/api/v1/partners',
    {
      config: { access: 'user', scope: 'records:write' },
      schema: {
        summary: 'Create an external contact (customer, vendor)',
        body: PartnerCreateSchema,
        response: { 201: PartnerViewSchema },
      },
    },
    async (request, reply) => {
      const row = insertPartner(db, { ...request.body, internal: false, createdAt: clock.now() })
      return reply.status(201).send(presentPartner(row, null))
    },
  )

  routes.get(
    '/api/v1/partners/:id',
    {
      config: { access: 'user', scope: 'records:read' },
      schema: { summary: 'One contact', params: IdParams, response: { 200: PartnerViewSchema } },
    },
    async (request) => {
      const row = findPartner(db, request.params.id)
      if (!row) throw new NodeError('E_NOT_FOUND')
      return presentPartner(row, avatarVersion(db, row.id))
    },
  )

  routes.patch(
    '/api/v1/partners/:id',
    {
      config: { access: 'user', scope: 'records:write' },
      schema: {
        summary: 'Change an external contact',
        params: IdParams,
        body: PartnerUpdateSchema,
        response: { 200: PartnerViewSchema },
      },
    },
    async (request) => {
      const { id } = request.params
      const row = findPartner(db, id)
      if (!row) throw new NodeError('E_NOT_FOUND')
      authorizePartnerChange(row)
      return presentPartner(updatePartnerRow(db, id, request.body) ?? row, avatarVersion(db, id))
    },
  )

  routes.get(
    '/api/v1/api-keys',
    {
      config: { access: 'user', scope: 'admin' },
      schema: { summary: 'Your API keys', response: { 200: itemsOf(ApiKeyViewSchema) } },
    },
    async (request) => ({ items: listApiKeysOfUser(db, principalOf(request).userId).map(presentApiKey) }),
  )

  routes.post(
    '/api/v1/api-keys',
    {
      config: { access: 'user', scope: 'admin' },
      // Before validation: a key is refused before its body is read (see authorizeApiKeyMinting).
      preValidation: async (request) => authorizeApiKeyMinting(principalOf(request)),
      schema: {
        summary: 'Create an API key (from a logged-in session); the secret is shown once',
        body: ApiKeyCreateSchema,
        response: { 201: ApiKeyCreatedSchema },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request)
      authorizeApiKeyCreation(principal, request.body.scopes)
      const { row, secret } = createApiKey({
        db,
        userId: principal.userId,
        name: request.body.name,
        scopes: request.body.scopes,
        now: clock.now(),
      })
      return reply.status(201).send(presentCreatedApiKey(row, secret))
    },
  )

  routes.delete(
    '/api/v1/api-keys/:id',
    {
      config: { access: 'user', scope: 'admin' },
      schema: {
        summary: 'Revoke an API key',
        params: IdParams,
        response: { 204: noBody('Revoked (or already revoked)') },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request)
      const { id } = request.params
      const row = findApiKeyById(db, id)
      if (!row || !ownsApiKey(principal, row)) throw new NodeError('E_NOT_FOUND')
      if (row.revokedAt === null) revokeApiKey(db, { id, now: clock.now() })
      return reply.status(204).send()
    },
  )
}
