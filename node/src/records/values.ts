import { eq, inArray } from 'drizzle-orm'
import { z } from 'zod'
import type { Tx } from '../db/client.ts'
import { partners, users } from '../db/schema.ts'
import { NodeError, parseWith } from '../errors.ts'
import { valueSchema } from '../models/fields.ts'
import type { Model } from '../models/registry.ts'

/**
 * Validates record values against the model's fields: unknown fields are refused, required ones must
 * be present on create, and users and partners referenced must exist. `partial` is for updates.
 */
export function parseValues(
  tx: Tx,
  model: Model,
  input: unknown,
  options: { partial: boolean },
): Record<string, unknown> {
  const shape: Record<string, z.ZodType> = {}
  for (const field of model.fields) {
    const schema = valueSchema(field)
    shape[field.name] = options.partial || !field.required ? schema.optional() : schema
  }
  const values = parseWith(z.strictObject(shape), input) as Record<string, unknown>
  for (const field of model.fields) {
    const value = values[field.name]
    if (typeof value !== 'number') continue
    if (
      field.type === 'user' &&
      !tx.select({ id: users.id }).from(users).where(eq(users.id, value)).get()?.id
    )
      throw new NodeError('E_INVALID_BODY', `${field.name}: no user ${value}`, {
        details: [{ path: field.name, message: `no user ${value}` }],
      })
    if (
      field.type === 'partner' &&
      !tx.select({ id: partners.id }).from(partners).where(eq(partners.id, value)).get()?.id
    )
      throw new NodeError('E_INVALID_BODY', `${field.name}: no partner ${value}`, {
        details: [{ path: field.name, message: `no partner ${value}` }],
      })
  }
  return values
}

/** Looks up display names of users and partners, once each. */
export function nameResolver(tx: Tx): (kind: 'user' | 'partner', id: number) => string {
  const cache = new Map<string, string>()
  return (kind, id) => {
    const key = `${kind}:${id}`
    const known = cache.get(key)
    if (known !== undefined) return known
    const row =
      kind === 'partner'
        ? tx.select({ name: partners.name }).from(partners).where(eq(partners.id, id)).get()
        : tx
            .select({ name: partners.name })
            .from(users)
            .innerJoin(partners, eq(partners.id, users.partnerId))
            .where(eq(users.id, id))
            .get()
    const name = row?.name ?? `#${id}`
    cache.set(key, name)
    return name
  }
}

/** The partner of each user id given. */
export function partnersOfUsers(tx: Tx, userIds: number[]): Map<number, number> {
  if (userIds.length === 0) return new Map()
  const rows = tx
    .select({ id: users.id, partnerId: users.partnerId })
    .from(users)
    .where(inArray(users.id, userIds))
    .all()
  return new Map(rows.map((row) => [row.id, row.partnerId]))
}
