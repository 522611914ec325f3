import type { Clock } from '@ochat/shared-protocol/server'
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { Tx } from '../db/client.ts'
import {
  readAutomationQueue,
  readIncomingRefused,
  readMailFailed,
  readMailQueue,
  readOchatOutbox,
  readWebhookFailures,
  readWebhooksPending,
} from './readings.ts'

const HOUR_MS = 3_600_000

/**
 * The node's Prometheus metrics (docs/metrics.md lists them). Queue figures are read from SQLite when
 * scraped, so they are never stale and cost nothing between scrapes; requests are counted as they end.
 */
export function createNodeMetrics(props: { db: Tx; clock: Clock }) {
  const { db, clock } = props
  const registry = new Registry()
  // CPU, memory, event loop lag, handles: the process's own health.
  collectDefaultMetrics({ register: registry })
  const ageSeconds = (at: number) => Math.max(0, (clock.now() - at) / 1000)

  const requestSeconds = new Histogram({
    name: 'ochat_node_http_request_duration_seconds',
    help: 'HTTP request latency, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  })
  new Gauge({
    name: 'ochat_node_mail_queued',
    help: 'Emails waiting to be sent (new, or retried after a temporary refusal)',
    registers: [registry],
    collect() {
      this.set(readMailQueue(db).queued)
    },
  })
  new Gauge({
    name: 'ochat_node_mail_oldest_queued_age_seconds',
    help: 'How long the oldest queued email has been waiting; 0 when none is',
    registers: [registry],
    collect() {
      const oldest = readMailQueue(db).oldestQueuedAt
      this.set(oldest === null ? 0 : ageSeconds(oldest))
    },
  })
  new Gauge({
    name: 'ochat_node_mail_failed',
    help: 'Record emails that failed for good or bounced, by status (failed, bounced)',
    labelNames: ['status'] as const,
    registers: [registry],
    collect() {
      // Both statuses always appear, at 0 when there are none, so an increase from nothing shows.
      const counts = new Map(readMailFailed(db).map((row) => [row.status, row.emails]))
      for (const status of ['failed', 'bounced']) this.set({ status }, counts.get(status) ?? 0)
    },
  })
  new Gauge({
    name: 'ochat_node_webhook_messages_pending',
    help: 'Outbound webhook messages waiting for their next attempt',
    registers: [registry],
    collect() {
      this.set(readWebhooksPending(db))
    },
  })
  new Gauge({
    name: 'ochat_node_webhook_attempts_failed_last_hour',
    help: 'Outbound webhook calls that failed (no answer, or not a 2xx) in the last hour',
    registers: [registry],
    collect() {
      this.set(readWebhookFailures(db, clock.now() - HOUR_MS).attempts)
    },
  })
  new Gauge({
    name: 'ochat_node_webhook_messages_failed_last_hour',
    help: 'Outbound webhook messages that used their last attempt in the last hour: Failed, not retried',
    registers: [registry],
    collect() {
      this.set(readWebhookFailures(db, clock.now() - HOUR_MS).messages)
    },
  })
  new Gauge({
    name: 'ochat_node_automation_queue_depth',
    help: "Rule events (a message received, an O'Chat message failed) waiting for the rules to run",
    registers: [registry],
    collect() {
      this.set(readAutomationQueue(db))
    },
  })
  new Gauge({
    name: 'ochat_node_ochat_outbox_depth',
    help: "O'Chat messages the relay has not stored yet, by connection",
    labelNames: ['connection'] as const,
    registers: [registry],
    collect() {
      this.reset()
      for (const row of readOchatOutbox(db)) this.set({ connection: row.connection }, row.pending)
    },
  })
  new Gauge({
    name: 'ochat_node_ochat_outbox_oldest_age_seconds',
    help: "How long the oldest O'Chat message not yet stored by the relay has waited, by connection",
    labelNames: ['connection'] as const,
    registers: [registry],
    collect() {
      this.reset()
      for (const row of readOchatOutbox(db))
        this.set({ connection: row.connection }, ageSeconds(row.oldestCreatedAt))
    },
  })
  new Gauge({
    name: 'ochat_node_incoming_mail_refused_last_hour',
    help: 'Incoming emails refused (sender policy, unknown address) in the last hour',
    registers: [registry],
    collect() {
      this.set(readIncomingRefused(db, clock.now() - HOUR_MS))
    },
  })
  return { registry, requestSeconds }
}

export type NodeMetrics = ReturnType<typeof createNodeMetrics>
