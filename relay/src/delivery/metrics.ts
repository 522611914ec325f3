import type { Clock } from '@ochat/shared-protocol/server'
import { sql } from 'drizzle-orm'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { type Db, rows } from '../db/client.ts'

/**
 * Prometheus metrics for operators: queue depth and oldest undelivered age per destination,
 * deliveries by outcome, breaker states, request latency. The queue figures are read from PostgreSQL
 * at scrape time, so every replica reports the same, whole picture.
 */
export function createMetrics(props: {
  db: Db
  clock: Clock /** sockets this replica holds */
  sockets: () => number
}) {
  const registry = new Registry()
  const deliveries = new Counter({
    name: 'ochat_relay_deliveries_total',
    help: 'Items handed to nodes, by path (ws, webhook) and outcome (delivered, retry, gone, permanent)',
    labelNames: ['path', 'outcome'] as const,
    registers: [registry],
  })
  const accepted = new Counter({
    name: 'ochat_relay_envelopes_accepted_total',
    help: 'Envelopes stored durably',
    registers: [registry],
  })
  const vacuums = new Counter({
    name: 'ochat_relay_table_vacuums_total',
    help: 'VACUUM runs by this replica, by table (only when the relay vacuums its own tables)',
    labelNames: ['table'] as const,
    registers: [registry],
  })
  const requestSeconds = new Histogram({
    name: 'ochat_relay_http_request_duration_seconds',
    help: 'HTTP request latency, by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  })
  new Gauge({
    name: 'ochat_relay_sockets',
    help: 'Node WebSockets held by this replica',
    registers: [registry],
    collect() {
      this.set(props.sockets())
    },
  })

  new Gauge({
    name: 'ochat_relay_queue_depth',
    help: 'Items waiting for delivery, by destination instance',
    labelNames: ['destination'] as const,
    registers: [registry],
    async collect() {
      this.reset()
      const depth = await rows<{ destination: string; items: string | number }>(
        props.db,
        sql`select destination, count(*) as items from queue group by destination`,
      )
      for (const row of depth) this.set({ destination: row.destination }, Number(row.items))
    },
  })
  new Gauge({
    name: 'ochat_relay_queue_oldest_age_seconds',
    help: 'Age of the oldest undelivered item, by destination instance',
    labelNames: ['destination'] as const,
    registers: [registry],
    async collect() {
      this.reset()
      const nowMs = props.clock.now()
      const oldest = await rows<{ destination: string; oldest: string | number }>(
        props.db,
        sql`select destination, min(created_at) as oldest from queue group by destination`,
      )
      for (const row of oldest)
        this.set({ destination: row.destination }, (nowMs - Number(row.oldest)) / 1000)
    },
  })
  new Gauge({
    name: 'ochat_relay_breaker_open',
    help: '1 while deliveries to a destination wait out a failure, by destination instance',
    labelNames: ['destination'] as const,
    registers: [registry],
    async collect() {
      this.reset()
      const open = await rows<{
        instance_id: string
        open_until: string | number | null
        consecutive_failures: number
      }>(
        props.db,
        sql`select instance_id, open_until, consecutive_failures from destinations where consecutive_failures > 0`,
      )
      for (const row of open)
        this.set({ destination: row.instance_id }, Number(row.open_until ?? 0) > props.clock.now() ? 1 : 0)
    },
  })
  return { registry, deliveries, accepted, vacuums, requestSeconds }
}

export type DeliveryMetrics = ReturnType<typeof createMetrics>
