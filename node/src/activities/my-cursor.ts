import { NodeError } from '../errors.ts'
import type { MyCursor } from './repository.ts'

/**
 * "My activities" is ordered by deadline then id, so its cursor is that pair (base64url of
 * `YYYY-MM-DD:id`): a page resumes exactly after the last item, even when deadlines repeat.
 */
export function encodeMyCursor(cursor: MyCursor): string {
  return Buffer.from(`${cursor.deadline}:${cursor.id}`).toString('base64url')
}

export function decodeMyCursor(cursor: string | undefined): MyCursor | undefined {
  if (cursor === undefined) return undefined
  const match = /^(\d{4}-\d{2}-\d{2}):(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'))
  const id = Number(match?.[2])
  if (!match?.[1] || !Number.isSafeInteger(id) || id <= 0)
    throw new NodeError('E_INVALID_PARAMS', 'cursor: not a cursor this API gave out')
  return { deadline: match[1], id }
}
