import { z } from 'zod'
import { PageQuerySchema } from '../api/pagination.ts'
import { isCalendarDate } from './dates.ts'

/** overdue (red), today (orange), planned (green): computed in the assignee's time zone. */
export const ActivityStateSchema = z.enum(['overdue', 'today', 'planned'])
export type ActivityState = z.infer<typeof ActivityStateSchema>

/**
 * Deadlines and start times stay within years 1900–9000: snoozing and chaining add days and months,
 * and a deadline of 9999-12-31 snoozed once became "+010000-01" (stored, shown overdue, refused when
 * sent back). Before 1900, Date.UTC reads years 0–99 as 1900–1999.
 */
const FIRST_DAY = '1900-01-01'
const LAST_DAY = '9000-12-31'

/** A date without a time, `YYYY-MM-DD`. */
export const DateSchema = z
  .string()
  .refine(isCalendarDate, 'a date written YYYY-MM-DD')
  .refine((date) => date >= FIRST_DAY && date <= LAST_DAY, `between ${FIRST_DAY} and ${LAST_DAY}`)

/** An ISO 8601 date-time with an offset (`Z` or `+02:00`), kept as epoch milliseconds. */
const InstantSchema = z.iso
  .datetime({ offset: true })
  .transform((value) => Date.parse(value))
  .refine(
    (ms) => ms >= Date.parse(`${FIRST_DAY}T00:00:00Z`) && ms <= Date.parse(`${LAST_DAY}T00:00:00Z`),
    `between ${FIRST_DAY} and ${LAST_DAY}`,
  )

const Summary = z.string().trim().max(200)
/** Markdown, rendered and sanitized like a message body. */
const Note = z.string().max(20_000)
/** Calls and meetings: how long, for the calendar feed. 1 minute to 24 hours. */
const Duration = z
  .int()
  .min(1)
  .max(24 * 60)

export { IdParams } from '../api/params.ts'

export const ScheduleBody = z.strictObject({
  /** An activity type key, e.g. `call` (see GET /api/v1/activity-types). */
  type: z.string().min(1).max(64),
  summary: Summary.optional(),
  note: Note.optional(),
  /** Defaults to the assignee's today plus the type's delay (or the start date of a call or meeting). */
  deadline: DateSchema.optional(),
  /** Defaults to the caller. */
  assigneeId: z.int().positive().optional(),
  /** Calls and meetings only: when it starts; shown as a timed event in the calendar feed. */
  startsAt: InstantSchema.optional(),
  durationMinutes: Duration.optional(),
})
export type ScheduleInput = z.infer<typeof ScheduleBody>

export const UpdateBody = z
  .strictObject({
    /** Reschedule. */
    deadline: DateSchema.optional(),
    /** Reassign: the new assignee is told and follows the record. */
    assigneeId: z.int().positive().optional(),
    summary: Summary.nullable().optional(),
    note: Note.optional(),
    /** null removes the start time (the feed then shows an all-day event). */
    startsAt: InstantSchema.nullable().optional(),
    durationMinutes: Duration.nullable().optional(),
  })
  .refine((body) => Object.values(body).some((value) => value !== undefined), 'nothing to change')
export type UpdateInput = z.infer<typeof UpdateBody>

export const DoneBody = z
  .strictObject({
    /** What happened, in plain text; kept on the activity and written into the chatter. */
    feedback: z.string().trim().max(10_000).optional(),
    /** Files the caller uploaded beforehand, attached to the activity-done message. */
    attachmentIds: z.array(z.int().positive()).max(20).default([]),
  })
  .nullish()
  // Nothing to say and no files: no body at all will do (a missing body reaches validation as null).
  .transform((body) => body ?? { attachmentIds: [] })

export const MyActivitiesQuery = PageQuerySchema.extend({ state: ActivityStateSchema.optional() })

/** The secret token of a user's iCal feed, in its URL. */
export const IcalParams = z.object({ token: z.string().min(1).max(200) })
