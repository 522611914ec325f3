import {
  EnvelopeStatusResponseSchema,
  LIMITS,
  ReceiptsRequestSchema,
  ReceiptsResponseSchema,
  SubmitRequestSchema,
  SubmitResponseSchema,
} from '@ochat/shared-protocol'
import type { Clock } from '@ochat/shared-protocol/server'
import { refusal, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance, preValidationHookHandler } from 'fastify'
import { currentInstance } from '../auth/plugin.ts'
import type { Db } from '../db/client.ts'
import { acceptReceipts } from '../delivery/accept-receipts.ts'
import type { SubmitRequestIds } from '../delivery/submit-request-ids.ts'
import { RelayError } from '../errors.ts'
import { IdParams, wellFormedId } from '../ids.ts'
import { authorize, maySeeEnvelope } from '../policies.ts'
import type { DeliverySettings } from '../settings.ts'
import type { EnvelopeWriter } from './envelope-writer.ts'
import { presentEnvelopeStatus } from './presenter.ts'
import type { RateLimiter } from './rate-limiter.ts'
import { findEnvelopes } from './repository.ts'
import { submitEnvelopes } from './submit-envelopes.ts'

/** Room for JSON framing around the largest submit (64 MiB of envelopes); other routes take 1 MiB. */
export const SUBMIT_BODY_LIMIT_BYTES = LIMITS.submitBodyBytes + 1024 * 1024

export async function envelopeRoutes(
  app: FastifyInstance,
  deps: {
    db: Db
    clock: Clock
    config: Pick<DeliverySettings, 'deliveryDeadlineMs'>
    writer: EnvelopeWriter
    limits: { instance: RateLimiter; connection: RateLimiter }
    signed: preValidationHookHandler
    /** Which request submitted each envelope, for the webhook that delivers it. */
    submits: SubmitRequestIds
  },
): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>()

  /** One result per envelope, after the durable write (PROTOCOL.md §4.4). */
  routes.post(
    '/v1/envelopes',
    {
      preValidation: deps.signed,
      bodyLimit: SUBMIT_BODY_LIMIT_BYTES,
      schema: {
        summary:
          'Submit one envelope or a bulk send of up to 1,000; one result each, after the durable write',
        body: SubmitRequestSchema,
        response: {
          200: SubmitResponseSchema,
          429: refusal('Every envelope met an empty token bucket (E_RATE_LIMITED); retry after Retry-After'),
        },
      },
    },
    async (request, reply) => {
      deps.submits.remember(
        request.body.envelopes.map((envelope) => envelope.header.id),
        request.id,
      )
      const { results, retryAfterMs } = await submitEnvelopes({
        db: deps.db,
        writer: deps.writer,
        limits: deps.limits,
        sender: currentInstance(request).id,
        envelopes: request.body.envelopes,
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
  routes.get(
    '/v1/envelopes/:id',
    {
      preValidation: deps.signed,
      schema: {
        summary: "The sender's view of one of its envelopes (metadata only)",
        params: IdParams,
        response: { 200: EnvelopeStatusResponseSchema },
      },
    },
    async (request) => {
      const id = wellFormedId(request.params.id)
      const [row] = await findEnvelopes(deps.db, [id])
      authorize(row && maySeeEnvelope(row, currentInstance(request).id))
      return { envelope: presentEnvelopeStatus(row) }
    },
  )

  /** Receipts sent on their own, by HTTP (Read, or a late Delivered): PROTOCOL.md §5.1. */
  routes.post(
    '/v1/receipts',
    {
      preValidation: deps.signed,
      schema: {
        summary: 'Delivered or Read receipts, signed by the recipient; one result each',
        body: ReceiptsRequestSchema,
        response: { 200: ReceiptsResponseSchema },
      },
    },
    async (request) => {
      const { outcomes } = await deps.db.transaction((tx) =>
        acceptReceipts({
          tx,
          recipient: currentInstance(request),
          receipts: request.body.receipts,
          nowMs: deps.clock.now(),
          deadlineMs: deps.config.deliveryDeadlineMs,
        }),
      )
      return { results: outcomes }
    },
  )
}
