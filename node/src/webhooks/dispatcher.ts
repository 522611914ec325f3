import type { Clock } from '@ochat/shared-protocol/server'
import { eq } from 'drizzle-orm'
import type { FastifyBaseLogger } from 'fastify'
import { type Agent, request } from 'undici'
import type { Database } from '../db/client.ts'
import { users, webhookEndpoints } from '../db/schema.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import type { LiveEvent } from '../live/events.ts'
import { type AddressGuard, guardedAgent } from './address-guard.ts'
import {
  type AttemptOutcome,
  claimMessages,
  type DueMessage,
  dueMessages,
  type EndpointRow,
  nextDueAt,
  recordAttempt,
  releaseClaims,
} from './queue.ts'
import { webhookHeaders } from './signing.ts'

/** Each call's whole time, from connecting to the end of the answer's start. */
export const WEBHOOK_TIMEOUT_MS = 15_000
/** Of an endpoint's answer, this much is kept for the administrator. */
const RESPONSE_KEPT = 1024
/** Administrators' pages hear of an endpoint's deliveries at most this often. */
const TELL_EVERY_MS = 250
/** Messages read from the queue at a time. */
const BATCH = 100

export type WebhookDispatcherDeps = {
  database: Pick<Database, 'db'>
  writes: WriteQueue
  clock: Clock
  /** Refuses private addresses (after DNS resolution, at connection time) unless allowlisted. */
  guard: AddressGuard
  log: Pick<FastifyBaseLogger, 'warn' | 'error'>
  /** Tells administrators' open pages that deliveries or endpoints changed. */
  publish: (events: LiveEvent[]) => void
  /** Calls time out after this long (WEBHOOK_TIMEOUT_MS; tests shorten it). */
  timeoutMs?: number
}

/**
 * Delivers the queued webhook messages (queue.ts) after the commit that queued them: kicked after
 * every commit that may have, and woken by a timer when the next retry is due. At least once: a
 * message is claimed before its call and recorded after it; a restart gives claimed ones back, and
 * they go again with the same `webhook-id`, which receivers deduplicate on.
 */
export class WebhookDispatcher {
  readonly #deps: WebhookDispatcherDeps
  readonly #agent: Agent
  /** Calls under way, by endpoint: each endpoint has its own concurrency limit. */
  readonly #busy = new Map<number, number>()
  readonly #calls = new Set<Promise<void>>()
  #scheduled = false
  #passing: Promise<void> | null = null
  #timer: NodeJS.Timeout | undefined
  #closed = false
  #started = false
  readonly #changed = new Set<number>()
  #telling: NodeJS.Timeout | undefined
  #closing: Promise<void> | undefined

  constructor(deps: WebhookDispatcherDeps) {
    this.#deps = deps
    this.#agent = guardedAgent(deps.guard, { connectTimeoutMs: deps.timeoutMs ?? WEBHOOK_TIMEOUT_MS })
  }

  /** Messages held by a process that stopped go back to the queue; then whatever is due goes. */
  async start(): Promise<void> {
    await this.#deps.writes.run((tx) => releaseClaims(tx))
    this.#started = true
    this.kick()
  }

