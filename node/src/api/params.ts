import { z } from 'zod'

/** `/:id` in a path: a positive integer id (anything else is 400 E_INVALID_PARAMS). */
export const IdParams = z.object({ id: z.coerce.number().int().positive() })
