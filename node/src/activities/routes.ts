import type { Clock, ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import { itemsOf } from '../api/pagination.ts'
import { principalOf } from '../auth/plugin.ts'
import type { Principal } from '../auth/principal.ts'
import { renderBody } from '../chatter/body.ts'
import type { Db, Tx } from '../db/client.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import { NodeError } from '../errors.ts'
import { type Effects, newEffects } from '../live/events.ts'
import type { LiveHub } from '../live/hub.ts'
import type { ModelRegistry } from '../models/registry.ts'
import { loadRecord } from '../policies/index.ts'
import type { SiteSettings } from '../settings.ts'
import { cancelActivity } from './cancel-activity.ts'
import { localDate } from './dates.ts'
import { markActivityDone } from './mark-done.ts'
import { decodeMyCursor, encodeMyCursor } from './my-cursor.ts'
import {
  ActivityTypeViewSchema,
  ActivityViewSchema,
  DoneViewSchema,
  MyActivitiesViewSchema,
  presentActivity,
  presentActivityType,
  presentDone,
  presentMyActivities,
  presentRecordActivities,
  RecordActivitiesViewSchema,
} from './presenter.ts'
import {
  type ActivityDetail,
  type ActivityRow,
  activityDetail,
  countMine,
  findActivity,
  findRecord,
  listTypes,
  openActivitiesOfRecord,
  pageOfMine,
} from './repository.ts'
import { resolveAssignee, resolveType, scheduleActivity } from './schedule-activity.ts'
import { DoneBody, IdParams, MyActivitiesQuery, ScheduleBody, UpdateBody } from './schema.ts'
import { snoozeActivity } from './snooze-activity.ts'
import { TypeListQuery } from './type-schema.ts'
import { updateActivity } from './update-activity.ts'

/** Activities: types, a record's activities, schedule / edit / snooze / cancel / done, mine. */
export async function activityRoutes(
  app: FastifyInstance,
  opts: {
    db: Db
    clock: Clock
    config: SiteSettings
    registry: ModelRegistry
    live: LiveHub
    writes: WriteQueue
  },
) {
  const { db, registry, clock } = opts
  const site = { company: opts.config.company, publicUrl: opts.config.publicUrl }
  const routes = app.withTypeProvider<ZodTypeProvider>()

  /**
   * An activity and its record. Anyone who can read the record may act on its activities; the
   * assignee may also mark their own activity done without that right. Everyone else gets "not
   * found", as for an activity that does not exist.
   */
  function loadActivity(tx: Tx, principal: Principal, id: number, options: { assigneeMayAct: boolean }) {
    const activity = findActivity(tx, id)
    if (!activity) throw new NodeError('E_NOT_FOUND')
    if (options.assigneeMayAct && activity.assigneeId === principal.userId) {
      const record = findRecord(tx, activity.recordId)
      const model = record ? registry.byId(record.modelId) : undefined
      if (record && model) return { activity, record, model }
    }
    return { activity, ...loadRecord(tx, { principal, registry, recordId: activity.recordId }) }
  }

  /** An activity with what presenting it needs (type, assignee, record), read back after a write. */
  function detailOf(tx: Tx, row: ActivityRow): ActivityDetail {
    const detail = activityDetail(tx, row.id)
    if (!detail) throw new Error(`activity ${row.id} vanished`)
    return detail
  }

  const present = (tx: Tx, row: ActivityRow) => presentActivity(detailOf(tx, row), clock.now())

  /** Runs a command through the write queue (group commit); publishes its live events after commit. */
  async function run<T>(work: (tx: Tx, effects: Effects) => T): Promise<T> {
    const effects = newEffects()
    const result = await opts.writes.run((tx) => work(tx, effects))
    opts.live.publish(effects)
    return result
  }

  routes.get(
    '/api/v1/activity-types',
    {
      config: { access: 'user', scope: 'activities:read' },
      schema: {
        summary: 'Activity types, delays and chaining (archived ones too with archived=true)',
        querystring: TypeListQuery,
        response: { 200: itemsOf(ActivityTypeViewSchema) },
      },
    },
    async (request) => ({
      items: listTypes(db, { archived: request.query.archived === 'true' }).map(presentActivityType),
    }),
  )

  routes.get(
    '/api/v1/records/:id/activities',
    {
      config: { access: 'user', scope: 'activities:read' },
      schema: {
        summary: "A record's open activities and its worst state",
        params: IdParams,
        response: { 200: RecordActivitiesViewSchema },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const { id } = request.params
      return db.transaction((tx) => {
        loadRecord(tx, { principal, registry, recordId: id })
        return presentRecordActivities(openActivitiesOfRecord(tx, id), clock.now())
      })
    },
  )

  routes.post(
    '/api/v1/records/:id/activities',
    {
      config: { access: 'user', scope: 'activities:write' },
      schema: {
        summary: 'Schedule an activity',
        params: IdParams,
        body: ScheduleBody,
        response: { 201: ActivityViewSchema },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request)
      const { id } = request.params
      const body = request.body
      const view = await run((tx, effects) => {
        const { record, model } = loadRecord(tx, { principal, registry, recordId: id })
        const activity = scheduleActivity(tx, {
          principal,
          record,
          model,
          type: resolveType(tx, body.type),
          assignee: resolveAssignee(tx, body.assigneeId ?? principal.userId),
          summary: body.summary ?? null,
          note: body.note === undefined ? '' : renderBody(body.note, 'markdown'),
          deadline: body.deadline,
          startsAt: body.startsAt,
          durationMinutes: body.durationMinutes,
          site,
          now: clock.now(),
          effects,
        })
        return present(tx, activity)
      })
      return reply.status(201).send(view)
    },
  )

  routes.get(
    '/api/v1/activities/:id',
    {
      config: { access: 'user', scope: 'activities:read' },
      schema: { summary: 'One activity', params: IdParams, response: { 200: ActivityViewSchema } },
    },
    async (request) => {
      const principal = principalOf(request)
      const { id } = request.params
      return db.transaction((tx) =>
        present(tx, loadActivity(tx, principal, id, { assigneeMayAct: true }).activity),
      )
    },
  )

  routes.patch(
    '/api/v1/activities/:id',
    {
      config: { access: 'user', scope: 'activities:write' },
      schema: {
        summary: 'Reschedule, reassign (the new assignee is told) or edit',
        params: IdParams,
        body: UpdateBody,
        response: { 200: ActivityViewSchema },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const { id } = request.params
      const body = request.body
      return run((tx, effects) => {
        const { activity, record, model } = loadActivity(tx, principal, id, { assigneeMayAct: false })
        const updated = updateActivity(tx, {
          principal,
          record,
          model,
          activity,
          assignee: body.assigneeId === undefined ? undefined : resolveAssignee(tx, body.assigneeId),
          deadline: body.deadline,
          summary: body.summary,
          note: body.note === undefined ? undefined : renderBody(body.note, 'markdown'),
          startsAt: body.startsAt,
          durationMinutes: body.durationMinutes,
          site,
          now: clock.now(),
          effects,
        })
        return present(tx, updated)
      })
    },
  )

  routes.post(
    '/api/v1/activities/:id/snooze',
    {
      config: { access: 'user', scope: 'activities:write' },
      schema: { summary: 'Snooze 7 days', params: IdParams, response: { 200: ActivityViewSchema } },
    },
    async (request) => {
      const principal = principalOf(request)
      const { id } = request.params
      return run((tx, effects) => {
        const { activity } = loadActivity(tx, principal, id, { assigneeMayAct: false })
        return present(tx, snoozeActivity(tx, { activity, now: clock.now(), effects }))
      })
    },
  )

  routes.post(
    '/api/v1/activities/:id/cancel',
    {
      config: { access: 'user', scope: 'activities:write' },
      schema: {
        summary: 'Cancel (kept for reporting)',
        params: IdParams,
        response: { 200: ActivityViewSchema },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const { id } = request.params
      return run((tx, effects) => {
        const { activity } = loadActivity(tx, principal, id, { assigneeMayAct: false })
        return present(tx, cancelActivity(tx, { activity, now: clock.now(), effects }))
      })
    },
  )

  routes.post(
    '/api/v1/activities/:id/done',
    {
      config: { access: 'user', scope: 'activities:write' },
      schema: {
        summary: 'Mark done with feedback: posts a message, triggers or suggests the next',
        params: IdParams,
        body: DoneBody,
        response: { 200: DoneViewSchema },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const { id } = request.params
      const body = request.body
      return run((tx, effects) => {
        const { activity, record, model } = loadActivity(tx, principal, id, { assigneeMayAct: true })
        const result = markActivityDone(tx, {
          principal,
          record,
          model,
          activity,
          feedback: body.feedback,
          attachmentIds: body.attachmentIds,
          site,
          now: clock.now(),
          effects,
        })
        return presentDone(
          {
            activity: detailOf(tx, result.activity),
            messageId: result.messageId,
            triggered: result.triggered ? detailOf(tx, result.triggered) : undefined,
            suggestedTypes: result.suggestedTypes,
          },
          clock.now(),
        )
      })
    },
  )

  // "Today" is computed once, in the caller's time zone; the SQL compares date strings against it
  // through the assignee index, so 5,000 open activities cost three index counts and one page.
  routes.get(
    '/api/v1/my/activities',
    {
      config: { access: 'user', scope: 'activities:read' },
      schema: {
        summary: 'Your open activities by state, with counts',
        querystring: MyActivitiesQuery,
        response: { 200: MyActivitiesViewSchema },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const query = request.query
      const after = decodeMyCursor(query.cursor)
      const now = clock.now()
      const today = localDate(now, principal.timeZone)
      return db.transaction((tx) => {
        const counts = countMine(tx, principal.userId, today)
        const rows = pageOfMine(tx, {
          userId: principal.userId,
          today,
          state: query.state,
          after,
          limit: query.limit + 1,
        })
        const items = rows.slice(0, query.limit)
        const last = items.at(-1)
        const nextCursor =
          rows.length > query.limit && last
            ? encodeMyCursor({ deadline: last.activity.deadline, id: last.activity.id })
            : null
        return presentMyActivities({ today, counts, items, nextCursor, nowMs: now })
      })
    },
  )
}
