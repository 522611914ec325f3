import { api } from '../api.js'
import { formatTime, h } from '../dom.js'

/** One delivery's parts in the log: its state in words, its attempts and payload, and replay since a time. */

/** Where a delivery stands, in a person's words, with the tag's tone and what happens next. */
export function statusOf(message) {
  if (message.status === 'delivered')
    return ['Delivered', 'ok', message.deliveredAt ? `at ${formatTime(message.deliveredAt)}` : '']
  if (message.status === 'delivering') return ['Sending', 'info', 'being sent now']
  if (message.status === 'failed')
    return ['Failed', 'bad', `gave up after ${message.attempts} attempts: replay it once the receiver works`]
  if (message.attempts === 0 || message.nextAttemptAt === null)
    return ['Waiting', 'info', 'goes out as soon as the endpoint takes deliveries']
  return ['Will retry', 'warn', `next attempt ${formatTime(message.nextAttemptAt)}`]
}

/** A delivery's attempts, oldest first (time, answer, duration, start of the response, error), and its payload. */
export function deliveryDetail(message, detail) {
  return [
    h('h2', { class: 'webhook-detail-title', text: `Attempts of ${message.type}` }),
    detail.tries.length === 0
      ? h('p', { class: 'muted', text: 'Not sent yet.' })
      : h(
          'table',
          { class: 'list stack-table webhook-tries' },
          h('caption', { class: 'visually-hidden', text: 'Attempts, oldest first' }),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ['Time', 'Answer', 'Took', 'Start of the response', 'Error'].map((label) =>
                h('th', { text: label, attrs: { scope: 'col' } }),
              ),
            ),
          ),
          h('tbody', {}, detail.tries.map(tryRow)),
        ),
    h('h2', { class: 'webhook-detail-title', text: 'Payload' }),
    h('p', {
      class: 'hint muted',
      text: `webhook-id ${message.eventId}, the same on every attempt and replay`,
    }),
    h('pre', { class: 'webhook-payload', text: JSON.stringify(detail.payload, null, 2) }),
  ]
}

function tryRow(attempt) {
  return h(
    'tr',
    { class: 'webhook-try' },
    h('td', { dataset: { label: 'Time' }, text: formatTime(attempt.at) }),
    h('td', {
      dataset: { label: 'Answer' },
      text: attempt.statusCode === null ? 'no answer' : `HTTP ${attempt.statusCode}`,
    }),
    h('td', { dataset: { label: 'Took' }, text: `${attempt.durationMs} ms` }),
    h(
      'td',
      { dataset: { label: 'Start of the response' } },
      attempt.response ? h('code', { class: 'webhook-response', text: attempt.response.slice(0, 300) }) : '—',
    ),
    h('td', { dataset: { label: 'Error' }, text: attempt.error ?? '—' }),
  )
}

/** "Replay failed since…": every delivery that gave up since a time goes again; says how many. */
export function replaySinceForm(ctx, endpointId, onReplayed) {
  const since = h('input', { type: 'datetime-local', id: 'webhook-replay-since', required: true })
  const result = h('span', { class: 'webhook-replay-result', attrs: { role: 'status' } })
  const submit = h('button', { type: 'submit', class: 'secondary', text: 'Replay failed' })
  return h(
    'form',
    {
      class: 'webhook-replay-form',
      on: {
        submit: async (event) => {
          event.preventDefault()
          // The input reads in the browser's zone, as the times on this page are shown.
          const at = new Date(since.value).getTime()
          if (Number.isNaN(at)) {
            result.textContent = 'Choose the date and time to replay from.'
            return
          }
          submit.disabled = true
          try {
            const { replayed } = await api('POST', `/api/v1/webhooks/endpoints/${endpointId}/replay`, {
              since: Math.max(0, at),
            })
            result.textContent =
              replayed === 0
                ? `No failed delivery since ${formatTime(at)}.`
                : `${replayed} failed ${replayed === 1 ? 'delivery is' : 'deliveries are'} being sent again.`
            onReplayed()
          } catch (error) {
            ctx.report(error)
          } finally {
            submit.disabled = false
          }
        },
      },
    },
    h('label', { htmlFor: since.id, text: 'Replay failed deliveries since' }),
    since,
    submit,
    result,
  )
}
