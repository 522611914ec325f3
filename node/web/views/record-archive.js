import { ApiError, api } from '../api.js'
import { formatTime, h, replace } from '../dom.js'

const SVG = 'http://www.w3.org/2000/svg'

/** An archive box drawn in SVG (a lid over a box with a handle): emoji need a font many machines lack. */
function archiveIcon() {
  const svg = document.createElementNS(SVG, 'svg')
  for (const [name, value] of Object.entries({
    viewBox: '0 0 16 16',
    width: 14,
    height: 14,
    'aria-hidden': 'true',
    class: 'archive-icon',
  }))
    svg.setAttribute(name, String(value))
  const lid = document.createElementNS(SVG, 'rect')
  for (const [name, value] of Object.entries({ x: 1, y: 2, width: 14, height: 4, rx: 1 }))
    lid.setAttribute(name, String(value))
  const box = document.createElementNS(SVG, 'path')
  box.setAttribute('d', 'M2.5 6 V13.5 H13.5 V6 M6 9 H10')
  svg.append(lid, box)
  return svg
}

/**
 * Archiving a record from its page: an "Archive" button beside the record's name while it is active;
 * once archived, a banner saying since when, with "Restore". `show(view)` puts the controls in the
 * state of the record as last read (after a change here or one another tab made); `onChanged(view)`
 * gets the record as the node answered an archive or a restore. When one of the model's archive rules
 * fails, the node refuses the whole archiving: its reason shows under the name, where the button was
 * pressed.
 */
export function archiveControls(ctx, { recordId, model, onChanged }) {
  const refusal = h('div', { class: 'archive-refusal', hidden: true, attrs: { role: 'alert' } })
  const archiveButton = h(
    'button',
    { type: 'button', class: 'secondary archive-button', on: { click: () => change('archive') } },
    archiveIcon(),
    ' Archive',
  )
  const since = h('span', { class: 'archived-since' })
  const restoreButton = h('button', {
    type: 'button',
    class: 'primary',
    text: 'Restore',
    on: { click: () => change('unarchive') },
  })
  const banner = h(
    'div',
    { class: 'archived-banner', hidden: true, attrs: { role: 'status' } },
    archiveIcon(),
    since,
    restoreButton,
  )

  async function change(verb) {
    archiveButton.disabled = true
    restoreButton.disabled = true
    refusal.hidden = true
    try {
      const view = await api('POST', `/api/v1/records/${recordId}/${verb}`)
      show(view)
      onChanged(view)
      ctx.notify(verb === 'archive' ? 'Archived' : 'Restored')
    } catch (error) {
      if (error instanceof ApiError && error.status === 422) {
        replace(
          refusal,
          h('strong', { text: 'Not archived: ' }),
          h('span', {
            class: 'archive-refusal-reason',
            // The reason's prefix ("blocked: ") is for programs; a person reads the rest.
            text: error.reason.replace(/^[a-z-]+: /, '') || error.message,
          }),
        )
        refusal.hidden = false
      } else ctx.report(error)
    } finally {
      archiveButton.disabled = false
      restoreButton.disabled = false
    }
  }

  function show(view) {
    const archived = view.archivedAt !== null
    archiveButton.hidden = archived
    banner.hidden = !archived
    if (archived) {
      refusal.hidden = true
      since.textContent = `Archived on ${formatTime(view.archivedAt)}: it no longer shows in the ${model.label}s list.`
    }
  }

  return { button: archiveButton, banner, refusal, show }
}
