import { type Clock, noBody, refusal, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { itemsOf } from '../api/pagination.ts'
import { IdParams } from '../api/params.ts'
import { principalOf } from '../auth/plugin.ts'
import type { Db, Tx } from '../db/client.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import { NodeError } from '../errors.ts'
import { type Effects, newEffects } from '../live/events.ts'
import type { LiveHub } from '../live/hub.ts'
import type { ModelRegistry } from '../models/registry.ts'
import { loadRecord } from '../policies/index.ts'
import type { SiteSettings } from '../settings.ts'
import { ACTIVITY_ICONS } from '../web/icons.ts'
import { launchPlan } from './launch-plan.ts'
import { PlanViewSchema, presentPlan } from './plan-presenter.ts'
import { deletePlan, findPlan, listPlans } from './plan-repository.ts'
import {
  ActivityTypeViewSchema,
  ActivityViewSchema,
  presentActivity,
  presentActivityType,
} from './presenter.ts'
import { activityDetail } from './repository.ts'
import { createPlan, updatePlan } from './save-plan.ts'
import { createType, updateType } from './save-type.ts'
import {
  LaunchBody,
  LaunchParams,
  PlanCreateBody,
  PlanUpdateBody,
  TypeCreateBody,
  TypeUpdateBody,
} from './type-schema.ts'

const ADMIN = { access: 'user', scope: 'admin', admin: true } as const
const invalidType = refusal(
  'An unknown next type, step type or user (E_ACTIVITY_TYPE_UNKNOWN, E_USER_UNKNOWN), or chaining that does not fit its next types (E_ACTIVITY_CHAINING)',
)

/** Activity types and plans: administrators change them; anyone who may write a record launches a plan. */
export async function activityAdminRoutes(
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

  /** Runs a command through the write queue; publishes its live events after commit. */
  async function run<T>(work: (tx: Tx, effects: Effects) => T): Promise<T> {
    const effects = newEffects()
    const result = await opts.writes.run((tx) => work(tx, effects))
    opts.live.publish(effects)
    return result
  }

  routes.get(
    '/api/v1/activity-types/icons',
    {
      config: { access: 'user', scope: 'activities:read' },
      schema: { summary: 'The icons an activity type may have', response: { 200: itemsOf(z.string()) } },
    },
    async () => ({ items: [...ACTIVITY_ICONS] }),
  )

  routes.post(
    '/api/v1/activity-types',
    {
      config: ADMIN,
      schema: {
        summary: 'Create an activity type (administrators)',
        body: TypeCreateBody,
        response: {
          201: ActivityTypeViewSchema,
          409: refusal('The key is taken (E_CONFLICT)'),
          422: invalidType,
        },
      },
    },
    async (request, reply) => {
      const row = await run((tx) => createType(tx, request.body))
      return reply.status(201).send(presentActivityType(row))
    },
  )

  routes.patch(
    '/api/v1/activity-types/:id',
    {
      config: ADMIN,
      schema: {
        summary: 'Change or archive (active: false) an activity type (administrators)',
        params: IdParams,
        body: TypeUpdateBody,
        response: { 200: ActivityTypeViewSchema, 422: invalidType },
      },
    },
    async (request) =>
      presentActivityType(await run((tx) => updateType(tx, request.params.id, request.body))),
  )

  routes.get(
    '/api/v1/activity-plans',
    {
      config: { access: 'user', scope: 'activities:read' },
      schema: { summary: 'Activity plans and their steps', response: { 200: itemsOf(PlanViewSchema) } },
    },
    async () => ({ items: listPlans(db).map((plan) => presentPlan(registry, plan)) }),
  )

  routes.post(
    '/api/v1/activity-plans',
    {
      config: ADMIN,
      schema: {
        summary: 'Create an activity plan (administrators)',
        body: PlanCreateBody,
        response: { 201: PlanViewSchema, 422: invalidType },
      },
    },
    async (request, reply) => {
      const plan = await run((tx) => createPlan(tx, { registry, plan: request.body, now: clock.now() }))
      return reply.status(201).send(presentPlan(registry, plan))
    },
  )

  routes.patch(
    '/api/v1/activity-plans/:id',
    {
      config: ADMIN,
      schema: {
        summary: 'Change an activity plan; steps given replace the old ones (administrators)',
        params: IdParams,
        body: PlanUpdateBody,
        response: { 200: PlanViewSchema, 422: invalidType },
      },
    },
    async (request) => {
      const { id } = request.params
      const plan = await run((tx) => updatePlan(tx, { registry, id, change: request.body }))
      return presentPlan(registry, plan)
    },
  )

  routes.delete(
    '/api/v1/activity-plans/:id',
    {
      config: ADMIN,
      schema: {
        summary: 'Delete an activity plan; the activities it scheduled stay (administrators)',
        params: IdParams,
        response: { 204: noBody('Deleted') },
      },
    },
    async (request, reply) => {
      const deleted = await run((tx) => deletePlan(tx, request.params.id))
      if (!deleted) throw new NodeError('E_NOT_FOUND')
      return reply.status(204).send()
    },
  )

  routes.post(
    '/api/v1/records/:id/activity-plans/:planId/launch',
    {
      config: { access: 'user', scope: 'activities:write' },
      schema: {
        summary: "Launch a plan on a record: every step's activity is scheduled at once, or none",
        params: LaunchParams,
        body: LaunchBody,
        response: {
          201: itemsOf(ActivityViewSchema),
          422: refusal(
            'An on_demand step without an assignee (E_ASSIGNEE_REQUIRED), an inactive user (E_USER_UNKNOWN), an archived type (E_ACTIVITY_TYPE_UNKNOWN), or a plan for another model (E_PLAN_WRONG_MODEL)',
          ),
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request)
      const { id, planId } = request.params
      const body = request.body
      const items = await run((tx, effects) => {
        const { record, model } = loadRecord(tx, { principal, registry, recordId: id })
        const plan = findPlan(tx, planId)
        if (!plan) throw new NodeError('E_NOT_FOUND')
        const rows = launchPlan(tx, {
          principal,
          record,
          model,
          plan,
          date: body.date,
          assignees: body.assignees,
          site,
          now: clock.now(),
          effects,
        })
        return rows.map((row) => {
          const detail = activityDetail(tx, row.id)
          if (!detail) throw new Error(`activity ${row.id} vanished`)
          return presentActivity(detail, clock.now())
        })
      })
      return reply.status(201).send({ items })
    },
  )
}
