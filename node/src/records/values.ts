import type { Tx } from '../db/client.ts'
import { NodeError, parseWith } from '../errors.ts'
import { valuesSchema } from '../models/fields.ts'
import type { Model } from '../models/registry.ts'
import { findPartner, findUser, findUserWithPartner } from '../people/repository.ts'

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
  const values = parseWith(valuesSchema(model.fields, options), input) as Record<string, unknown>
  for (const field of model.fields) {
    const value = values[field.name]
    if (typeof value !== 'number') continue
    if (field.type === 'user' && !findUser(tx, value))
      throw new NodeError('E_INVALID_BODY', `${field.name}: no user ${value}`, {
        details: [{ path: field.name, message: `no user ${value}` }],
      })
    if (field.type === 'partner' && !findPartner(tx, value))
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
    const row = kind === 'partner' ? findPartner(tx, id) : findUserWithPartner(tx, id)?.partner
    const name = row?.name ?? `#${id}`
    cache.set(key, name)
    return name
  }
}
