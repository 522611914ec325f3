import { sql } from 'drizzle-orm'
import type { CommandIo } from './cli.ts'
import { rows } from './db/client.ts'

/** How many instances `stats --instances` lists unless `--top` says otherwise. */
const DEFAULT_TOP = 20

type Usage = {
  id: string
  name: string
  status: string
  queued: string | number
  queuedBytes: string | number
  sentWaiting: string | number
  blobs: string | number
  blobBytes: string | number
}

/**
 * `stats [--instances [--top N]]`: the relay as a whole (instances, sockets, the queue, envelopes by
 * status, disk), and with --instances what each instance holds on it, the largest first: what waits to
 * be delivered to it, what it sent that is still waiting, and the attachments it uploaded. Sizes are of
 * ciphertext; nothing here reads or shows a message.
 */
export async function statsCommand(args: string[], io: CommandIo): Promise<number> {
  const wanted = parseStatsArgs(args)
  if (typeof wanted === 'string') {
    io.err.write(`${wanted}; usage: ochat-relay stats [--instances [--top N]]\n`)
    return 2
  }
  await printTotals(io)
  if (wanted.instances) await printInstances(io, wanted.top)
  return 0
}

/** The options, or what is wrong with them. */
function parseStatsArgs(args: string[]): { instances: boolean; top: number } | string {
  let instances = false
  let top = DEFAULT_TOP
  for (let at = 0; at < args.length; at++) {
    const arg = args[at]
    if (arg === '--instances') instances = true
    else if (arg === '--top') {
      const value = Number(args[++at])
      if (!Number.isInteger(value) || value < 1) return '--top takes a whole number of at least 1'
      top = value
    } else return `unknown option "${arg}"`
  }
  if (top !== DEFAULT_TOP && !instances) return '--top goes with --instances'
  return { instances, top }
}

async function printTotals(io: CommandIo) {
  const [queue] = await rows<{ items: string; oldest: string | null }>(
    io.db,
    sql`select count(*) as items, min(created_at) as oldest from queue`,
  )
  const statuses = await rows<{ status: string; n: string | number }>(
    io.db,
    sql`select status, count(*) as n from envelopes group by status order by status`,
  )
  const [instances] = await rows<{ n: string }>(io.db, sql`select count(*) as n from instances`)
  const [sockets] = await rows<{ n: string }>(
    io.db,
    sql`select count(*) as n from leases where expires_at > ${io.nowMs}`,
  )
  const [storage] = await rows<{ database: string | number; queue: string | number }>(
    io.db,
    sql`select pg_database_size(current_database()) as database, pg_total_relation_size('queue') as queue`,
  )
  const oldest = queue?.oldest ? `${Math.round((io.nowMs - Number(queue.oldest)) / 1000)} s` : '-'
  io.out.write(
    `instances        ${instances?.n ?? 0}\nconnected        ${sockets?.n ?? 0}\nqueued items     ${queue?.items ?? 0} (oldest ${oldest})\n` +
      `database         ${megabytes(storage?.database)} (queue ${megabytes(storage?.queue)})\n`,
  )
  for (const row of statuses) io.out.write(`envelopes ${row.status.padEnd(7)}${String(row.n).padStart(8)}\n`)
}

/**
 * One line per instance, the most held first. Each figure is a grouped scan of its table, which an
 * operator runs now and then; the relay itself never asks it.
 */
async function printInstances(io: CommandIo, top: number) {
  const found = await rows<Usage>(
    io.db,
    sql`select i.id, i.name, i.status,
          coalesce(q.items, 0) as "queued", coalesce(q.bytes, 0) as "queuedBytes",
          coalesce(s.items, 0) as "sentWaiting",
          coalesce(b.items, 0) as "blobs", coalesce(b.bytes, 0) as "blobBytes"
        from instances i
        left join (select destination, count(*) as items, sum(octet_length(body)) as bytes
                   from queue group by destination) q on q.destination = i.id
        left join (select sender, count(*) as items from envelopes
                   where status = 'queued' group by sender) s on s.sender = i.id
        left join (select uploader, count(*) as items, sum(size) as bytes
                   from blobs group by uploader) b on b.uploader = i.id
        order by coalesce(q.bytes, 0) + coalesce(b.bytes, 0) desc, coalesce(s.items, 0) desc, i.id
        limit ${top}`,
  )
  io.out.write(
    `\n${'instance'.padEnd(30)} ${'queued to it'.padStart(20)} ${'sent, waiting'.padStart(13)} ${'attachments'.padStart(20)}  name\n`,
  )
  for (const row of found) {
    const suspended = row.status === 'active' ? '' : ` (${row.status})`
    io.out.write(
      `${row.id.padEnd(30)} ${`${row.queued} · ${megabytes(row.queuedBytes)}`.padStart(20)} ${String(row.sentWaiting).padStart(13)} ${`${row.blobs} · ${megabytes(row.blobBytes)}`.padStart(20)}  ${row.name}${suspended}\n`,
    )
  }
}

function megabytes(bytes: string | number | undefined): string {
  return `${(Number(bytes ?? 0) / 1e6).toFixed(1)} MB`
}
