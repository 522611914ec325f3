import { api } from '../api.js'
import { formatTime, h, replace } from '../dom.js'
import { AUTOMATION_HASH } from './automation-form.js'
import { hookPanel } from './automation-hook.js'
import { triggerInWords } from './automation-words.js'
import { forbidden, isForbidden } from './mail-settings.js'

const PAGE_SIZE = 50

/** What a run came to, in a person's words, with the tag's tone. */
const OUTCOMES = {
  done: ['Done', 'ok'],
  partial: ['Done, but not sent', 'warn'],
  failed: ['Failed', 'bad'],
  skipped: ['Skipped', 'info'],
}

/**
 * Settings → Automation → one rule: its runs, newest first (when, on which record, what came of it),
 * and a dry run that says what the rule would do to a record now, without doing it.
 */
export async function renderAutomationRuns(ctx, container, ruleId) {
  ctx.highlight(AUTOMATION_HASH)
  const title = h('h1', { text: 'Automation rule' })
  if (ctx.user.role !== 'admin') {
    forbidden(container, title)
    return
  }
  let rule
  let models
  try {
    ;[rule, models] = await Promise.all([
      api('GET', `/api/v1/automation-rules/${ruleId}`),
      api('GET', '/api/v1/models').then((page) => page.items),
    ])
  } catch (error) {
    if (!isForbidden(error)) throw error
    // The role was taken away after the app loaded (403), or the rule was deleted (404).
    if (error.status === 403) return forbidden(container, title)
    replace(
      container,
      title,
      h('p', { class: 'empty', text: 'There is no such rule: it may have been deleted.' }),
      h('a', { href: AUTOMATION_HASH, text: 'All rules' }),
    )
    return
  }
  title.textContent = rule.name
  const model = models.find((item) => item.name === rule.model)

  const rows = h('tbody')
  const table = h(
    'table',
    { class: 'list stack-table automation-runs' },
    h('caption', { class: 'visually-hidden', text: 'Runs, newest first' }),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Time', 'Record', 'Trigger', 'Outcome', 'Detail'].map((label) =>
          h('th', { text: label, attrs: { scope: 'col' } }),
        ),
      ),
    ),
    rows,
  )
  const empty = h('p', { class: 'empty', text: 'The rule has not run yet.', hidden: true })
  const more = h('button', { type: 'button', class: 'secondary', text: 'Load more', hidden: true })
  const refresh = h('button', { type: 'button', class: 'secondary small', text: 'Refresh' })
  let runs = []
  let cursor = null

  function runRow(run) {
    const [label, tone] = OUTCOMES[run.outcome] ?? [run.outcome, 'info']
    return h(
      'tr',
      { class: 'automation-run', dataset: { id: String(run.id), outcome: run.outcome } },
      h(
        'td',
        { dataset: { label: 'Time' } },
        h('time', { text: formatTime(run.at), attrs: { datetime: new Date(run.at).toISOString() } }),
      ),
      h(
        'td',
        { class: 'automation-run-record', dataset: { label: 'Record' } },
        run.recordId === null
          ? h('span', { class: 'muted', text: '—' })
          : h('a', { href: `#/records/${run.recordId}`, text: `Record ${run.recordId}` }),
      ),
      h('td', { dataset: { label: 'Trigger' } }, h('code', { text: run.trigger })),
      h(
        'td',
        { class: 'automation-run-outcome', dataset: { label: 'Outcome' } },
        h('span', { class: `tag outcome outcome-${tone}`, text: label }),
      ),
      h(
        'td',
        { class: 'automation-run-detail', dataset: { label: 'Detail' } },
        run.detail ?? h('span', { class: 'muted', text: '—' }),
      ),
    )
  }

  function render() {
    rows.replaceChildren(...runs.map(runRow))
    table.hidden = runs.length === 0
    empty.hidden = runs.length > 0
    more.hidden = !cursor
  }

  async function load(reset) {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) })
    if (!reset && cursor) query.set('cursor', cursor)
    const page = await api('GET', `/api/v1/automation-rules/${ruleId}/runs?${query}`)
    runs = reset ? page.items : [...runs, ...page.items]
    cursor = page.nextCursor
    render()
  }

  const busy = (button, work) => async () => {
    button.disabled = true
    await work().catch(ctx.report)
    button.disabled = false
  }
  more.addEventListener(
    'click',
    busy(more, () => load(false)),
  )
  refresh.addEventListener(
    'click',
    busy(refresh, () => load(true)),
  )

  replace(
    container,
    h('div', { class: 'view-header' }, title, h('a', { href: AUTOMATION_HASH, text: 'All rules' })),
    h(
      'p',
      { class: 'automation-summary' },
      `${model?.label ?? rule.model}, ${triggerInWords(rule.trigger, model)}. `,
      h('span', {
        class: `tag outcome outcome-${rule.active ? 'ok' : 'info'}`,
        text: rule.active ? 'Active' : 'Inactive',
      }),
    ),
    rule.hookUrl && rule.trigger.kind === 'webhook' ? hookPanel(ctx, { rule }) : null,
    dryRunForm(ctx, ruleId),
    h('div', { class: 'automation-runs-header' }, h('h2', { text: 'Runs' }), refresh),
    table,
    empty,
    more,
  )
  await load(true)
  // A run shows as the rule runs, without Refresh.
  return ctx.live.onEvent((event) => {
    if ((event.type === 'automation.run' && event.ruleId === ruleId) || event.type === 'resync')
      void load(true).catch(ctx.report)
  })
}

