import { z } from 'zod'
import { ActivityStateSchema } from '../activities/schema.ts'
import type { Model } from '../models/registry.ts'
import type { RecordRow } from './repository.ts'

export const RecordViewSchema = z.object({
  id: z.int(),
  model: z.string(),
  name: z.string(),
  /** Send it back when you write: a write against an older version is refused (409). */
  version: z.int(),
  values: z.record(z.string(), z.unknown()),
  createdBy: z.int().nullable(),
  createdAt: z.int(),
  updatedAt: z.int(),
  /** When it was archived (out of its model's list); null while it is active. */
  archivedAt: z.int().nullable(),
  /**
   * On reads (GET), when the record has open activities: the worst of their states (overdue > today >
   * planned), each computed in its assignee's time zone. Absent otherwise.
   */
  activityState: ActivityStateSchema.optional(),
  /** How many emails of its messages and activities failed or bounced (shown in red). */
  failedEmails: z.int(),
})
export type RecordView = z.infer<typeof RecordViewSchema>

export function presentRecord(
  record: RecordRow,
  model: Model,
  activityState: RecordView['activityState'] | undefined,
  /** From notifications/email-repository.ts failedEmailCounts. */
  failedEmails: number,
): RecordView {
  const values: Record<string, unknown> = {}
  for (const field of model.fields) values[field.name] = record.values[field.name] ?? null
  return {
    id: record.id,
    model: model.name,
    name: record.name,
    version: record.version,
    values,
    createdBy: record.createdBy,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    archivedAt: record.archivedAt,
    ...(activityState ? { activityState } : {}),
    failedEmails,
  }
}
