import { createHash } from 'node:crypto'
import type { Clock } from '@ochat/shared-protocol/server'
import { and, eq, lte } from 'drizzle-orm'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Db, Tx } from '../db/client.ts'
import { idempotencyKeys } from '../db/schema.ts'
import { NodeError } from '../errors.ts'

/** A key is answered for 24 h, then forgotten (Stripe and the IETF draft use the same order of magnitude). */
export const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000
/** Expired keys are purged on the way, at most once a minute (ms), not by a timer. */
const PURGE_EVERY_MS = 60_000
/** 1–200 printable ASCII characters: room for a UUID, a ULID or an integrator's own composite key. */
const KEY_PATTERN = /^[\x20-\x7e]{1,200}$/

/**
 * `Idempotency-Key` on POST (header as in draft-ietf-httpapi-idempotency-key-header). An integrator
 * that may retry a POST (a timeout, a dropped connection) sends a key it chose, e.g.
 * `Idempotency-Key: 5f1c0e8a-…`, and sends the same key again with the same request when retrying:
 * - first time: the request runs; its answer (2xx or 4xx) is kept for 24 h;
 * - the same key again with the same method, URL and body: the kept answer is sent back, with
 *   `Idempotent-Replayed: true`, and nothing runs again (one message, one set of notifications);
 * - the same key with another request: 422 E_IDEMPOTENCY_MISMATCH;
 * - the same key while the first request still runs: 409 E_IDEMPOTENCY_IN_PROGRESS (retry shortly).
 * A 5xx answer is not kept, nor is the answer to a request whose body never fully arrived: a retry
 * then runs again. Keys are per user; another user's identical key is another key.
 *
 * Uploads (POST /api/v1/attachments) take part too, but their body is a stream the handler reads
 * later, and hashing it first would mean buffering it: for them the request hash covers the URL (file
 * name, record), Content-Type and Content-Length instead of the bytes.
 *
 * Applies to authenticated POSTs under /api/v1; install it after authentication, before the routes.
 */
export function installIdempotency(app: FastifyInstance, deps: { db: Db; clock: Clock }): void {
  const { db, clock } = deps
  /** Requests that run under a key and whose answer is to be kept. */
  const pending = new WeakMap<FastifyRequest, { userId: number; key: string }>()
  let lastPurge = Number.NEGATIVE_INFINITY

  // Before validation, so that a refused body is kept and replayed like any other 4xx, and a bad key
  // is reported before a bad body. Auth ran in onRequest; body and rawBody are parsed by now.
  app.addHook('preValidation', async (request, reply) => {
    const header = request.headers['idempotency-key']
    if (header === undefined || request.method !== 'POST' || !request.principal) return
    if (!request.routeOptions.url?.startsWith('/api/v1/')) return
    const key = Array.isArray(header) ? header.join(', ') : header
    if (!KEY_PATTERN.test(key))
      throw new NodeError('E_INVALID_HEADER', 'Idempotency-Key: 1 to 200 printable ASCII characters')
    const userId = request.principal.userId
    const requestHash = hashRequest(request)
    const now = clock.now()
    const kept = db.transaction((tx) => {
      if (now - lastPurge >= PURGE_EVERY_MS) {
        purgeExpired(tx, now)
        lastPurge = now
      }
      const where = and(eq(idempotencyKeys.userId, userId), eq(idempotencyKeys.key, key))
      const row = tx.select().from(idempotencyKeys).where(where).get()
      if (row && now - row.createdAt < IDEMPOTENCY_TTL_MS) {
        if (row.requestHash !== requestHash) throw new NodeError('E_IDEMPOTENCY_MISMATCH')
        if (row.status === null) throw new NodeError('E_IDEMPOTENCY_IN_PROGRESS')
        return { status: row.status, response: row.response ?? '' }
      }
      if (row) tx.delete(idempotencyKeys).where(where).run()
      tx.insert(idempotencyKeys).values({ userId, key, requestHash, status: null, createdAt: now }).run()
      return undefined
    })
    if (kept) {
      void reply.status(kept.status).header('idempotent-replayed', 'true')
      if (kept.response !== '') void reply.type('application/json; charset=utf-8')
      return reply.send(kept.response === '' ? undefined : kept.response)
    }
    pending.set(request, { userId, key })
  })

  app.addHook('onSend', async (request, reply, payload) => {
    const entry = pending.get(request)
    if (!entry) return payload
    pending.delete(request)
    const where = and(eq(idempotencyKeys.userId, entry.userId), eq(idempotencyKeys.key, entry.key))
    const status = reply.statusCode
    const keep =
      ((status >= 200 && status < 300) || (status >= 400 && status < 500)) &&
      request.raw.complete !== false &&
      (payload === null || payload === undefined || typeof payload === 'string' || Buffer.isBuffer(payload))
    if (keep)
      db.update(idempotencyKeys)
        .set({ status, response: payload === null || payload === undefined ? '' : String(payload) })
        .where(where)
        .run()
    else db.delete(idempotencyKeys).where(where).run()
    return payload
  })

  // A request that never reached onSend must not hold its key "in progress" for 24 h.
  app.addHook('onResponse', async (request) => {
    const entry = pending.get(request)
    if (!entry) return
    pending.delete(request)
    db.delete(idempotencyKeys)
      .where(and(eq(idempotencyKeys.userId, entry.userId), eq(idempotencyKeys.key, entry.key)))
      .run()
  })
}

/**
 * SHA-256 of what makes two requests "the same": method, URL with its query, and the body's bytes as
 * received (kept by the JSON parser, `api/json-body.ts`). Hashing bytes, not the parsed value, costs one
 * pass however the body nests; a retry sends the same bytes.
 */
function hashRequest(request: FastifyRequest): string {
  const body = request.body as { pipe?: unknown } | null | undefined
  const hash = createHash('sha256').update(`${request.method} ${request.url}\n`)
  if (typeof body?.pipe === 'function')
    hash.update(
      JSON.stringify({
        stream: true,
        type: request.headers['content-type'],
        length: request.headers['content-length'],
      }),
    )
  else if (request.rawBody) hash.update(request.rawBody)
  return hash.digest('base64url')
}

function purgeExpired(tx: Tx, now: number): void {
  tx.delete(idempotencyKeys)
    .where(lte(idempotencyKeys.createdAt, now - IDEMPOTENCY_TTL_MS))
    .run()
}
