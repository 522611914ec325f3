import { z } from 'zod'
import { itemsOf, PageQuerySchema, pageOf } from '../api/pagination.ts'
import { LoginAttemptViewSchema } from '../auth/login-attempts.ts'
import { PartnerQuery } from '../people/routes.ts'
import {
  ApiKeyCreateSchema,
  ApiKeyViewSchema,
  LoginSchema,
  PartnerCreateSchema,
  PartnerUpdateSchema,
  PartnerViewSchema,
  UserCreateSchema,
  UserUpdateSchema,
  UserViewSchema,
} from '../people/schema.ts'
import type { Operation } from './operations.ts'

const SessionView = z.object({ csrfToken: z.string().nullable(), user: UserViewSchema })

/** Sessions, users, partners, API keys and failed logins. Part of OPERATIONS. */
export const PEOPLE_OPERATIONS: Operation[] = [
  {
    method: 'post',
    path: '/api/v1/session',
    summary:
      'Log in: sets the session cookie and a device cookie, and returns the CSRF token to send as X-CSRF-Token; failures slow down with growing delays (429 with Retry-After)',
    auth: 'public',
    body: LoginSchema,
    ok: { status: 200, schema: SessionView },
  },
  {
    method: 'get',
    path: '/api/v1/session',
    summary: 'Who is logged in',
    auth: 'session',
    ok: { status: 200, schema: SessionView },
  },
  { method: 'delete', path: '/api/v1/session', summary: 'Log out', auth: 'session', ok: { status: 204 } },
  {
    method: 'get',
    path: '/api/v1/users',
    summary: 'Users',
    auth: 'records:read',
    query: PageQuerySchema,
    ok: { status: 200, schema: pageOf(UserViewSchema) },
  },
  {
    method: 'post',
    path: '/api/v1/users',
    summary: 'Create a user (administrators)',
    auth: 'admin',
    body: UserCreateSchema,
    ok: { status: 201, schema: UserViewSchema },
  },
  {
    method: 'get',
    path: '/api/v1/users/{id}',
    summary: 'One user',
    auth: 'records:read',
    ok: { status: 200, schema: UserViewSchema },
  },
  {
    method: 'patch',
    path: '/api/v1/users/{id}',
    summary: 'Change your profile, preference, time zone or password (administrators: anyone, role, active)',
    auth: 'records:write',
    body: UserUpdateSchema,
    ok: { status: 200, schema: UserViewSchema },
  },
  {
    method: 'get',
    path: '/api/v1/partners',
    summary: 'Contacts, with search',
    auth: 'records:read',
    query: PartnerQuery,
    ok: { status: 200, schema: pageOf(PartnerViewSchema) },
  },
  {
    method: 'post',
    path: '/api/v1/partners',
    summary: 'Create an external contact (customer, vendor)',
    auth: 'records:write',
    body: PartnerCreateSchema,
    ok: { status: 201, schema: PartnerViewSchema },
  },
  {
    method: 'get',
    path: '/api/v1/partners/{id}',
    summary: 'One contact',
    auth: 'records:read',
    ok: { status: 200, schema: PartnerViewSchema },
  },
  {
    method: 'patch',
    path: '/api/v1/partners/{id}',
    summary: 'Change an external contact',
    auth: 'records:write',
    body: PartnerUpdateSchema,
    ok: { status: 200, schema: PartnerViewSchema },
  },
  {
    method: 'get',
    path: '/api/v1/api-keys',
    summary: 'Your API keys',
    auth: 'admin',
    ok: { status: 200, schema: itemsOf(ApiKeyViewSchema) },
  },
  {
    method: 'post',
    path: '/api/v1/api-keys',
    summary: 'Create an API key (from a logged-in session); the secret is shown once',
    auth: 'admin',
    body: ApiKeyCreateSchema,
    ok: { status: 201, schema: ApiKeyViewSchema.extend({ secret: z.string() }) },
  },
  {
    method: 'delete',
    path: '/api/v1/api-keys/{id}',
    summary: 'Revoke an API key',
    auth: 'admin',
    ok: { status: 204 },
  },
  {
    method: 'get',
    path: '/api/v1/login-attempts',
    summary: 'Failed and throttled logins of the last 30 days, newest first (administrators)',
    auth: 'admin',
    query: PageQuerySchema,
    ok: { status: 200, schema: pageOf(LoginAttemptViewSchema) },
  },
]
