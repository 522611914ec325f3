import websocket from '@fastify/websocket'
import { jsonNestingExceeds, MAX_JSON_DEPTH } from '@ochat/shared-protocol'
import type { Clock } from '@ochat/shared-protocol/server'
import {
  addSecurityHeaders,
  answerWithRequestId,
  collectRoutes,
  type DeclaredRoute,
  requestIdFor,
  zodSerializerCompiler,
  zodValidatorCompiler,
} from '@ochat/shared-protocol/server'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { pino } from 'pino'
import { databaseNonceStore } from './auth/nonce-store.ts'
import { assertRouteAuth, precheckSignedHeaders, requireInstance } from './auth/plugin.ts'
import type { BlobStore } from './blobs/blob-store.ts'
import { blobRoutes } from './blobs/routes.ts'
import type { Config } from './config.ts'
import { connectionRoutes } from './connections/routes.ts'
import type { Database } from './db/client.ts'
import { AckWriter } from './delivery/ack-writer.ts'
import { Drainer } from './delivery/drainer.ts'
import type { DeliveryMetrics } from './delivery/metrics.ts'
import type { SocketHub } from './delivery/socket-hub.ts'
import type { SubmitRequestIds } from './delivery/submit-request-ids.ts'
import { CLOSE, wsRoutes } from './delivery/ws-routes.ts'
import { docsRoutes } from './docs/openapi.ts'
import type { EnvelopeWriter } from './envelopes/envelope-writer.ts'
import type { RateLimiter } from './envelopes/rate-limiter.ts'
import { envelopeRoutes, SUBMIT_BODY_LIMIT_BYTES } from './envelopes/routes.ts'
import {
  clientErrorHandler,
  frameworkErrors,
  installErrorHandler,
  invalidInput,
  RelayError,
  websocketErrorHandler,
} from './errors.ts'
import type { Readiness } from './info/readiness.ts'
import type { RelayKeys } from './info/relay-keys.ts'
import { infoRoutes } from './info/routes.ts'
import { instanceRoutes } from './instances/routes.ts'
import { opsRoutes } from './ops/routes.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route with its declaration, in registration order: the API document is built from it. */
    declaredRoutes: DeclaredRoute[]
  }
}

export type AppDeps = {
  config: Config
  clock: Clock
  database: Database
  relayKeys: RelayKeys
  writer: EnvelopeWriter
  limits: { instance: RateLimiter; connection: RateLimiter }
  hub: SocketHub
  metrics: DeliveryMetrics
  blobStore: BlobStore
  /** Which request submitted each envelope, for the webhook that delivers it. */
  submits: SubmitRequestIds
  /** What GET /readyz answers. */
  readiness: Readiness
  /** Where logs go; stdout unless a test captures them. */
  logStream?: NodeJS.WritableStream
}

/** Every other JSON body: parsing happens before authentication, so it stays small. */
const BODY_LIMIT_BYTES = 1024 * 1024

