import { z } from 'zod'
import { PageQuerySchema } from '../api/pagination.ts'

/** `/models/:model/…`: any name up to 64 characters; one that names no model is 404, not 400. */
export const ModelParamsSchema = z.object({ model: z.string().max(64) })

export const RecordCreateSchema = z.strictObject({
  /** Field name → value, checked per field type by the model (records/values.ts). */
  values: z.record(z.string(), z.unknown()),
})

export const RecordUpdateSchema = z.strictObject({
  /** The version you read; the write is refused if the record changed since. */
  version: z.int().positive(),
  values: z.record(z.string(), z.unknown()),
})

export const RecordListQuerySchema = PageQuerySchema.extend({
  archived: z
    .enum(['false', 'true', 'all'])
    .default('false')
    .meta({ description: 'Active records (the default), archived ones, or both' }),
})
