import type { FastifyInstance } from 'fastify'
import { principalOf } from '../auth/plugin.ts'
import type { Principal } from '../auth/principal.ts'
import { renderBody } from '../chatter/body.ts'
import type { Clock } from '../clock.ts'
import type { Config } from '../config.ts'
import type { Db, Tx } from '../db/client.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import { NodeError, parseWith } from '../errors.ts'
import { type Effects, newEffects } from '../live/events.ts'
import type { LiveHub } from '../live/hub.ts'
import type { ModelRegistry } from '../models/registry.ts'
import { loadRecord } from '../records/access.ts'
import { cancelActivity } from './cancel-activity.ts'
import { localDate } from './dates.ts'
import { markActivityDone } from './mark-done.ts'
import { decodeMyCursor, encodeMyCursor } from './my-cursor.ts'
import { presentActivity, presentActivityType } from './presenter.ts'
import {
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
import { isOpenState, worstState } from './state.ts'
import { updateActivity } from './update-activity.ts'

/** Activities: types, a record's activities, schedule / edit / snooze / cancel / done, mine, iCal. */
export async function activityRoutes(
  app: FastifyInstance,
  opts: { db: Db; clock: Clock; config: Config; registry: ModelRegistry; live: LiveHub; writes: WriteQueue },
) {
  const { db, registry, clock } = opts
  const site = { company: opts.config.company, publicUrl: opts.config.publicUrl }

  /**
   * An activity and its record. Anyone who can read the record may act on its activities; the
   * assignee may also mark their own activity done without that right (mission-anchors row 41).
   * Everyone else gets "not found", as for an activity that does not exist.
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

  function present(tx: Tx, row: ActivityRow) {
    const detail = activityDetail(tx, row.id)
    if (!detail) throw new Error(`activity ${row.id} vanished`)
    return presentActivity(detail, clock.now())
  }

  /** Runs a command through the write queue (group commit); publishes its live events after commit. */
  async function run<T>(work: (tx: Tx, effects: Effects) => T): Promise<T> {
    const effects = newEffects()
    const result = await opts.writes.run((tx) => work(tx, effects))
    opts.live.publish(effects)
    return result
  }

  app.get('/api/v1/activity-types', { config: { access: 'user', scope: 'activities:read' } }, async () => ({
    items: listTypes(db).map(presentActivityType),
  }))

  app.get(
    '/api/v1/records/:id/activities',
    { config: { access: 'user', scope: 'activities:read' } },
    async (request) => {
      const principal = principalOf(request)
      const { id } = parseWith(IdParams, request.params, 'E_INVALID_PARAMS')
      return db.transaction((tx) => {
        loadRecord(tx, { principal, registry, recordId: id })
        const now = clock.now()
        const items = openActivitiesOfRecord(tx, id).map((detail) => presentActivity(detail, now))
        return { state: worstState(items.map((item) => item.state).filter(isOpenState)), items }
      })
    },
  )

  app.post(
    '/api/v1/records/:id/activities',
    { config: { access: 'user', scope: 'activities:write' } },
    async (request, reply) => {
      const principal = principalOf(request)
      const { id } = parseWith(IdParams, request.params, 'E_INVALID_PARAMS')
      const body = parseWith(ScheduleBody, request.body)
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

  app.get(
    '/api/v1/activities/:id',
    { config: { access: 'user', scope: 'activities:read' } },
    async (request) => {
      const principal = principalOf(request)
      const { id } = parseWith(IdParams, request.params, 'E_INVALID_PARAMS')
      return db.transaction((tx) =>
        present(tx, loadActivity(tx, principal, id, { assigneeMayAct: true }).activity),
      )
    },
  )

  app.patch(
    '/api/v1/activities/:id',
    { config: { access: 'user', scope: 'activities:write' } },
    async (request) => {
      const principal = principalOf(request)
      const { id } = parseWith(IdParams, request.params, 'E_INVALID_PARAMS')
      const body = parseWith(UpdateBody, request.body)
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

  app.post(
    '/api/v1/activities/:id/snooze',
    { config: { access: 'user', scope: 'activities:write' } },
    async (request) => {
      const principal = principalOf(request)
      const { id } = parseWith(IdParams, request.params, 'E_INVALID_PARAMS')
      return run((tx, effects) => {
        const { activity } = loadActivity(tx, principal, id, { assigneeMayAct: false })
        return present(tx, snoozeActivity(tx, { activity, now: clock.now(), effects }))
      })
    },
  )

  app.post(
    '/api/v1/activities/:id/cancel',
    { config: { access: 'user', scope: 'activities:write' } },
    async (request) => {
      const principal = principalOf(request)
      const { id } = parseWith(IdParams, request.params, 'E_INVALID_PARAMS')
      return run((tx, effects) => {
        const { activity } = loadActivity(tx, principal, id, { assigneeMayAct: false })
        return present(tx, cancelActivity(tx, { activity, now: clock.now(), effects }))
      })
    },
  )

  app.post(
    '/api/v1/activities/:id/done',
    { config: { access: 'user', scope: 'activities:write' } },
    async (request) => {
      const principal = principalOf(request)
      const { id } = parseWith(IdParams, request.params, 'E_INVALID_PARAMS')
      const body = parseWith(DoneBody, request.body ?? {})
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
        return {
          activity: present(tx, result.activity),
          messageId: result.messageId,
          triggered: result.triggered ? present(tx, result.triggered) : null,
          suggestedTypes: result.suggestedTypes,
        }
      })
    },
  )

  // "Today" is computed once, in the caller's time zone; the SQL compares date strings against it
  // through the assignee index, so 5,000 open activities cost three index counts and one page.
  app.get(
    '/api/v1/my/activities',
    { config: { access: 'user', scope: 'activities:read' } },
    async (request) => {
      const principal = principalOf(request)
      const query = parseWith(MyActivitiesQuery, request.query, 'E_INVALID_PARAMS')
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
        return {
          today,
          counts,
          items: items.map((detail) => presentActivity(detail, now, today)),
          nextCursor:
            rows.length > query.limit && last
              ? encodeMyCursor({ deadline: last.activity.deadline, id: last.activity.id })
              : null,
        }
      })
    },
  )
}
