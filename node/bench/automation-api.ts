// What the automation figures share: the settings every figure reads, the bench's view of the node,
// and one call to its REST API.
import { readFileSync } from 'node:fs'
import type Sqlite from 'better-sqlite3'
import type { Pool } from 'undici'

export const RUNS = Number(process.env.BENCH_AUTOMATION_RUNS ?? 3)
/** API clients writing at once. */
export const WRITERS = 8

export type Context = {
  baseUrl: string
  api: Pool
  secret: string
  /** The node's database, opened read-only: the bench's view of its queue. */
  sqlite: Sqlite.Database
  receivers: number[]
  /** The node's process, whose CPU time the figures read. */
  pid: number
}

export async function call(
  context: Context,
  method: 'POST' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<unknown> {
  const answer = await context.api.request({
    method,
    path,
    headers: {
      authorization: `Bearer ${context.secret}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await answer.body.text()
  if (answer.statusCode >= 300) throw new Error(`${method} ${path} answered ${answer.statusCode}: ${text}`)
  return text === '' ? null : JSON.parse(text)
}

/** User and system CPU time the process has used so far, in seconds (Linux counts it in 1/100 s). */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) / 100
}