/**
 * Builds the HTTP and WebSocket app. Registration is explicit and in order: parsers, error handling,
 * then every route group. Routes that need a signed request say so with `signed`.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: pino(
      {
        level: deps.config.logLevel,
        // No message content or key material in logs. Bodies are never logged; these
        // headers would only carry signatures and tokens, but they are redacted all the same.
        redact: [
          'req.headers["ochat-signature"]',
          'req.headers["webhook-signature"]',
          'req.headers.authorization',
        ],
      },
      deps.logStream ?? process.stdout,
    ) as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    // Behind a TLS proxy, request.ip is the client's (from X-Forwarded-For) only for a trusted proxy.
    trustProxy: deps.config.trustProxy,
    return503OnClosing: true,
    // Refusals made before a route runs (router, HTTP parser) answer in the error shape too.
    frameworkErrors,
    clientErrorHandler,
    // Every log line of a request carries its id: the caller's X-Request-Id when sane, else a new one.
    requestIdHeader: false,
    genReqId: requestIdFor,
  })
  answerWithRequestId(app)

  // Signatures cover the raw bytes, so the JSON parser keeps them.
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = body as Buffer
    request.rawBody = bytes
    if (bytes.byteLength === 0) return done(null, undefined)
    // Checked before parsing, so that nothing downstream walks a value nested deep enough to exhaust the stack.
    if (jsonNestingExceeds(bytes))
      return done(
        new RelayError(
          'E_INVALID_BODY',
          `the body nests arrays and objects more than ${MAX_JSON_DEPTH} deep`,
        ),
        undefined,
      )
    try {
      done(null, JSON.parse(bytes.toString('utf8')))
    } catch {
      done(new RelayError('E_INVALID_BODY', 'the body is not valid JSON'), undefined)
    }
  })
  installErrorHandler(app)
  // Every answer, errors included: no type sniffing, no framing, and the strictest CSP unless it sets its own.
  app.addHook('onSend', async (_request, reply, payload) => {
    addSecurityHeaders(reply)
    return payload
  })
  // Each route declares its params, query, body and answers with zod: they validate the request, type
  // the handler, serialize the answer and make the API document.
  app.setValidatorCompiler(
    zodValidatorCompiler((part, error) =>
      invalidInput(error, part === 'body' ? 'E_INVALID_BODY' : 'E_INVALID_PARAMS'),
    ),
  )
  app.setSerializerCompiler(zodSerializerCompiler)
  app.decorate('declaredRoutes', collectRoutes(app))
  app.addHook('onRoute', (route) => {
    if (route.method !== 'HEAD') assertRouteAuth(route)
  })
  // Signed routes (those without a declared `auth`) check their headers and clock window before the
  // body is read: an unsigned or stale request is refused without reading up to 64 MiB first.
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config?.auth || !request.routeOptions.url) return
    precheckSignedHeaders(request.headers, deps.clock.now())
  })
  await app.register(websocket, {
    options: { maxPayload: SUBMIT_BODY_LIMIT_BYTES },
    errorHandler: websocketErrorHandler,
    // Sockets still open when the app closes (not yet authenticated: the hub closed the others) get
    // the same code as the rest, so their nodes too reconnect at once.
    preClose: async () => {
      for (const client of app.websocketServer.clients)
        client.close(CLOSE.shuttingDown, 'relay shutting down')
    },
  })

  const db = deps.database.db
  const relayId = deps.relayKeys.relayId
  const signed = requireInstance({ db, clock: deps.clock, relayId, nonces: databaseNonceStore(db) })

  // At the root, so it sees every route (a hook inside a plugin would see only that plugin's routes).
  app.addHook('onResponse', async (request, reply) => {
    deps.metrics.requestSeconds.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unknown',
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    )
  })
  await app.register(docsRoutes, { relayName: deps.config.name })
  await app.register(opsRoutes, { metrics: deps.metrics, metricsToken: deps.config.metricsToken })
  await app.register(infoRoutes, {
    config: deps.config,
    readiness: deps.readiness,
    relayKeys: deps.relayKeys,
  })
  await app.register(instanceRoutes, { db, clock: deps.clock, config: deps.config, relayId, signed })
  await app.register(connectionRoutes, { db, clock: deps.clock, config: deps.config, signed })
  await app.register(envelopeRoutes, {
    db,
    clock: deps.clock,
    config: deps.config,
    writer: deps.writer,
    limits: deps.limits,
    signed,
    submits: deps.submits,
  })
  await app.register(blobRoutes, {
    db,
    clock: deps.clock,
    store: deps.blobStore,
    signed,
    uploadPace: deps.config.uploadPace,
  })
  await app.register(wsRoutes, {
    db,
    clock: deps.clock,
    config: deps.config,
    writer: deps.writer,
    limits: deps.limits,
    log: app.log,
    metrics: deps.metrics,
    submits: deps.submits,
    drainer: new Drainer({ db: deps.database.relaxed, clock: deps.clock, config: deps.config, log: app.log }),
    acks: new AckWriter({
      db,
      clock: deps.clock,
      deadlineMs: deps.config.deliveryDeadlineMs,
      replicaId: deps.config.replicaId,
      visibilityMs: deps.config.claimVisibilityMs,
      handOffTo: (instanceId) => deps.hub.get(instanceId),
    }),
    hub: deps.hub,
    relayKeys: deps.relayKeys,
  })
  return app
}
