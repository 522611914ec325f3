import { IdSchema } from '@ochat/shared-protocol'
import type { FastifyRequest } from 'fastify'
import { z } from 'zod'
import { RelayError } from './errors.ts'

/**
 * Ids in the path. A malformed id cannot name anything, and is answered as one the caller may not see
 * (404 E_NOT_FOUND, PROTOCOL.md §1.3, §3.2, §9), never as a 400 that would tell the two apart: so the
 * params schema takes any text, and the id is checked here.
 */

/** `:id` params: any text, checked by `wellFormedId`. */
export const IdParams = z.object({ id: z.string() })

/** The id, or the 404 of a thing that does not exist when it is not one (by default a UUID). */
export function wellFormedId(id: string, schema: z.ZodType<string> = IdSchema): string {
  if (!schema.safeParse(id).success) throw new RelayError('E_NOT_FOUND')
  return id
}

/**
 * A preValidation hook that refuses a malformed `:id` with that 404 before the body is validated, so
 * that a caller never learns more from a bad body than from a bad id. Put it after the signed-request
 * hook: an unsigned caller is refused first.
 */
export async function idBeforeBody(request: FastifyRequest): Promise<void> {
  wellFormedId((request.params as { id?: string }).id ?? '')
}
