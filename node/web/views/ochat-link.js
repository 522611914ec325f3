import { api } from '../api.js'
import { h, replace } from '../dom.js'

/**
 * "File on a record…" for a message about one of the other company's records: pick one of ours (a
 * model, then a record), or create a new one by name first; the message and the rest of that thread
 * go on it, and later replies follow.
 */
export function mountLinkForm(ctx, slot, message, { onLinked, onClose }) {
  const models = ctx.models
  const modelSelect = h(
    'select',
    { class: 'link-model', id: 'link-model', attrs: { 'aria-label': 'Model' } },
    models.map((model) => h('option', { value: model.name, text: model.label })),
  )
  const recordSelect = h('select', {
    class: 'link-record',
    id: 'link-record',
    attrs: { 'aria-label': 'Record' },
  })
  const newName = h('input', {
    type: 'text',
    class: 'link-new-name',
    placeholder: 'Or a new record named…',
    value: message.peerRecord?.name ?? '',
    attrs: { 'aria-label': 'New record name' },
  })
  const error = h('div', { class: 'form-error', hidden: true, attrs: { role: 'alert' } })

  async function loadRecords() {
    const page = await api('GET', `/api/v1/models/${modelSelect.value}/records?limit=200`)
    replace(
      recordSelect,
      h('option', { value: '', text: page.items.length ? 'Choose a record…' : 'No record yet' }),
      page.items.map((record) => h('option', { value: String(record.id), text: record.name })),
    )
  }

  async function link(recordId) {
    const answer = await api('POST', `/api/v1/ochat/messages/${message.id}/link`, { recordId })
    ctx.notify(`Filed on a record (${answer.items.length} message${answer.items.length === 1 ? '' : 's'})`)
    onLinked(answer.items)
    onClose()
  }

  async function fileOnChosen() {
    error.hidden = true
    if (!recordSelect.value) {
      replace(error, 'Choose a record, or type a name and create a new one.')
      error.hidden = false
      return
    }
    await link(Number(recordSelect.value)).catch(ctx.report)
  }

  async function createAndFile() {
    error.hidden = true
    const name = newName.value.trim()
    if (!name) {
      replace(error, 'Type the name of the new record.')
      error.hidden = false
      return
    }
    try {
      const record = await api('POST', `/api/v1/models/${modelSelect.value}/records`, { values: { name } })
      await link(record.id)
    } catch (failure) {
      ctx.report(failure)
    }
  }

  modelSelect.addEventListener('change', () => loadRecords().catch(ctx.report))
  replace(
    slot,
    h(
      'div',
      { class: 'link-form', attrs: { role: 'dialog', 'aria-label': 'File on a record' } },
      h('h3', { text: `File “${message.peerRecord?.name ?? 'this thread'}” on one of our records` }),
      h(
        'div',
        { class: 'link-row' },
        modelSelect,
        recordSelect,
        h('button', {
          type: 'button',
          class: 'primary small',
          text: 'File here',
          on: { click: fileOnChosen },
        }),
      ),
      h(
        'div',
        { class: 'link-row' },
        newName,
        h('button', {
          type: 'button',
          class: 'secondary small',
          text: 'Create and file',
          on: { click: createAndFile },
        }),
      ),
      error,
      h('button', { type: 'button', class: 'link-button', text: 'Cancel', on: { click: onClose } }),
    ),
  )
  loadRecords().catch(ctx.report)
  slot.scrollIntoView?.({ block: 'nearest' })
}
