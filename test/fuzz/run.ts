import { ErrorBodySchema } from '@ochat/shared-protocol'
import type { FuzzRequest } from './generate.ts'

/** A server under fuzz: how to send it one request, and the row counts a refused request must not change. */
export type Target = {
  name: string
  send(request: FuzzRequest): Promise<{ status: number; headers: Record<string, unknown>; body: string }>
  counts(): Promise<Record<string, number>> | Record<string, number>
}

export type FuzzReport = {
  sent: number
  /** Requests the HTTP client itself refused to build (a header value it cannot carry): not sent. */
  unsendable: number
  byStatus: Record<number, number>
  serverErrors: number
  seconds: number
  /** What went wrong, one line per problem, the first ones only. */
  problems: string[]
}

/**
 * The seed of this run. The suite's run is the same every time (a failure there is a regression, not
 * luck); `pnpm bench fuzz` draws a new one each time to look further. FUZZ_SEED replays either.
 */
export function fuzzSeed(fallback: 'fixed' | 'random'): number {
  const given = process.env.FUZZ_SEED
  if (given) return Number(given)
  return fallback === 'fixed' ? SUITE_SEED : Math.floor(Math.random() * 2 ** 31)
}

const SUITE_SEED = 20_261_207

const MAX_PROBLEMS = 25

/**
 * Sends the requests one after the other and checks each answer: no 5xx; every refusal is the stable
 * error shape with a code (or the HTML page its route declares for that status); every answer carries nosniff and a frame policy, and an HTML one a CSP; and a
 * refused request left the counted tables as they were.
 */
export async function fuzz(target: Target, requests: FuzzRequest[]): Promise<FuzzReport> {
  const report: FuzzReport = {
    sent: 0,
    unsendable: 0,
    byStatus: {},
    serverErrors: 0,
    seconds: 0,
    problems: [],
  }
  const started = performance.now()
  let before = await target.counts()
  for (const request of requests) {
    let answer: Awaited<ReturnType<Target['send']>>
    try {
      answer = await target.send(request)
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_INVALID_CHAR') {
        report.unsendable++
        continue
      }
      throw error
    }
    report.sent++
    report.byStatus[answer.status] = (report.byStatus[answer.status] ?? 0) + 1
    const after = await target.counts()
    const wrong = check(request, answer, before, after)
    before = after
    if (answer.status >= 500) report.serverErrors++
    if (wrong && report.problems.length < MAX_PROBLEMS)
      report.problems.push(
        `${wrong}: ${request.method} ${request.url.slice(0, 160)} as ${request.as} (${request.operation}) → ` +
          `${answer.status} ${answer.body.slice(0, 200)}` +
          (typeof request.payload === 'string' ? ` [body ${request.payload.slice(0, 120)}]` : ''),
      )
  }
  report.seconds = (performance.now() - started) / 1000
  return report
}

function check(
  request: FuzzRequest,
  answer: Awaited<ReturnType<Target['send']>>,
  before: Record<string, number>,
  after: Record<string, number>,
): string | undefined {
  if (answer.status >= 500) return '5xx'
  if (answer.headers['x-content-type-options'] !== 'nosniff') return 'no nosniff'
  const csp = String(answer.headers['content-security-policy'] ?? '')
  if (answer.headers['x-frame-options'] !== 'DENY' && !csp.includes("frame-ancestors 'none'"))
    return 'no frame policy'
  if (String(answer.headers['content-type'] ?? '').startsWith('text/html') && !csp)
    return 'HTML without a CSP'
  if (answer.status < 400) return undefined
  // A page people open from an email refuses with a page, where the route declares so.
  const page =
    request.htmlRefusals.includes(answer.status) &&
    String(answer.headers['content-type'] ?? '').startsWith('text/html')
  // A HEAD answer has headers only.
  if (request.method !== 'HEAD' && !page) {
    let json: unknown
    try {
      json = JSON.parse(answer.body)
    } catch {
      return 'refusal is not JSON'
    }
    if (!ErrorBodySchema.safeParse(json).success) return 'refusal without the error shape'
  }
  const changed = Object.keys(after).filter((table) => after[table] !== before[table])
  if (changed.length > 0) return `refused, yet rows changed in ${changed.join(', ')}`
  return undefined
}

/** The report as a few lines: requests, per-status counts, 5xx, rate. */
export function describe(name: string, seed: number, report: FuzzReport): string {
  const statuses = Object.entries(report.byStatus)
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([status, count]) => `${status}: ${count}`)
    .join(', ')
  return (
    `${name}: seed ${seed} (FUZZ_SEED=${seed} replays it), ${report.sent} requests in ${report.seconds.toFixed(1)} s ` +
    `(${Math.round(report.sent / report.seconds)}/s), ${report.serverErrors} 5xx, ${report.unsendable} not sendable; ${statuses}`
  )
}
