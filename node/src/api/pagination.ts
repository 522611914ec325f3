import { z } from 'zod'
import { NodeError } from '../errors.ts'

/**
 * Cursor pagination: `?limit=&cursor=`. A cursor is the opaque position after the last item of a page
 * (an id, base64url-encoded), so pages stay stable while new items arrive.
 */
export const PageQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(100).optional(),
})

export function decodeCursor(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined
  const id = Number(Buffer.from(cursor, 'base64url').toString('utf8'))
  if (!Number.isSafeInteger(id) || id <= 0)
    throw new NodeError('E_INVALID_PARAMS', 'cursor: not a cursor this API gave out')
  return id
}

export function encodeCursor(id: number): string {
  return Buffer.from(String(id)).toString('base64url')
}

/** Takes `limit + 1` rows, returns `limit` and the cursor of the next page when there is one. */
export function page<T extends { id: number }>(
  rows: T[],
  limit: number,
): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit)
  const last = items.at(-1)
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null }
}

export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() })

/** A whole list in one answer, for the docs' response schemas. */
export const itemsOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item) })