  kick(): void {
    // Not before start: a pass then could claim what start is about to give back.
    if (!this.#started || this.#closed || this.#scheduled) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      // One pass at a time: a kick during a pass makes another after it.
      const previous = this.#passing ?? Promise.resolve()
      const pass: Promise<void> = previous
        .then(() => this.#pass())
        .catch((error) => this.#deps.log.error({ err: error }, 'webhooks: a dispatch pass failed'))
        .finally(() => {
          if (this.#passing === pass) this.#passing = null
        })
      this.#passing = pass
    })
  }

  /** Resolves when no pass and no call is under way, and nothing is about to start (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#calls.size > 0 || this.#scheduled || this.#passing) {
      await Promise.allSettled([...this.#calls, this.#passing])
      if (this.#scheduled) await new Promise((resolve) => setImmediate(resolve))
    }
  }

  /** Stops: calls under way finish and are recorded first. A second call waits for the first. */
  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    this.#closed = true
    clearTimeout(this.#timer)
    await this.idle()
    clearTimeout(this.#telling)
    await this.#agent.close()
  }

  async #pass(): Promise<void> {
    if (this.#closed) return
    const { database, writes, clock } = this.#deps
    const now = clock.now()
    const endpoints = database.db
      .select()
      .from(webhookEndpoints)
      .all()
      .filter((endpoint) => endpoint.disabledAt === null)
    // Each endpoint's due messages, as many as it has free slots: a backlog on one holds up no other.
    const taken: { message: DueMessage; endpoint: EndpointRow }[] = []
    for (const endpoint of endpoints) {
      const free = Math.min(endpoint.concurrency - (this.#busy.get(endpoint.id) ?? 0), BATCH)
      if (free <= 0) continue
      for (const message of dueMessages(database.db, { endpointId: endpoint.id, now, limit: free }))
        taken.push({ message, endpoint })
    }
    const ids = taken.map(({ message }) => message.id)
    const claimed = new Set(ids.length === 0 ? [] : await writes.run((tx) => claimMessages(tx, ids)))
    for (const { message, endpoint } of taken) {
      if (!claimed.has(message.id)) continue
      this.#busy.set(endpoint.id, (this.#busy.get(endpoint.id) ?? 0) + 1)
      const call = this.#deliver(message, endpoint)
        .catch((error) => this.#deps.log.error({ err: error }, 'webhooks: a delivery failed unexpectedly'))
        .finally(() => {
          this.#busy.set(endpoint.id, (this.#busy.get(endpoint.id) ?? 1) - 1)
          this.#calls.delete(call)
          this.kick()
        })
      this.#calls.add(call)
    }
    this.#armTimer(endpoints)
  }

  /** Wakes up when the next retry of an endpoint with room is due (a kick comes sooner for new ones). */
  #armTimer(endpoints: EndpointRow[]): void {
    clearTimeout(this.#timer)
    if (this.#closed) return
    const now = this.#deps.clock.now()
    let next: number | null = null
    for (const endpoint of endpoints) {
      // An endpoint at its limit is looked at again when one of its calls ends.
      if ((this.#busy.get(endpoint.id) ?? 0) >= endpoint.concurrency) continue
      const at = nextDueAt(this.#deps.database.db, endpoint.id)
      if (at !== null && (next === null || at < next)) next = at
    }
    if (next === null) return
    const delay = Math.max(0, Math.min(next - now, 2 ** 31 - 1))
    this.#timer = setTimeout(() => this.kick(), delay)
    this.#timer.unref()
  }

  async #deliver(message: DueMessage, endpoint: EndpointRow): Promise<void> {
    const { clock, writes } = this.#deps
    const now = clock.now()
    const secrets = [endpoint.secret]
    if (endpoint.previousSecret && (endpoint.previousSecretUntil ?? 0) > now)
      secrets.push(endpoint.previousSecret)
    const outcome = await this.#call(endpoint.url, message, secrets)
    let recorded: ReturnType<typeof recordAttempt>
    try {
      recorded = await writes.run((tx) => recordAttempt(tx, message, outcome))
    } catch (error) {
      this.#deps.log.error(
        { err: error, messageId: message.id },
        'webhooks: an attempt could not be recorded',
      )
      // Given back to the queue, to go again, rather than held until the next restart.
      await writes.run((tx) => releaseClaims(tx, [message.id])).catch(() => undefined)
      return
    }
    this.#tellAdmins(endpoint.id)
    if (recorded.disabled)
      this.#deps.log.warn(
        // The origin only: a URL's path or query may hold the integrator's token.
        { endpointId: endpoint.id, origin: new URL(endpoint.url).origin, reason: recorded.disabled },
        'webhooks: an endpoint was disabled',
      )
  }

  /** One signed POST; every way it can go wrong becomes an outcome, never an exception. */
  async #call(url: string, message: DueMessage, secrets: string[]): Promise<AttemptOutcome> {
    const { clock } = this.#deps
    const at = clock.now()
    const started = performance.now()
    const timeoutMs = this.#deps.timeoutMs ?? WEBHOOK_TIMEOUT_MS
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'OChat-Webhooks/1',
      ...webhookHeaders({
        id: message.eventId,
        timestamp: Math.floor(at / 1000),
        body: message.payload,
        secrets,
      }),
    }
    const elapsed = () => Math.round(performance.now() - started)
    try {
      const answer = await request(url, {
        method: 'POST',
        headers,
        body: message.payload,
        dispatcher: this.#agent,
        signal: AbortSignal.timeout(timeoutMs),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      })
      const response = await headOf(answer.body)
      const statusCode = answer.statusCode
      const ok = statusCode >= 200 && statusCode < 300
      const location = answer.headers.location
      const error = ok
        ? null
        : statusCode >= 300 && statusCode < 400
          ? `answered ${statusCode}, a redirect${location ? ` to ${location}` : ''}: redirects are not followed`
          : `answered ${statusCode}`
      return {
        at,
        endedAt: clock.now(),
        durationMs: elapsed(),
        statusCode,
        response,
        error,
        gone: statusCode === 410,
      }
    } catch (error) {
      return {
        at,
        endedAt: clock.now(),
        durationMs: elapsed(),
        statusCode: null,
        response: null,
        error: describe(error, timeoutMs),
        gone: false,
      }
    }
  }

  /**
   * Administrators' open pages hear that an endpoint's deliveries changed, at most four times a
   * second per endpoint however many go: a page reloads what it shows on each.
   */
  #tellAdmins(endpointId: number): void {
    this.#changed.add(endpointId)
    if (this.#telling) return
    this.#telling = setTimeout(() => {
      this.#telling = undefined
      const changed = [...this.#changed]
      this.#changed.clear()
      if (this.#closed) return
      const admins = this.#admins()
      this.#deps.publish(
        changed.flatMap((id) =>
          admins.map((userId) => ({
            scope: 'user' as const,
            userId,
            type: 'webhooks.changed' as const,
            endpointId: id,
          })),
        ),
      )
    }, TELL_EVERY_MS)
    this.#telling.unref()
  }

  #admins(): number[] {
    return this.#deps.database.db
      .select({ id: users.id })
      .from(users)
      .where(eq(users.role, 'admin'))
      .all()
      .map((row) => row.id)
  }
}

/** The first RESPONSE_KEPT bytes of an answer, as text; the rest is not read. */
async function headOf(body: AsyncIterable<Buffer> & { destroy(): unknown }): Promise<string | null> {
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of body) {
      chunks.push(chunk)
      size += chunk.length
      if (size >= RESPONSE_KEPT) break
    }
  } catch {
    // An answer cut off after its status line still counts by its status.
  } finally {
    body.destroy()
  }
  if (size === 0) return null
  return Buffer.concat(chunks).subarray(0, RESPONSE_KEPT).toString('utf8')
}

/** What went wrong, as an administrator reads it. */
function describe(error: unknown, timeoutMs: number): string {
  const failure = error as Error & { cause?: Error & { code?: string }; code?: string }
  if (
    failure.name === 'TimeoutError' ||
    failure.name === 'AbortError' ||
    failure.code === 'UND_ERR_HEADERS_TIMEOUT'
  )
    return `no answer within ${timeoutMs / 1000} s`
  const cause = failure.cause ?? failure
  if (cause.code === 'ECONNREFUSED') return 'the connection was refused'
  if (cause.code === 'UND_ERR_SOCKET' || cause.code === 'ECONNRESET')
    return 'the connection was closed before an answer'
  return cause.message || String(error)
}
