// What a backlog costs on disk: envelopes queued for a partner that stays offline, on a relay of their own
// (a fresh throwaway database), so nothing else the bench did shares their tables or their free space.
import { newId } from '@ochat/shared-protocol'
import postgres from 'postgres'
import { benchNode, client, seal, startRelayProcess } from './harness.ts'

/** The tables that hold a queued envelope: its delivery item (with the ciphertext) and its metadata. */
const TABLES = ['queue', 'envelopes']
/** Envelopes per signed submit, and submits in flight. */
const BATCH = 500
const CONCURRENCY = 4
/** Distinct sealed envelopes; every submit splices fresh ids into them (sealing is not what is measured). */
const POOL = 500

export type StorageFigure = {
  /** Envelopes queued. */
  count: number
  /** Mean length of the envelope JSON text as submitted, in bytes. */
  envelopeBytes: number
  /** pg_total_relation_size of TABLES (heap, TOAST, indexes, maps) per queued envelope, in bytes. */
  bytesPerEnvelope: number
  /** The same, table by table, in bytes per envelope. */
  byTable: Record<string, number>
}

/** Queues `count` envelopes of a 1 KiB message for a registered, connected node that never connects. */
export async function queuedStorage(count: number): Promise<StorageFigure> {
  const relay = await startRelayProcess()
  const http = client(relay.baseUrl, relay.relayId)
  const database = postgres(relay.databaseUrl, { max: 1, onnotice: () => {} })
  try {
    const sender = benchNode('Sender')
    const offline = benchNode('Offline')
    await http.register(sender)
    await http.register(offline)
    await http.connect(sender, offline)
    const texts = Array.from({ length: POOL }, () => {
      const envelope = seal(sender, offline)
      const [before = '', after = ''] = JSON.stringify(envelope).split(envelope.header.id)
      return (id: string) => `${before}${id}${after}`
    })
    let envelopeBytes = 0
    let submitted = 0
    const submitLoop = async () => {
      while (submitted < count) {
        const size = Math.min(BATCH, count - submitted)
        const first = submitted
        submitted += size
        const batch = Array.from(
          { length: size },
          (_, index) => texts[(first + index) % POOL]?.(newId()) ?? '',
        )
        for (const text of batch) envelopeBytes += Buffer.byteLength(text)
        await http.call(sender, 'POST', '/v1/envelopes', `{"envelopes":[${batch.join(',')}]}`)
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, submitLoop))
    const [queued] = await database<{ items: string }[]>`
      select count(*) as items from queue where destination = ${offline.instanceId} and kind = 'envelope'`
    if (Number(queued?.items) !== count) throw new Error(`queued ${queued?.items} envelopes, not ${count}`)
    const sizes = await database<{ name: string; bytes: string }[]>`
      select relname as name, pg_total_relation_size(oid) as bytes from pg_class
      where relname = any(${TABLES}) and relkind = 'r' and relnamespace = 'public'::regnamespace`
    const byTable = Object.fromEntries(sizes.map((row) => [row.name, Number(row.bytes) / count]))
    return {
      count,
      envelopeBytes: envelopeBytes / count,
      bytesPerEnvelope: Object.values(byTable).reduce((sum, bytes) => sum + bytes, 0),
      byTable,
    }
  } finally {
    await database.end()
    await http.close()
    await relay.stop()
  }
}
