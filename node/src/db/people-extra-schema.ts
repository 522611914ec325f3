import { blob, index, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import { activityTypes, bool, models, ms, partners, users } from './core-schema.ts'

/**
 * A contact's picture, shown wherever its initials are otherwise drawn. Kept in the database rather
 * than beside the attachments: a few dozen kilobytes each, and a backup carries it without more work.
 */
export const partnerAvatars = sqliteTable('partner_avatars', {
  partnerId: integer('partner_id')
    .primaryKey()
    .references(() => partners.id, { onDelete: 'cascade' }),
  /** image/png | image/jpeg | image/webp: checked against the bytes, never taken from the client. */
  mime: text('mime').notNull(),
  bytes: blob('bytes', { mode: 'buffer' }).notNull(),
  updatedAt: ms('updated_at').notNull(),
})

/** An activity plan schedules several activities on a record in one go ("Onboarding": call, meeting, …). */
export const activityPlans = sqliteTable('activity_plans', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  name: text('name').notNull(),
  /** The model the plan is offered on; null: every model. */
  modelId: integer('model_id').references(() => models.id),
  active: bool('active').notNull().default(true),
  createdAt: ms('created_at').notNull(),
})

/** One activity a plan schedules, its deadline counted from the date the plan is launched for. */
export const activityPlanSteps = sqliteTable(
  'activity_plan_steps',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    planId: integer('plan_id')
      .notNull()
      .references(() => activityPlans.id, { onDelete: 'cascade' }),
    sequence: integer('sequence').notNull().default(10),
    activityTypeId: integer('activity_type_id')
      .notNull()
      .references(() => activityTypes.id),
    summary: text('summary'),
    note: text('note'),
    /** default: the type's default assignee, else whoever launches; on_demand: asked at launch; user: `userId`. */
    assignee: text('assignee').$type<'default' | 'on_demand' | 'user'>().notNull().default('default'),
    userId: integer('user_id').references(() => users.id),
    delayCount: integer('delay_count').notNull().default(0),
    delayUnit: text('delay_unit').$type<'days' | 'weeks' | 'months'>().notNull().default('days'),
    delayFrom: text('delay_from')
      .$type<'before_plan_date' | 'after_plan_date'>()
      .notNull()
      .default('after_plan_date'),
  },
  (table) => [index('activity_plan_steps_plan').on(table.planId, table.sequence, table.id)],
)
