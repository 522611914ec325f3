import { randomUUID } from 'node:crypto'
import { LIMITS, newId, signWebhook, WebhookResponseSchema } from '@ochat/shared-protocol'
import { type Clock, REQUEST_ID_HEADER } from '@ochat/shared-protocol/server'
import { sql } from 'drizzle-orm'
import type { FastifyBaseLogger } from 'fastify'
import { request } from 'undici'
import { type Db, rows } from '../db/client.ts'
import { errorCode, loggable } from '../errors.ts'
import type { RelayKeys } from '../info/relay-keys.ts'
import { findInstance, type InstanceRow } from '../instances/repository.ts'
import { checkWebhookUrl, webhookAgent } from '../instances/webhook-url.ts'
import type { WebhookSettings } from '../settings.ts'
import { acknowledge } from './acknowledge.ts'
import { recordFailure, recordSuccess, settleFailedDelivery } from './delivery-failures.ts'
import type { DeliveryMetrics } from './metrics.ts'
import { type ClaimedItem, claimItems } from './queue-repository.ts'
import type { SubmitRequestIds } from './submit-request-ids.ts'
import { classifyResponse, type WebhookOutcome } from './webhook-outcome.ts'

/**
 * Items per POST: as many as the protocol lets one carry, one request for many items, yet few enough
 * for a node to store within the timeout.
 */
const BATCH_ITEMS = LIMITS.webhookItems
/** POSTs in flight from this replica at once, to different destinations. */
const CONCURRENCY = 8
/** Largest answer body read from a node: 1 MiB. */
const MAX_RESPONSE_BYTES = 1024 * 1024

export type WebhookWorkerDeps = {
  db: Db
  clock: Clock
  config: WebhookSettings
  relayKeys: RelayKeys
  metrics: DeliveryMetrics
  log: FastifyBaseLogger
  /** Which request submitted each envelope: its id goes to the node as X-Request-Id. */
  submits: SubmitRequestIds
}

/** Least time between two scans asked for while one was running. */
const RESCAN_MS = 20

/**
 * Delivers by webhook to instances whose socket no replica holds (PROTOCOL.md §7). Each replica runs
 * one; they share the work through the queue's claims (FOR UPDATE SKIP LOCKED + visibility timeout).
 * One POST at a time per destination, whose breaker decides when it may be tried again.
 */
export class WebhookWorker {
  readonly #deps: WebhookWorkerDeps
  readonly #agent: ReturnType<typeof webhookAgent>
  readonly #busy = new Set<string>()
  readonly #inflight = new Set<Promise<void>>()
  #scanning = false
  #scanned: Promise<void> | undefined
  #scanAgain = false
  #stopped = false

  constructor(deps: WebhookWorkerDeps) {
    this.#deps = deps
    this.#agent = webhookAgent(deps.config.allowPrivateWebhooks)
  }

