import {
  LIMITS,
  verifyWebhook,
  WEBHOOK_HEADERS,
  WebhookBodySchema,
  WebhookResponseSchema,
  withinClockWindow,
  zodDetails,
} from '@ochat/shared-protocol'
import { type Clock, rawBody, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import type { Db } from '../../db/client.ts'
import { NodeError } from '../../errors.ts'
import type { Ochat } from '../runtime.ts'
import { sqliteNonces } from './webhook-nonces.ts'

/**
 * LIMITS.webhookItems envelopes of LIMITS.envelopeCiphertextBytes, in base64url, with room for their
 * JSON: 24 MiB.
 */
const WEBHOOK_BODY_LIMIT_BYTES = 24 * 1024 * 1024

/**
 * What can be refused before the body is read: up to 24 MiB are buffered to check a signature, so an
 * anonymous POST without one, with a stale timestamp, or to a node with no relay never gets that far.
 * The signature itself is checked once the bytes are in (verifyWebhook).
 */
function refuseEarly(
  headers: Record<string, string | string[] | undefined>,
  nowMs: number,
): string | undefined {
  const id = headers[WEBHOOK_HEADERS.id]
  const timestamp = headers[WEBHOOK_HEADERS.timestamp]
  const signature = headers[WEBHOOK_HEADERS.signature]
  if (typeof id !== 'string' || typeof timestamp !== 'string' || typeof signature !== 'string')
    return 'webhook-id, webhook-timestamp and webhook-signature are required'
  if (!/^(0|[1-9][0-9]{0,11})$/.test(timestamp)) return 'webhook headers are malformed'
  if (!withinClockWindow(Number(timestamp), nowMs))
    return `webhook timestamp is more than ${LIMITS.clockSkewSeconds} s from our clock; check the clocks (NTP)`
  return undefined
}

/**
 * POST /ochat/webhook: the relay delivers here when this node's WebSocket is down (PROTOCOL.md §7).
 * Public, but every POST must carry a Standard Webhooks v1a signature by a relay key this node pinned,
 * within ±300 s, never seen before; only then are its items stored, exactly as from the socket, and
 * answered with Delivered receipts.
 */
export async function webhookRoutes(app: FastifyInstance, opts: { db: Db; ochat: Ochat; clock: Clock }) {
  const nonces = sqliteNonces(opts.db)
  await app.register(async (scope) => {
    // The signature covers the exact bytes: keep them, parse after verifying.
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT_BYTES },
      (_request, body, done) => done(null, body),
    )
    // This scope holds the webhook alone: its hook is the route's.
    scope.addHook('onRequest', async (request) => {
      if (opts.ochat.state.kind !== 'ready') throw new NodeError('E_NOT_FOUND')
      const refused = refuseEarly(request.headers, opts.clock.now())
      if (refused) throw new NodeError('E_WEBHOOK_REFUSED', refused)
    })
    scope.withTypeProvider<ZodTypeProvider>().post(
      '/ochat/webhook',
      {
        config: { access: 'public' },
        bodyLimit: WEBHOOK_BODY_LIMIT_BYTES,
        schema: {
          summary:
            'Deliveries from the relay while the WebSocket is down (Standard Webhooks v1a, signed by a pinned relay key)',
          // Read as bytes: the signature covers them, so they are parsed only once it is checked.
          body: rawBody(
            'application/json',
            `A WebhookBody (PROTOCOL.md §7): up to ${LIMITS.webhookItems} delivery items`,
          ),
          response: {
            200: WebhookResponseSchema.meta({
              description: 'WebhookResponse: one result per item and Delivered receipts (PROTOCOL.md §7)',
            }),
          },
        },
      },
      async (request) => {
        const state = opts.ochat.state
        // Not registered: there is no webhook here to speak of.
        if (state.kind !== 'ready') throw new NodeError('E_NOT_FOUND')
        const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
        const verified = await verifyWebhook({
          headers: request.headers,
          body: raw,
          publicKeys: state.instance.relayKeySet.keys.map((key) => key.publicKey),
          nonces,
          nowMs: opts.clock.now(),
        })
        if (!verified.ok) throw new NodeError('E_WEBHOOK_REFUSED', verified.reason)
        let json: unknown
        try {
          json = JSON.parse(raw.toString('utf8'))
        } catch {
          throw new NodeError('E_INVALID_BODY', 'the body is not valid JSON')
        }
        const body = WebhookBodySchema.safeParse(json)
        if (!body.success)
          throw new NodeError('E_INVALID_BODY', 'not a webhook body (PROTOCOL.md §7)', {
            details: zodDetails(body.error),
          })
        // Its reqId is the relay's X-Request-Id: the submit that produced these items, in the relay's logs.
        request.log.info({ items: body.data.items.length }, 'relay webhook received')
        const { results, receipts } = await opts.ochat.receive(body.data.items)
        return { v: 1 as const, results, receipts }
      },
    )
  })
}
