import { z } from 'zod'
import { ActivityStateSchema } from '../activities/schema.ts'
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
  q: z
    .string()
    .max(100)
    .optional()
    .meta({ description: 'Only records whose name or a text field contains this (any case)' }),
  mine: z.enum(['true', 'false']).optional().meta({ description: 'true: only records assigned to you' }),
  activity: ActivityStateSchema.optional().meta({
    description: "Only records whose worst open activity is in this state (in its assignee's time zone)",
  }),
  sort: z.string().max(64).optional().meta({
    description:
      'Sort by `name`, `createdAt`, `updatedAt` or a field of the model (not long text or restricted ones); newest first without it',
  }),
  order: z.enum(['asc', 'desc']).default('asc').meta({ description: 'With `sort`: ascending or descending' }),
})
export type RecordListQuery = z.infer<typeof RecordListQuerySchema>
