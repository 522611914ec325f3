// Helpers of the O'Chat pacing tests: a fake relay's submits recorded and answered as a test says, the
// outbox row of a message as the user's status comes from it, and a message with a file.
import type { SubmitRates } from '@ochat/shared-protocol'
import type { Test } from 'tap'
import type { buildOchatNode, FakeRelay } from './ochat-helpers.ts'

type Row = { status: string; outboxAttempts: number; outboxDueAt: number | null }

export function outboxRow(
  node: { database: { sqlite: import('better-sqlite3').Database } },
  id: number,
): Row {
  return node.database.sqlite
    .prepare(
      'select status, outbox_attempts as outboxAttempts, outbox_due_at as outboxDueAt from ochat_messages where id = ?',
    )
    .get(id) as Row
}

/** Envelope ids the fake relay received, in order, and what it answers each submit. */
export function recordSubmits(
  relay: FakeRelay,
  answer: (ids: string[], call: number) => ReturnType<Handler>,
) {
  const received: string[][] = []
  relay.handlers.set('POST /v1/envelopes', (_request, body) => {
    const ids = (JSON.parse(body) as { envelopes: { header: { id: string } }[] }).envelopes.map(
      (envelope) => envelope.header.id,
    )
    received.push(ids)
    return answer(ids, received.length)
  })
  return received
}
type Handler = Parameters<FakeRelay['handlers']['set']>[1]

/** The fake relay publishes these rates: the node reads them when its transport starts. */
export function publishRates(relay: FakeRelay, rates: SubmitRates) {
  relay.handlers.set('GET /v1/rates', () => ({ status: 200, body: { v: 1, submit: rates } }))
}

/** A relay answer asking to wait `seconds`: a 429 for the whole request, with its Retry-After. */
export const slowDown = (seconds: number) => ({
  status: 429,
  headers: { 'retry-after': String(seconds) },
  body: {
    error: { code: 'E_RATE_LIMITED', message: 'Slow down.', reason: `rate-limited: retry in ${seconds} s` },
  },
})

/** About 3 years, asked by a relay in seconds: far past the 72 h deadline and the 2^31-1 ms a timer takes. */
export const YEARS_S = 99_999_999
export const HOUR_MS = 3_600_000

/**
 * The delays given to setTimeout during the test, still passed through: a timer asked for more than
 * 2^31-1 ms fires after 1 ms, so a wait that large shows here before it shows as a loop.
 */
export function timerDelays(t: Test): () => number[] {
  const captured = t.capture(globalThis, 'setTimeout', globalThis.setTimeout)
  return () => captured.calls.map((call) => Number(call.args[1] ?? 0))
}

export const accepted = (ids: string[]) => ({
  status: 200,
  body: {
    results: ids.map((id, index) => ({ ok: true, id, seq: index + 1, acceptedAt: Date.now() })),
  },
})

/** Posts a message with one PDF attached; answers the message's id. */
export async function sendWithFile(
  node: Awaited<ReturnType<typeof buildOchatNode>>['node'],
  admin: Awaited<ReturnType<typeof buildOchatNode>>['admin'],
  channelId: number,
): Promise<number> {
  const upload = await node.app.inject({
    method: 'POST',
    url: '/api/v1/attachments?fileName=quote.pdf',
    headers: { authorization: `Bearer ${admin.secret}`, 'content-type': 'application/pdf' },
    payload: Buffer.from('%PDF-1.7 quote'),
  })
  const sent = await admin.call('POST', `/api/v1/ochat/channels/${channelId}/messages`, {
    body: 'The quote',
    attachmentIds: [JSON.parse(upload.body).id],
  })
  return sent.body.id as number
}