  /** Looks for due work now (on a wake-up, or from the poll backstop). */
  tick(): void {
    if (this.#stopped) return
    if (this.#scanning) {
      this.#scanAgain = true
      return
    }
    this.#scanning = true
    this.#scanned = this.#scan()
      .catch((error: unknown) => this.#deps.log.error({ err: loggable(error) }, 'webhook scan failed'))
      .finally(() => {
        this.#scanning = false
        this.#scanned = undefined
        if (this.#scanAgain) {
          this.#scanAgain = false
          // Wake-ups come with every commit: under load, scan at most every RESCAN_MS, not back to back.
          setTimeout(() => this.tick(), RESCAN_MS).unref()
        }
      })
  }

  /**
   * Resolves once the scan under way and every POST it started have finished: after a tick, what it was
   * going to send has been sent, so a caller can tell that nothing else was due.
   */
  async idle(): Promise<void> {
    while (this.#scanned || this.#inflight.size > 0) {
      await this.#scanned
      await Promise.allSettled([...this.#inflight])
    }
  }

  /** Stops starting work and waits for POSTs in flight (graceful shutdown). */
  async stop(): Promise<void> {
    this.#stopped = true
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight])
    await this.#agent.close()
  }

  async #scan(): Promise<void> {
    const room = CONCURRENCY - this.#busy.size
    if (room <= 0) return
    const nowMs = this.#deps.clock.now()
    const due = await rows<{ destination: string }>(
      this.#deps.db,
      // Driven by instances with a webhook, not by the queue: this runs on every wake-up, and the
      // queue can hold a large backlog for nodes that never connect.
      sql`select i.id as destination from instances i
          left join leases l on l.instance_id = i.id and l.expires_at > ${nowMs}
          left join destinations d on d.instance_id = i.id
          where i.webhook_url is not null and i.status = 'active' and l.instance_id is null
            and (d.open_until is null or d.open_until <= ${nowMs})
            and exists (select 1 from queue q where q.destination = i.id and q.next_attempt_at <= ${nowMs}
                          and (q.claimed_until is null or q.claimed_until < ${nowMs}))
          limit ${room + this.#busy.size}`,
    )
    for (const { destination } of due) {
      if (this.#busy.size >= CONCURRENCY || this.#stopped) break
      if (this.#busy.has(destination)) continue
      this.#busy.add(destination)
      const work = this.#deliverTo(destination)
        .catch((error: unknown) =>
          this.#deps.log.error({ err: loggable(error), destination }, 'webhook delivery failed'),
        )
        .finally(() => {
          this.#busy.delete(destination)
          this.#inflight.delete(work)
          // More may be waiting for this destination, or for others that had no room.
          this.tick()
        })
      this.#inflight.add(work)
    }
  }

  async #deliverTo(destination: string): Promise<void> {
    const { db, clock, config } = this.#deps
    const instance = await findInstance(db, destination)
    if (!instance?.webhookUrl || instance.status !== 'active') return
    const items = await claimItems(db, {
      destination,
      replicaId: config.replicaId,
      limit: BATCH_ITEMS,
      nowMs: clock.now(),
      visibilityMs: config.webhookTimeoutMs + 5_000,
    })
    if (items.length === 0) return
    const started = clock.now()
    // The node logs its receipt under this id. A batch from several submits names the first; the others
    // are in this log line.
    const submits = this.#deps.submits.of(items.map((item) => item.itemId))
    const requestId = submits[0] ?? randomUUID()
    const { outcome, body } = await this.#post(instance, items, requestId)
    this.#deps.metrics.deliveries.inc({ path: 'webhook', outcome: outcome.kind }, items.length)
    this.#deps.log.info(
      {
        destination,
        items: items.length,
        outcome: outcome.kind,
        ms: clock.now() - started,
        requestId,
        ...(submits.length > 1 ? { submits } : {}),
      },
      'webhook delivery',
    )
    if (outcome.kind === 'delivered') {
      await this.#settleDelivered(instance, items, body)
      await recordSuccess(db, { instanceId: destination, nowMs: clock.now() })
      return
    }
    if (outcome.kind === 'permanent') {
      await settleFailedDelivery(db, {
        destination,
        items,
        reason: outcome.reason,
        nowMs: clock.now(),
        deadlineMs: config.deliveryDeadlineMs,
        retryScale: config.retryScale,
      })
      return
    }
    await recordFailure({
      db,
      instance,
      items,
      reason: outcome.reason,
      retryAfterMs: outcome.kind === 'retry' ? outcome.retryAfterMs : undefined,
      gone: outcome.kind === 'gone',
      nowMs: clock.now(),
      deadlineMs: config.deliveryDeadlineMs,
      retryScale: config.retryScale,
    })
  }

  async #post(
    instance: InstanceRow,
    items: ClaimedItem[],
    requestId: string,
  ): Promise<{ outcome: WebhookOutcome; body: string }> {
    const { clock, config, relayKeys } = this.#deps
    const url = instance.webhookUrl ?? ''
    try {
      // Checked again at each delivery: DNS may have changed since registration.
      await checkWebhookUrl(url, config.allowPrivateWebhooks)
    } catch (error) {
      return { outcome: { kind: 'retry', reason: `blocked: ${(error as Error).message}` }, body: '' }
    }
    const payload = `{"v":1,"items":[${items.map((item) => item.body).join(',')}]}`
    const headers = signWebhook({
      id: `msg_${newId(clock.now()).replaceAll('-', '')}`,
      timestamp: Math.floor(clock.now() / 1000),
      body: payload,
      secretKeys: relayKeys.signingKeys,
    })
    try {
      const response = await request(url, {
        method: 'POST',
        headers: {
          ...headers,
          'content-type': 'application/json',
          'user-agent': 'ochat-relay',
          [REQUEST_ID_HEADER]: requestId,
        },
        body: payload,
        headersTimeout: config.webhookTimeoutMs,
        bodyTimeout: config.webhookTimeoutMs,
        signal: AbortSignal.timeout(config.webhookTimeoutMs),
        dispatcher: this.#agent,
      })
      const body = await readLimited(response.body)
      const retryAfter = response.headers['retry-after']
      return {
        outcome: classifyResponse(
          response.statusCode,
          Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
          clock.now(),
        ),
        body,
      }
    } catch (error) {
      const name = (error as Error).name
      const timedOut =
        name === 'TimeoutError' ||
        name === 'AbortError' ||
        (error as { code?: string }).code === 'UND_ERR_HEADERS_TIMEOUT'
      if (!timedOut)
        this.#deps.log.info(
          { destination: instance.id, code: errorCode(error) ?? name },
          'webhook connect failed',
        )
      const reason = timedOut
        ? `error: the recipient's webhook did not answer within ${Math.round(config.webhookTimeoutMs / 1000)} s`
        : // The connection error's code stays in the logs: telling senders would make a port scanner.
          "error: the recipient's webhook cannot be reached"
      return { outcome: { kind: 'retry', reason }, body: '' }
    }
  }

  /** A 2xx: what the node says per item, and its Delivered receipts, settle the items. */
  async #settleDelivered(instance: InstanceRow, items: ClaimedItem[], body: string): Promise<void> {
    let parsed: ReturnType<typeof WebhookResponseSchema.safeParse> | undefined
    try {
      parsed = WebhookResponseSchema.safeParse(JSON.parse(body))
    } catch {
      parsed = undefined
    }
    // A 2xx without a valid answer means the node took the items but sent no receipts yet: envelopes
    // stay claimed until their receipts arrive (or the claim expires and they are offered again).
    const results = parsed?.success
      ? parsed.data.results
      : items.map((item) => ({ ok: true as const, id: item.itemId }))
    const receipts = parsed?.success ? parsed.data.receipts : []
    await acknowledge({
      db: this.#deps.db,
      recipient: instance,
      results,
      receipts,
      inflight: new Map(items.map((item) => [item.itemId, item])),
      nowMs: this.#deps.clock.now(),
      deadlineMs: this.#deps.config.deliveryDeadlineMs,
    })
  }
}

async function readLimited(body: AsyncIterable<Buffer> & { destroy?: () => void }): Promise<string> {
  const parts: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    size += chunk.byteLength
    if (size > MAX_RESPONSE_BYTES) {
      body.destroy?.()
      break
    }
    parts.push(chunk)
  }
  return Buffer.concat(parts).toString('utf8')
}
