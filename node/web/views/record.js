import { ApiError, api } from '../api.js'
import { h, replace } from '../dom.js'
import { mountChatter } from './chatter.js'
import { fieldInput, loadPeople, readInput } from './fields.js'
import { mountRecordOchat } from './ochat-record.js'
import { archiveControls } from './record-archive.js'

/**
 * A record: its fields in an editable sheet (saved with the version it was read at, so a concurrent
 * change is refused with 409 rather than overwritten), its chatter below, and "Archive" beside its name.
 */
export async function renderRecord(ctx, container, recordId) {
  const [record, lookups] = await Promise.all([api('GET', `/api/v1/records/${recordId}`), loadPeople()])
  const model = ctx.models.find((candidate) => candidate.name === record.model)
  if (!model) throw new Error(`unknown model ${record.model}`)
  ctx.live.watchRecord(recordId)
  ctx.highlight(`#/models/${model.name}`)

  let current = record
  const title = h('h1', { class: 'record-title', text: record.name })
  const sheetSlot = h('div')
  const chatterSlot = h('div', { class: 'record-chatter' })
  const ochatSlot = h('div', { class: 'record-ochat-slot' })
  const archive = archiveControls(ctx, { recordId, model, onChanged: (view) => sheet.adopt(view) })
  archive.show(record)
  replace(
    container,
    h(
      'div',
      { class: 'breadcrumb' },
      h('a', { href: `#/models/${model.name}`, text: `${model.label}s` }),
      h('span', { text: ' / ' }),
      title,
      h('span', { class: 'spacer' }),
      archive.button,
    ),
    archive.refusal,
    h(
      'div',
      { class: 'record-page' },
      archive.banner,
      sheetSlot,
      h('div', { class: 'record-threads' }, chatterSlot, ochatSlot),
    ),
  )

  const sheet = buildSheet()
  replace(sheetSlot, sheet.el)
  const chatter = mountChatter(ctx, chatterSlot, { record, model })
  // Failed emails show beside the record's name, where people look first.
  title.after(chatter.failedBadge)
  const ochat = mountRecordOchat(ctx, ochatSlot, { record })
  await Promise.all([chatter.ready, ochat.ready])
  // Opening a record reads its notifications: the person has now seen what they were told about.
  await api('POST', '/api/v1/inbox/read-all', { recordId }).catch(ctx.report)

  function buildSheet() {
    const conflict = h('div', { class: 'conflict', hidden: true, attrs: { role: 'alert' } })
    const saveBar = h('div', { class: 'actions save-bar', hidden: true })
    const grid = h('div', { class: 'field-grid' })
    let dirty = false

    function fill(view) {
      replace(
        grid,
        model.fields.map((field) => [
          h('label', {
            htmlFor: `field-${field.name}`,
            class: [field.required ? 'required' : '', field.type === 'text' ? 'wide' : ''],
            text: field.label,
          }),
          fieldInput(field, view.values[field.name], lookups),
        ]),
      )
      dirty = false
      saveBar.hidden = true
    }

    async function save(event) {
      event.preventDefault()
      const values = {}
      for (const input of grid.querySelectorAll('[data-field]')) {
        const value = readInput(input)
        const before = current.values[input.dataset.field] ?? null
        if (JSON.stringify(value) !== JSON.stringify(before)) values[input.dataset.field] = value
      }
      if (Object.keys(values).length === 0) return fill(current)
      try {
        current = await api('PATCH', `/api/v1/records/${recordId}`, { version: current.version, values })
        title.textContent = current.name
        fill(current)
        ctx.notify('Saved')
      } catch (error) {
        ctx.report(error)
        if (error instanceof ApiError && error.code === 'E_VERSION_CONFLICT') {
          replace(
            conflict,
            h('strong', {
              text: 'This record was changed since you opened it — reload it to see the new values, then reapply your change.',
            }),
            h('button', { type: 'button', class: 'secondary', text: 'Reload', on: { click: reload } }),
          )
          conflict.hidden = false
        }
      }
    }

    async function reload() {
      current = await api('GET', `/api/v1/records/${recordId}`)
      title.textContent = current.name
      archive.show(current)
      conflict.hidden = true
      fill(current)
    }

    const form = h(
      'form',
      {
        class: 'sheet',
        on: {
          submit: save,
          input: () => {
            dirty = true
            saveBar.hidden = false
          },
        },
      },
      conflict,
      grid,
      saveBar,
    )
    replace(
      saveBar,
      h('button', { type: 'submit', class: 'primary', text: 'Save' }),
      h('button', {
        type: 'button',
        class: 'secondary',
        text: 'Discard',
        on: { click: () => fill(current) },
      }),
    )
    fill(current)
    return {
      el: form,
      /**
       * The record as the node has it now: shown, unless the user is editing (then Save gets a 409).
       * A change that left the values alone (archiving) takes its version without standing in the
       * way of the edit.
       */
      adopt: (view) => {
        if (!dirty) {
          current = view
          title.textContent = current.name
          conflict.hidden = true
          fill(current)
        } else if (JSON.stringify(view.values) === JSON.stringify(current.values)) current = view
      },
    }
  }

  /** Someone else changed the record: its archived state shows at once, its values as `adopt` says. */
  async function changedElsewhere() {
    const view = await api('GET', `/api/v1/records/${recordId}`)
    archive.show(view)
    sheet.adopt(view)
  }

  const stop = ctx.live.onEvent((event) => {
    if (event.type === 'resync') {
      changedElsewhere().catch(ctx.report)
      chatter.refresh('all')
      return
    }
    if (event.scope !== 'record' || event.recordId !== recordId) return
    if (event.type === 'record.updated') {
      changedElsewhere().catch(ctx.report)
      chatter.refresh('messages')
    } else if (event.type === 'message.created' || event.type === 'message.updated')
      chatter.refresh('messages')
    else if (event.type === 'followers.changed') chatter.refresh('followers')
    else if (event.type === 'activities.changed') {
      chatter.refresh('activities')
      chatter.refresh('messages')
    }
  })
  return () => {
    stop()
    chatter.destroy()
    ochat.destroy()
  }
}
