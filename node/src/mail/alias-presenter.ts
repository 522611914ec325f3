import { z } from 'zod'
import type { mailAliases } from '../db/schema.ts'
import type { ModelRegistry } from '../models/registry.ts'
import { CONTACT_POLICIES } from './alias-schema.ts'

type AliasRow = typeof mailAliases.$inferSelect

export const AliasViewSchema = z.object({
  id: z.int(),
  name: z.string(),
  /** name@mail domain; null until a mail domain is set (mail settings, NODE_MAIL_DOMAIN). */
  address: z.string().nullable(),
  model: z.string(),
  recordId: z.int().nullable(),
  defaults: z.record(z.string(), z.unknown()),
  contactPolicy: z.enum(CONTACT_POLICIES),
  active: z.boolean(),
  createdAt: z.int(),
})

export function presentAlias(
  row: AliasRow,
  context: { registry: ModelRegistry; mailDomain: string | null },
): z.infer<typeof AliasViewSchema> {
  return {
    id: row.id,
    name: row.name,
    address: context.mailDomain ? `${row.name}@${context.mailDomain}` : null,
    model: context.registry.byId(row.modelId)?.name ?? `#${row.modelId}`,
    recordId: row.recordId,
    defaults: row.defaults,
    contactPolicy: row.contactPolicy,
    active: row.active,
    createdAt: row.createdAt,
  }
}
