import { z } from 'zod'
import { PageQuerySchema } from '../api/pagination.ts'

export const InboxQuerySchema = PageQuerySchema.extend({ unread: z.enum(['true', 'false']).optional() })
const ReadAllFields = z.strictObject({ recordId: z.int().positive().optional() })
/** No body at all means everything: Fastify hands a missing body to the validator as null. */
export const ReadAllBodySchema = ReadAllFields.nullish().transform(
  (body): z.output<typeof ReadAllFields> => body ?? {},
)
