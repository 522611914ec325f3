import { IdSchema, LIMITS, SignedReceiptSchema, SubmitRequestSchema } from '@ochat/shared-protocol'
import type { FastifyInstance, preHandlerHookHandler } from 'fastify'
import { z } from 'zod'
import { currentInstance } from '../auth/plugin.ts'
import type { Clock } from '../clock.ts'
import type { Config } from '../config.ts'
import type { Db } from '../db/client.ts'
import { acceptReceipts } from '../delivery/accept-receipts.ts'
import { parseBody, RelayError } from '../errors.ts'
import type { EnvelopeWriter } from './envelope-writer.ts'
import { presentEnvelopeStatus } from './presenter.ts'
import type { RateLimiter } from './rate-limiter.ts'
import { findEnvelopeOfSender } from './repository.ts'
import { submitEnvelopes } from './submit-envelopes.ts'

/** Room for JSON framing around the largest submit (64 MiB of envelopes); other routes take 1 MiB. */
export const SUBMIT_BODY_LIMIT_BYTES = LIMITS.submitBodyBytes + 1024 * 1024

export async function envelopeRoutes(
  app: FastifyInstance,
  deps: {
    db: Db
    clock: Clock
    config: Config
    writer: EnvelopeWriter
    limits: { instance: RateLimiter; connection: RateLimiter }
    signed: preHandlerHookHandler
  },
): Promise<void> {
  /** One result per envelope, after the durable write (PROTOCOL.md §4.4). */
  app.post(
    '/v1/envelopes',
    { preHandler: deps.signed, bodyLimit: SUBMIT_BODY_LIMIT_BYTES },
    async (request, reply) => {
      const { envelopes } = parseBody(SubmitRequestSchema, request.body)
      const { results, retryAfterMs } = await submitEnvelopes({
        db: deps.db,
        writer: deps.writer,
        limits: deps.limits,
        sender: currentInstance(request).id,
        envelopes,
        nowMs: deps.clock.now(),
      })
      if (
        retryAfterMs !== undefined &&
        results.every((result) => !result.ok && result.code === 'E_RATE_LIMITED')
      ) {
        throw new RelayError('E_RATE_LIMITED', `retry in ${Math.ceil(retryAfterMs / 1000)} s`, {
          headers: { 'retry-after': String(Math.ceil(retryAfterMs / 1000)) },
        })
      }
      if (retryAfterMs !== undefined) void reply.header('retry-after', String(Math.ceil(retryAfterMs / 1000)))
      return { results }
    },
  )

  /** The sender's view of one of its envelopes; anyone else's answers 404. */
  app.get('/v1/envelopes/:id', { preHandler: deps.signed }, async (request) => {
    const { id } = parseBody(z.object({ id: z.string() }), request.params)
    if (!IdSchema.safeParse(id).success) throw new RelayError('E_NOT_FOUND')
    const row = await findEnvelopeOfSender(deps.db, { id, sender: currentInstance(request).id })
    if (!row) throw new RelayError('E_NOT_FOUND')
    return { envelope: presentEnvelopeStatus(row) }
  })

  /** Receipts sent on their own, by HTTP (Read, or a late Delivered): PROTOCOL.md §5.1. */
  app.post('/v1/receipts', { preHandler: deps.signed }, async (request) => {
    const { receipts } = parseBody(
      z.strictObject({ receipts: z.array(SignedReceiptSchema).min(1).max(256) }),
      request.body,
    )
    const { outcomes } = await deps.db.transaction((tx) =>
      acceptReceipts({
        tx,
        recipient: currentInstance(request),
        receipts,
        nowMs: deps.clock.now(),
        deadlineMs: deps.config.deliveryDeadlineMs,
      }),
    )
    return { results: outcomes }
  })
}
