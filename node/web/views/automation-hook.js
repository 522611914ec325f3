import { ApiError, api } from '../api.js'
import { h } from '../dom.js'

/**
 * A webhook-triggered rule's secret URL, for the administrator to hand to an integrator: shown whole
 * (it is the only credential the caller needs), a Copy button, and "New secret URL" for when it leaked;
 * the old one stops working at once, so it asks first. `onRotated` gets the rule with its new URL.
 */
export function hookPanel(ctx, { rule, id = `automation-hook-${rule.id}`, onRotated = () => {} }) {
  let current = rule
  const url = h('input', {
    id,
    type: 'text',
    class: 'automation-hook-url',
    readOnly: true,
    value: rule.hookUrl ?? '',
    spellcheck: false,
    attrs: { 'aria-label': `Secret URL of ${rule.name}` },
    on: { focus: (event) => event.target.select() },
  })
  const status = h('span', { class: 'muted automation-hook-status', attrs: { role: 'status' } })
  const copy = h('button', {
    type: 'button',
    class: 'secondary small automation-hook-copy',
    text: 'Copy',
    on: {
      click: async () => {
        try {
          await navigator.clipboard.writeText(url.value)
          status.textContent = 'Copied.'
        } catch {
          // Clipboard access refused (an insecure origin, a denied permission): the URL is selected
          // instead, for the administrator to copy by hand.
          url.focus()
          status.textContent = 'Select and copy it by hand.'
        }
      },
    },
  })
  const rotate = h('button', {
    type: 'button',
    class: 'secondary small automation-hook-rotate',
    text: 'New secret URL',
    on: {
      click: async () => {
        const sure = window.confirm(
          `Give ${current.name} a new secret URL? The current one stops working at once: whoever calls it must be given the new one.`,
        )
        if (!sure) return
        rotate.disabled = true
        try {
          current = await api('POST', `/api/v1/automation-rules/${current.id}/rotate-hook`)
          url.value = current.hookUrl ?? ''
          status.textContent = 'New URL: the old one no longer works.'
          onRotated(current)
        } catch (error) {
          if (!(error instanceof ApiError) || error.status >= 500) return ctx.report(error)
          status.textContent = `Not changed: ${error.message}`
        } finally {
          rotate.disabled = false
        }
      },
    },
  })
  return h(
    'div',
    { class: 'automation-hook field-cell', dataset: { ruleId: String(rule.id) } },
    h('p', {
      class: 'hint muted',
      text: `${rule.name} runs when this URL gets a POST of {"recordId": …}. Keep it secret: anyone who has it can run the rule.`,
    }),
    h('div', { class: 'automation-hook-line' }, url, copy, rotate),
    status,
  )
}
