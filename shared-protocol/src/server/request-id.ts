import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'

/** The header that carries a request's id: in and out of each server, and from the relay to a node's webhook. */
export const REQUEST_ID_HEADER = 'x-request-id'

/**
 * What a caller's id may look like to be kept: a short token a log line and a header carry as is.
 * Anything else (spaces, control characters, quotes, a whole paragraph) could forge or break log lines,
 * so it is replaced by one of ours.
 */
const SANE_REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:@+=/-]{0,127}$/

/**
 * The id of a request: the caller's `X-Request-Id` when it is a sane token (a proxy or the relay made
 * it, and it ties their logs to ours), else a fresh random one. Given to Fastify as `genReqId`, so it is
 * `request.id` and every log line of the request carries it as `reqId`.
 */
export function requestIdFor(request: { headers: Record<string, string | string[] | undefined> }): string {
  const given = request.headers[REQUEST_ID_HEADER]
  return typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUUID()
}

/**
 * Answers every request, errors and unknown routes included, with its id in `X-Request-Id`, so a user
 * who reports a problem can quote the id the logs know it by.
 */
export function answerWithRequestId(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id)
  })
}
