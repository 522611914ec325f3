import type { z } from 'zod'
import type { apiKeys, partners, users } from '../db/schema.ts'
import type { ApiKeyViewSchema, PartnerViewSchema, UserViewSchema } from './schema.ts'

export function presentPartner(row: typeof partners.$inferSelect): z.infer<typeof PartnerViewSchema> {
  return {
    id: row.id,
    name: row.name,
    email: row.email,
    companyName: row.companyName,
    internal: row.internal,
  }
}

export function presentUser(
  row: typeof users.$inferSelect,
  partner: typeof partners.$inferSelect,
): z.infer<typeof UserViewSchema> {
  return {
    id: row.id,
    login: row.login,
    name: partner.name,
    email: partner.email,
    role: row.role,
    partnerId: row.partnerId,
    notification: row.notification,
    timeZone: row.timeZone,
    active: row.active,
  }
}

export function presentApiKey(row: typeof apiKeys.$inferSelect): z.infer<typeof ApiKeyViewSchema> {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    scopes: row.scopes as z.infer<typeof ApiKeyViewSchema>['scopes'],
    createdAt: row.createdAt,
    lastUsedAt: row.lastUsedAt,
    revokedAt: row.revokedAt,
  }
}
