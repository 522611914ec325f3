// `pnpm bench ochat`: O'Chat end to end, node A → relay → node B, each in its own process, the relay on a
// throwaway PostgreSQL database. Messages/s and send → Delivered latency at half that load; one 100 MB
// attachment end to end against a raw loopback HTTP copy of the same bytes, with each process's peak memory.
// Every figure is the median of several runs.
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { request } from 'undici'
import WebSocket from 'ws'
import { startRelayProcess } from '../../relay/bench/harness.ts'
import {
  connectProcesses,
  memoryOf,
  type NodeProcess,
  resetPeak,
  settle,
  startNodeProcess,
} from './processes.ts'

const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4)
const ONLY = process.env.BENCH_ONLY

type Event = { type: string; messageId?: number; status?: string; fileId?: number; state?: string }

/** The node's live socket, calling `onEvent` for each event. */
async function live(node: NodeProcess, onEvent: (event: Event) => void): Promise<WebSocket> {
  const socket = new WebSocket(`${node.url.replace('http', 'ws')}/api/v1/live`, {
    headers: { authorization: `Bearer ${node.key}` },
  })
  socket.on('message', (data) => {
    const frame = JSON.parse(String(data))
    if (frame.type === 'event') onEvent(frame.event)
  })
  await new Promise((resolve, reject) => {
    socket.once('open', resolve)
    socket.once('error', reject)
  })
  return socket
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN
const percentile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? Number.NaN

async function main() {
  console.log(
    `ochat: relay on PostgreSQL and two nodes, each its own process; ${SECONDS} s per run, median of ${RUNS}`,
  )
  const relay = await startRelayProcess()
  const acme = await startNodeProcess('Acme')
  const globex = await startNodeProcess('Globex')
  try {
    const { channelAtA } = await connectProcesses(acme, globex, relay.baseUrl)
    // Sent, then Delivered, as the sender's UI hears them.
    const delivered = new Map<number, number>()
    const waiting = new Map<number, () => void>()
    const socket = await live(acme, (event) => {
      if (event.type === 'ochat.message' && event.status === 'delivered' && event.messageId !== undefined) {
        delivered.set(event.messageId, performance.now())
        waiting.get(event.messageId)?.()
      }
    })
    const body = `Order confirmation **${'x'.repeat(900)}**`
    const send = async () => {
      const started = performance.now()
      const message = await acme.call('POST', `/api/v1/ochat/channels/${channelAtA}/messages`, { body })
      return { id: message.id as number, started }
    }
    const deliveredOf = (id: number) =>
      new Promise<void>((resolve) => {
        if (delivered.has(id)) return resolve()
        waiting.set(id, resolve)
      })

    if (!ONLY || ONLY === 'messages') {
      // Most messages/s: 64 senders, each sending again as soon as its previous message is accepted.
      const maxRuns: number[] = []
      for (let run = 0; run <= RUNS; run++) {
        const ids: number[] = []
        const start = performance.now()
        const end = start + SECONDS * 1000
        await Promise.all(
          Array.from({ length: 64 }, async () => {
            while (performance.now() < end) ids.push((await send()).id)
          }),
        )
        await Promise.all(ids.map(deliveredOf))
        const last = Math.max(...ids.map((id) => delivered.get(id) ?? 0))
        if (run > 0) maxRuns.push(ids.length / ((last - start) / 1000)) // run 0 warms up
      }
      const max = median(maxRuns)
      console.log(
        `  messages A → B, send to Delivered at A: ${max.toFixed(0)} msg/s (runs: ${maxRuns.map((v) => v.toFixed(0)).join(', ')})`,
      )
      // Latency at half that load, open loop: one message every 2/max seconds.
      const half = max / 2
      await settle([relay.pid, acme.pid, globex.pid])
      const p50s: number[] = []
      const p99s: number[] = []
      for (let run = 0; run < RUNS; run++) {
        const latencies: number[] = []
        const sends: Promise<void>[] = []
        const start = performance.now()
        for (let i = 0; performance.now() - start < SECONDS * 1000; i++) {
          const due = start + (i * 1000) / half
          const wait = due - performance.now()
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
          sends.push(
            send().then(async ({ id, started }) => {
              await deliveredOf(id)
              latencies.push((delivered.get(id) as number) - started)
            }),
          )
        }
        await Promise.all(sends)
        latencies.sort((a, b) => a - b)
        p50s.push(percentile(latencies, 0.5))
        p99s.push(percentile(latencies, 0.99))
      }
      console.log(
        `  at half load (${half.toFixed(0)} msg/s): send → Delivered p50 ${median(p50s).toFixed(1)} ms, p99 ${median(p99s).toFixed(1)} ms (target p99 ≤ 100 ms)`,
      )
    }
    socket.close()

    if (!ONLY || ONLY === 'attachment') {
      await settle([relay.pid, acme.pid, globex.pid])
      await attachment({ relayPid: relay.pid, acme, globex, channelAtA })
    }
  } finally {
    await acme.stop()
    await globex.stop()
    await relay.stop()
  }
}

/** One 100 MB file end to end, against a raw loopback HTTP copy (PUT then GET, to disk) of the same bytes. */
async function attachment(input: {
  relayPid: number
  acme: NodeProcess
  globex: NodeProcess
  channelAtA: number
}) {
  const { acme, globex, channelAtA } = input
  const dir = mkdtempSync(join(tmpdir(), 'ochat-bench-file-'))
  const SIZE = 100 * 1000 * 1000
  const source = join(dir, 'source.bin')
  const chunk = randomBytes(1024 * 1024)
  const out = createWriteStream(source)
  for (let written = 0; written < SIZE; written += chunk.length)
    out.write(written + chunk.length <= SIZE ? chunk : chunk.subarray(0, SIZE - written))
  await new Promise((resolve) => out.end(resolve))
  const digest = createHash('sha256')
  await pipeline(createReadStream(source), digest)
  const sourceHash = digest.digest('hex')

  // Baseline: the same bytes up and down over loopback HTTP, each landing in a file.
  const server = createServer((req, res) => {
    const path = join(dir, 'copy.bin')
    if (req.method === 'PUT')
      pipeline(req, createWriteStream(path)).then(
        () => res.end('ok'),
        () => res.destroy(),
      )
    else pipeline(createReadStream(path), res).catch(() => undefined)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
  const raws: number[] = []
  const rawCopy = async () => {
    const started = performance.now()
    await (
      await request(`${base}/f`, {
        method: 'PUT',
        body: createReadStream(source),
        headers: { 'content-length': String(SIZE) },
      })
    ).body.text()
    const back = await request(`${base}/f`)
    await pipeline(back.body, createWriteStream(join(dir, 'back.bin')))
    raws.push(SIZE / 1e6 / ((performance.now() - started) / 1000))
  }

  // When each file's transfer started and ended at each side, as their UIs hear it.
  const readyAt = new Map<number, number>()
  const phases = { uploadStart: 0, uploadEnd: 0, downloadStart: 0 }
  const socket = await live(globex, (event) => {
    if (event.type !== 'ochat.file' || event.messageId === undefined) return
    if (event.state === 'ready') readyAt.set(event.messageId, performance.now())
    else if (event.state === 'pending' && !phases.downloadStart) phases.downloadStart = performance.now()
  })
  const senderSocket = await live(acme, (event) => {
    if (event.type !== 'ochat.file') return
    if (event.state === 'pending' && !phases.uploadStart) phases.uploadStart = performance.now()
    if (event.state === 'ready') phases.uploadEnd = performance.now()
  })
  const breakdown = {
    start: [] as number[],
    upload: [] as number[],
    handOver: [] as number[],
    download: [] as number[],
  }
  const figures: number[] = []
  const growth = { relay: [] as number[], acme: [] as number[], globex: [] as number[] }
  const pids = { relay: input.relayPid, acme: acme.pid, globex: globex.pid }
  for (let run = 0; run < RUNS; run++) {
    // The baseline and O'Chat take turns, so a slower or faster moment of the machine weighs on both.
    await rawCopy()
    const uploaded = await acme.call(
      'POST',
      `/api/v1/attachments?fileName=run-${run}.bin`,
      createReadStream(source),
      {
        'content-type': 'application/octet-stream',
        'content-length': String(SIZE),
      },
    )
    const before: Record<string, number> = {}
    for (const [name, pid] of Object.entries(pids)) {
      resetPeak(pid)
      before[name] = memoryOf(pid).rss
    }
    Object.assign(phases, { uploadStart: 0, uploadEnd: 0, downloadStart: 0 })
    const started = performance.now()
    await acme.call('POST', `/api/v1/ochat/channels/${channelAtA}/messages`, {
      body: `file ${run}`,
      attachmentIds: [uploaded.id],
    })
    const incoming = await waitForIncoming(globex, run)
    while (!readyAt.has(incoming)) {
      if (performance.now() - started > 300_000) throw new Error('the file never arrived')
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    const seconds = ((readyAt.get(incoming) as number) - started) / 1000
    figures.push(SIZE / 1e6 / seconds)
    breakdown.start.push(phases.uploadStart - started)
    breakdown.upload.push(phases.uploadEnd - phases.uploadStart)
    breakdown.handOver.push(phases.downloadStart - phases.uploadEnd)
    breakdown.download.push((readyAt.get(incoming) as number) - phases.downloadStart)
    for (const [name, pid] of Object.entries(pids))
      growth[name as keyof typeof growth].push(memoryOf(pid).peak - (before[name] ?? 0))
    const stored = await globex.call(
      'GET',
      `/api/v1/ochat/channels/${(await globex.call('GET', '/api/v1/ochat/channels')).items[0].id}/messages?limit=5`,
    )
    const file = stored.items.find((item: { id: number }) => item.id === incoming)?.files[0]
    if (!file?.attachmentId) throw new Error('the stored file is missing')
    const hash = createHash('sha256')
    await pipeline(
      (
        await request(`${globex.url}/api/v1/attachments/${file.attachmentId}/content`, {
          headers: { authorization: `Bearer ${globex.key}` },
        })
      ).body,
      hash,
    )
    if (hash.digest('hex') !== sourceHash) throw new Error('the file arrived different from what was sent')
  }
  socket.close()
  senderSocket.close()
  server.close()
  const raw = median(raws)
  const ochat = median(figures)
  console.log(`  100 MB attachment, raw loopback HTTP copy (PUT + GET to disk): ${raw.toFixed(0)} MB/s`)
  console.log(
    `  100 MB attachment end to end (encrypt, upload, download, decrypt, store): ${ochat.toFixed(0)} MB/s → ${((ochat / raw) * 100).toFixed(0)}% of the raw copy (target ≥ 50%)`,
  )
  const ms = (values: number[]) => `${median(values).toFixed(0)} ms`
  console.log(
    `    of which: send → upload starts ${ms(breakdown.start)}, encrypt + upload ${ms(breakdown.upload)}, message to the recipient ${ms(breakdown.handOver)}, download + decrypt + store ${ms(breakdown.download)}`,
  )
  const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0)
  console.log(
    `  peak RSS growth during the transfer: relay ${mb(median(growth.relay))} MB, Acme ${mb(median(growth.acme))} MB, Globex ${mb(median(growth.globex))} MB (target ≤ 64 MB each)`,
  )
  rmSync(dir, { recursive: true, force: true })
}

/** The id of the recipient's message for run `run`, once it has arrived. */
async function waitForIncoming(node: NodeProcess, run: number): Promise<number> {
  for (;;) {
    const channels = await node.call('GET', '/api/v1/ochat/channels')
    const channelId = channels.items[0]?.id
    if (channelId) {
      const page = await node.call('GET', `/api/v1/ochat/channels/${channelId}/messages?limit=5`)
      const found = page.items.find(
        (item: { html: string; direction: string }) =>
          item.direction === 'in' && item.html.includes(`file ${run}`),
      )
      if (found) return found.id
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

await main()
