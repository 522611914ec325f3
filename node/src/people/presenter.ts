import { z } from 'zod'
import { ScopeSchema } from '../auth/scopes.ts'
import { avatarUrl } from './avatar-image.ts'
import type { ApiKeyRow, PartnerRow, UserRow } from './repository.ts'

export const PartnerViewSchema = z.object({
  id: z.int(),
  name: z.string(),
  email: z.string().nullable(),
  companyName: z.string().nullable(),
  /** True for the partner of an internal user; external partners are customers and vendors. */
  internal: z.boolean(),
  /** Made by the mail intake from an unknown sender, and not yet vouched for (see PATCH). */
  fromMail: z.boolean(),
  /** The contact's picture, versioned so caches refresh (null: draw initials). */
  avatarUrl: z.string().nullable(),
})
export type PartnerView = z.infer<typeof PartnerViewSchema>

/** `avatarAt`: when its picture last changed (avatar-repository.ts), null without one. */
export function presentPartner(row: PartnerRow, avatarAt: number | null): PartnerView {
  return {
    id: row.id,
    name: row.name,
    email: row.email,
    companyName: row.companyName,
    internal: row.internal,
    fromMail: row.fromMail,
    avatarUrl: avatarUrl(row.id, avatarAt),
  }
}

export const UserViewSchema = z.object({
  id: z.int(),
  login: z.string(),
  name: z.string(),
  email: z.string().nullable(),
  role: z.enum(['admin', 'user']),
  partnerId: z.int(),
  notification: z.enum(['inbox', 'email']),
  timeZone: z.string(),
  /** A daily digest email at `digestHour` (0-23) in `timeZone`. */
  digest: z.boolean(),
  digestHour: z.int(),
  active: z.boolean(),
  /** Their picture, versioned so caches refresh (null: draw initials). */
  avatarUrl: z.string().nullable(),
})
export type UserView = z.infer<typeof UserViewSchema>

/** A user as people see them: the name and email are their partner's. */
export function presentUser(row: UserRow, partner: PartnerRow, avatarAt: number | null): UserView {
  return {
    id: row.id,
    login: row.login,
    name: partner.name,
    email: partner.email,
    role: row.role,
    partnerId: row.partnerId,
    notification: row.notification,
    timeZone: row.timeZone,
    digest: row.digest,
    digestHour: row.digestHour,
    active: row.active,
    avatarUrl: avatarUrl(partner.id, avatarAt),
  }
}

/** Who is logged in, with the token to send back as X-CSRF-Token (null through an API key). */
export const SessionViewSchema = z.object({ csrfToken: z.string().nullable(), user: UserViewSchema })
export type SessionView = z.infer<typeof SessionViewSchema>

export function presentSession(csrfToken: string | null, user: UserView): SessionView {
  return { csrfToken, user }
}

export const ApiKeyViewSchema = z.object({
  id: z.int(),
  name: z.string(),
  prefix: z.string(),
  scopes: z.array(ScopeSchema),
  createdAt: z.int(),
  lastUsedAt: z.int().nullable(),
  revokedAt: z.int().nullable(),
})
export type ApiKeyView = z.infer<typeof ApiKeyViewSchema>

/** Never the secret: only its hash is kept, and it is shown once, when the key is made. */
export function presentApiKey(row: ApiKeyRow): ApiKeyView {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    scopes: row.scopes as ApiKeyView['scopes'],
    createdAt: row.createdAt,
    lastUsedAt: row.lastUsedAt,
    revokedAt: row.revokedAt,
  }
}

export const ApiKeyCreatedSchema = ApiKeyViewSchema.extend({
  /** The key itself, `ock_…`: shown this once. */
  secret: z.string(),
})

export function presentCreatedApiKey(row: ApiKeyRow, secret: string): z.infer<typeof ApiKeyCreatedSchema> {
  return { ...presentApiKey(row), secret }
}