/** "Dry run": a record's id in, whether it meets the conditions and what the actions would do out. */
function dryRunForm(ctx, ruleId) {
  const record = h('input', { type: 'number', id: 'automation-dry-run-record', min: 1, required: true })
  const result = h('div', { class: 'automation-dry-run-result', attrs: { role: 'status' } })
  const submit = h('button', { type: 'submit', class: 'secondary', text: 'Dry run' })
  return h(
    'form',
    {
      class: 'sheet automation-dry-run',
      on: {
        submit: async (event) => {
          event.preventDefault()
          const recordId = Number(record.value)
          if (!Number.isInteger(recordId) || recordId < 1) {
            replace(result, 'Enter the id of a record of the rule’s model.')
            return
          }
          submit.disabled = true
          try {
            const answer = await api('POST', `/api/v1/automation-rules/${ruleId}/dry-run`, { recordId })
            replace(result, dryRunAnswer(answer))
          } catch (error) {
            if (!isForbidden(error)) return ctx.report(error)
            replace(result, h('p', { class: 'form-error', text: `No such record: ${error.reason}` }))
          } finally {
            submit.disabled = false
          }
        },
      },
    },
    h('h2', { text: 'Dry run' }),
    h('p', {
      class: 'hint muted',
      text: 'What the rule would do to a record now, as if it had just changed. Nothing is saved.',
    }),
    h(
      'div',
      { class: 'webhook-replay-form' },
      h('label', { htmlFor: record.id, text: 'Record id' }),
      record,
      submit,
    ),
    result,
  )
}

function dryRunAnswer({ matches, effects, error }) {
  return [
    h('p', {
      class: `automation-dry-run-matches ${matches ? 'ok' : 'muted'}`,
      text: matches
        ? 'The record meets the rule’s conditions: it would run.'
        : 'The record does not meet the rule’s conditions: it would be skipped.',
    }),
    error ? h('p', { class: 'form-error automation-dry-run-error', text: `It would fail: ${error}` }) : null,
    effects.length > 0
      ? [
          h('p', { text: 'Its actions would:' }),
          h(
            'ol',
            { class: 'automation-dry-run-effects' },
            effects.map((text) => h('li', { text })),
          ),
        ]
      : error
        ? null
        : h('p', { class: 'muted', text: 'Its actions would change nothing.' }),
  ]
}
