import cookie from '@fastify/cookie'
import websocket from '@fastify/websocket'
import type { Clock } from '@ochat/shared-protocol/server'
import {
  addSecurityHeaders,
  answerWithRequestId,
  collectRoutes,
  type DeclaredRoute,
  requestIdFor,
  type ZodTypeProvider,
  zodSerializerCompiler,
  zodValidatorCompiler,
} from '@ochat/shared-protocol/server'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { pino } from 'pino'
import { z } from 'zod'
import { activityAdminRoutes } from './activities/admin-routes.ts'
import { calendarRoutes } from './activities/calendar-routes.ts'
import { activityRoutes } from './activities/routes.ts'
import { installIdempotency } from './api/idempotency.ts'
import { installJsonParser } from './api/json-body.ts'
import { attachmentRoutes } from './attachments/routes.ts'
import { assertRouteAuth, installAuth } from './auth/plugin.ts'
import { automationHookRoutes } from './automation/hook-routes.ts'
import { automationRoutes } from './automation/routes.ts'
import { chatterRoutes } from './chatter/routes.ts'
import type { Config } from './config.ts'
import type { Database } from './db/client.ts'
import { Readiness } from './db/readiness.ts'
import type { WriteQueue } from './db/write-queue.ts'
import { docsRoutes } from './docs/openapi.ts'
import {
  clientErrorHandler,
  frameworkErrors,
  installErrorHandler,
  invalidInput,
  websocketErrorHandler,
} from './errors.ts'
import { followerRoutes } from './followers/routes.ts'
import type { LiveHub } from './live/hub.ts'
import { liveRoutes } from './live/routes.ts'
import { mailLinkRoutes } from './mail/link-routes.ts'
import type { MailSender } from './mail/sender.ts'
import { mailSettingsRoutes } from './mail/settings-routes.ts'
import { installMetrics } from './metrics/routes.ts'
import type { ModelRegistry } from './models/registry.ts'
import { modelRoutes } from './models/routes.ts'
import { inboxRoutes } from './notifications/routes.ts'
import { bulkRoutes } from './ochat/bulk/routes.ts'
import { channelRoutes } from './ochat/channels/routes.ts'
import { connectionRoutes } from './ochat/connections/routes.ts'
import { registrationRoutes } from './ochat/identity/routes.ts'
import { webhookRoutes } from './ochat/relay/webhook-route.ts'
import type { Ochat } from './ochat/runtime.ts'
import { avatarRoutes } from './people/avatar-routes.ts'
import { peopleRoutes } from './people/routes.ts'
import { type RouteCaller, routeCaller } from './policies/index.ts'
import { recordRoutes } from './records/routes.ts'
import { searchRoutes } from './search/routes.ts'
import { webRoutes } from './web/routes.ts'
import { sessionProbeRoutes } from './web/session-probe.ts'
import type { WebhookDispatcher } from './webhooks/dispatcher.ts'
import { outboundWebhookRoutes } from './webhooks/routes.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route with its declaration, in registration order: the API document is built from it. */
    declaredRoutes: DeclaredRoute[]
    /** "method /path" → who may call it: public, session, or the API-key scope (docs are checked against it). */
    routeAccess: Map<string, RouteCaller>
    /** What GET /readyz answers; `serve` tells it when the node starts stopping. */
    readiness: Readiness
  }
}

export type AppDeps = {
  config: Config
  clock: Clock
  database: Database
  registry: ModelRegistry
  live: LiveHub
  /** Every write of a request goes through it (group commit). */
  writes: WriteQueue
  /** O'Chat: identity, relay transport, outbox. */
  ochat: Ochat
  /** Outgoing email: kicked when mail is queued, reconfigured when its settings change. */
  mail: MailSender
  /** Outbound webhooks: kicked when a delivery is replayed or an endpoint resumed. */
  webhooks: WebhookDispatcher
  /** The process's logger (pino), shared with what runs beside the app. */
  log: FastifyBaseLogger
}

/** The node's pino logger: credentials are never written. */
export function createLogger(
  config: Config,
  stream: NodeJS.WritableStream = process.stdout,
): FastifyBaseLogger {
  return pino(
    {
      level: config.logLevel,
      redact: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-csrf-token"]'],
      serializers: {
        req: (req: { method: string; url: string; hostname?: string; ip?: string }) => ({
          method: req.method,
          url: withoutSecrets(req.url),
          host: req.hostname,
          remoteAddress: req.ip,
        }),
      },
    },
    stream,
  ) as FastifyBaseLogger
}

