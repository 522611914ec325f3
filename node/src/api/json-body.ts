import { jsonNestingExceeds, MAX_JSON_DEPTH } from '@ochat/shared-protocol'
import type { FastifyInstance } from 'fastify'
import { NodeError } from '../errors.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** The JSON body's bytes as received: the Idempotency-Key hash covers them, not the parsed value. */
    rawBody?: Buffer
  }
}

/**
 * The JSON body parser: Fastify's own (which refuses `__proto__` and `constructor.prototype` keys),
 * after a check that the body does not nest deeper than MAX_JSON_DEPTH. Every route receives a value
 * that recursive code can walk without exhausting the stack, and the refusal comes before any handler.
 */
export function installJsonParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error')
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = body as Buffer
    request.rawBody = bytes
    if (jsonNestingExceeds(bytes))
      return done(
        new NodeError('E_INVALID_BODY', `the body nests arrays and objects more than ${MAX_JSON_DEPTH} deep`),
        undefined,
      )
    parse(request, bytes.toString('utf8'), done)
  })
}