/** Paths whose last part is a secret (a calendar feed, an email's links, a rule's URL): logged without it. */
const SECRET_PATH = /^(\/(?:api\/v1\/automation-hooks|ical|mail\/files|mail\/unfollow)\/)[^/?#]+/

export function withoutSecrets(url: string): string {
  return url.replace(SECRET_PATH, '$1…')
}

/** JSON bodies; attachments stream through their own route with their own limit. */
const BODY_LIMIT_BYTES = 1024 * 1024

/**
 * Builds the node's HTTP and WebSocket app. Registration is explicit and in order: parsers, errors,
 * authentication, then every route group. Every route declares who may call it (`config.access`).
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log,
    bodyLimit: BODY_LIMIT_BYTES,
    return503OnClosing: true,
    // Refusals made before a route runs (router, HTTP parser) answer in the error shape too.
    frameworkErrors,
    clientErrorHandler,
    // Behind a TLS proxy: the client's address (login throttling) and scheme (Secure cookies).
    trustProxy: deps.config.trustProxy,
    // Every log line of a request carries its id: the caller's X-Request-Id when sane, else a new one.
    requestIdHeader: false,
    genReqId: requestIdFor,
  })
  answerWithRequestId(app)
  installErrorHandler(app)
  // Every answer, errors included: no type sniffing, no framing, and the strictest CSP unless it sets its own.
  app.addHook('onSend', async (_request, reply, payload) => {
    addSecurityHeaders(reply)
    return payload
  })
  installJsonParser(app)
  // Each route declares its params, query, body and answers with zod: they validate the request, type
  // the handler, serialize the answer and make the API document.
  app.setValidatorCompiler(
    zodValidatorCompiler((part, error) =>
      invalidInput(error, part === 'body' ? 'E_INVALID_BODY' : 'E_INVALID_PARAMS'),
    ),
  )
  app.setSerializerCompiler(zodSerializerCompiler)
  app.decorate('declaredRoutes', collectRoutes(app))
  const access = new Map<string, RouteCaller>()
  app.decorate('routeAccess', access)
  app.addHook('onRoute', (route) => {
    if (route.method !== 'HEAD') assertRouteAuth(route)
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue
      const key = `${method.toLowerCase()} ${route.url}`
      access.set(key, routeCaller(route.config))
    }
  })
  await app.register(cookie)
  await app.register(websocket, { options: { maxPayload: 64 * 1024 }, errorHandler: websocketErrorHandler })
  const db = deps.database.db
  installAuth(app, { db, clock: deps.clock, sessionIdleMs: deps.config.sessionIdleMs })
  installIdempotency(app, { db, clock: deps.clock })
  installMetrics(app, {
    db,
    clock: deps.clock,
    sessionIdleMs: deps.config.sessionIdleMs,
    metricsToken: deps.config.metricsToken,
  })

  const shared = {
    db,
    clock: deps.clock,
    config: deps.config,
    registry: deps.registry,
    live: deps.live,
    writes: deps.writes,
  }
  app.withTypeProvider<ZodTypeProvider>().get(
    '/healthz',
    {
      config: { access: 'public' },
      schema: { summary: 'Liveness', response: { 200: z.object({ ok: z.literal(true) }) } },
    },
    async () => ({ ok: true as const }),
  )
  const readiness = new Readiness(deps.database)
  app.decorate('readiness', readiness)
  app.withTypeProvider<ZodTypeProvider>().get(
    '/readyz',
    {
      config: { access: 'public' },
      schema: {
        summary: 'Readiness: the database answers and is migrated, and the node is not shutting down',
        response: {
          200: z.object({ ok: z.literal(true) }),
          503: z
            .object({ ok: z.literal(false), reason: z.string() })
            .meta({ description: 'Not ready; the reason says which check failed' }),
        },
      },
    },
    async (_request, reply) => {
      const answer = readiness.check()
      return answer.ok ? answer : reply.status(503).send(answer)
    },
  )
  await app.register(docsRoutes, { company: deps.config.company })
  await app.register(peopleRoutes, shared)
  await app.register(avatarRoutes, shared)
  await app.register(modelRoutes, shared)
  await app.register(recordRoutes, shared)
  await app.register(chatterRoutes, shared)
  await app.register(attachmentRoutes, shared)
  await app.register(followerRoutes, shared)
  await app.register(activityRoutes, shared)
  await app.register(activityAdminRoutes, shared)
  await app.register(calendarRoutes, shared)
  await app.register(inboxRoutes, shared)
  await app.register(searchRoutes, shared)
  await app.register(liveRoutes, shared)
  await app.register(registrationRoutes, { db, ochat: deps.ochat, company: deps.config.company })
  await app.register(connectionRoutes, { db, ochat: deps.ochat, writes: deps.writes, clock: deps.clock })
  await app.register(channelRoutes, {
    db,
    ochat: deps.ochat,
    writes: deps.writes,
    clock: deps.clock,
    registry: deps.registry,
  })
  await app.register(bulkRoutes, {
    db,
    ochat: deps.ochat,
    writes: deps.writes,
    clock: deps.clock,
    registry: deps.registry,
  })
  await app.register(webhookRoutes, { db, ochat: deps.ochat, clock: deps.clock })
  await app.register(mailSettingsRoutes, {
    db,
    clock: deps.clock,
    writes: deps.writes,
    config: deps.config,
    mail: deps.mail,
  })
  await app.register(mailLinkRoutes, {
    db,
    clock: deps.clock,
    writes: deps.writes,
    live: deps.live,
    config: deps.config,
  })
  await app.register(outboundWebhookRoutes, {
    db,
    writes: deps.writes,
    clock: deps.clock,
    webhooks: deps.webhooks,
    allowlist: deps.config.webhookAllowlist,
  })
  await app.register(automationRoutes, {
    db,
    writes: deps.writes,
    clock: deps.clock,
    registry: deps.registry,
    config: deps.config,
  })
  await app.register(automationHookRoutes, {
    db,
    writes: deps.writes,
    clock: deps.clock,
    registry: deps.registry,
    live: deps.live,
    config: deps.config,
  })
  await app.register(sessionProbeRoutes, { db, clock: deps.clock, sessionIdleMs: deps.config.sessionIdleMs })
  await app.register(webRoutes)
  return app
}
