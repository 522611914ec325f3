import { h, replace } from '../dom.js'
import { CHANNELS, TIME_ANCHORS } from './automation-words.js'

/** Field types whose values are numbers on the wire (ids included). */
const NUMERIC = new Set(['integer', 'float', 'monetary', 'user', 'partner'])

const KINDS = [
  ['create', 'When a record is created'],
  ['update', 'When a record is updated'],
  ['set', 'When a field is set to a value'],
  ['archive', 'When a record is archived'],
  ['time', 'At a time before or after a date'],
  ['message_received', 'When a message comes in'],
  ['ochat_failed', 'When an O’Chat message fails'],
  ['webhook', 'When an integrator calls its URL'],
]

/** The zone this browser is in: what a person writing "3 days before" most likely means. */
const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone

/** Every zone the browser knows, offered as the zone is typed (the node checks it anyway). */
function zoneList(id) {
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : []
  return h(
    'datalist',
    { id },
    zones.map((zone) => h('option', { value: zone })),
  )
}

/**
 * The trigger's controls: what kind, and what each kind needs. A time trigger reads as a sentence,
 * "[3] [days] [before] [Deadline] in [Europe/Brussels]", the sign of its offset coming from before/after.
 * `modelOf` gives the model chosen; `refresh()` is called when it changes. `hooked`: the rule has its
 * secret URL already.
 */
export function triggerControls({ id, modelOf, initial, hooked = false }) {
  const labelled = (tag, part, label, props = {}, children = []) =>
    h(tag, { id: id(part), ...props, attrs: { 'aria-label': label, ...props.attrs } }, children)
  const kind = h(
    'select',
    { id: id('kind') },
    KINDS.map(([value, text]) => h('option', { value, text, selected: value === (initial?.kind ?? 'set') })),
  )
  const watched = labelled('select', 'field', 'Field')
  const valueCell = h('span', { class: 'automation-value' })
  let value = null
  const changed = labelled('input', 'fields', 'Changed fields', {
    type: 'text',
    placeholder: 'stage, user_id (empty: any change)',
    value: initial?.kind === 'update' ? initial.fields.join(', ') : '',
  })

  const timed = initial?.kind === 'time' ? initial : null
  const amount = labelled('input', 'amount', 'Amount', {
    type: 'number',
    min: 0,
    step: 1,
    value: String(timed ? Math.abs(timed.offset) : 1),
  })
  const unit = labelled(
    'select',
    'unit',
    'Unit',
    {},
    ['minutes', 'hours', 'days'].map((item) =>
      h('option', { value: item, text: item, selected: item === (timed?.unit ?? 'days') }),
    ),
  )
  const direction = labelled(
    'select',
    'direction',
    'Before or after',
    {},
    ['before', 'after'].map((item) =>
      h('option', {
        value: item,
        text: item,
        selected: item === (timed && timed.offset > 0 ? 'after' : 'before'),
      }),
    ),
  )
  const anchor = labelled('select', 'anchor', 'Date field')
  const zone = labelled('input', 'zone', 'Time zone', {
    type: 'text',
    value: timed ? (timed.timeZone ?? '') : browserZone(),
    placeholder: 'Your zone on the node',
    spellcheck: false,
    attrs: { list: id('zones') },
  })
  const timeCell = h(
    'span',
    { class: 'automation-time' },
    amount,
    unit,
    direction,
    anchor,
    h('span', { text: 'in' }),
    zone,
    zoneList(id('zones')),
  )
  const via = labelled(
    'select',
    'via',
    'Channel',
    {},
    CHANNELS.map(([key, text]) =>
      h('option', { value: key, text, selected: key === (initial?.via ?? 'any') }),
    ),
  )
  const hookNote = h('span', {
    class: 'hint muted',
    text: 'Once saved, the rule gets a secret URL: an integrator POSTs {"recordId": …} to it.',
  })

  /** The field choices of the model chosen, and a value input that fits the field watched. */
  function refresh(first) {
    const fields = modelOf()?.fields ?? []
    const chosen = first?.field ?? (watched.value || 'stage')
    replace(
      watched,
      fields.map((item) =>
        h('option', { value: item.name, text: item.label, selected: item.name === chosen }),
      ),
    )
    const target = fields.find((item) => item.name === watched.value)
    value = target?.choices
      ? labelled(
          'select',
          'value',
          'Value',
          {},
          target.choices.map((choice) =>
            h('option', { value: choice.value, text: choice.label, selected: choice.value === first?.value }),
          ),
        )
      : labelled('input', 'value', 'Value', {
          type: 'text',
          value: first?.value === undefined || first.value === null ? '' : String(first.value),
        })
    replace(valueCell, value)
    const dated = fields.filter((item) => item.type === 'date' || item.type === 'datetime')
    const anchored = anchor.value || timed?.field
    replace(
      anchor,
      [...dated.map((item) => [item.name, item.label]), ...TIME_ANCHORS].map(([name, label]) =>
        h('option', { value: name, text: label, selected: name === anchored }),
      ),
    )
    show()
  }

  function show() {
    const shown = kind.value
    watched.hidden = shown !== 'set'
    valueCell.hidden = shown !== 'set'
    changed.hidden = shown !== 'update'
    timeCell.hidden = shown !== 'time'
    via.hidden = shown !== 'message_received'
    // A rule that has its URL shows it under the trigger instead.
    hookNote.hidden = shown !== 'webhook' || hooked
  }
  watched.addEventListener('change', () => refresh(null))
  kind.addEventListener('change', () => refresh({ field: watched.value }))
  refresh(initial?.kind === 'set' ? initial : null)

  /** The trigger as the API takes it, or a reason the form can give before asking the node. */
  function read() {
    switch (kind.value) {
      case 'create':
      case 'archive':
      case 'ochat_failed':
      case 'webhook':
        return { trigger: { kind: kind.value } }
      case 'update': {
        const names = changed.value.split(',').map((item) => item.trim())
        return { trigger: { kind: 'update', fields: names.filter(Boolean) } }
      }
      case 'message_received':
        return { trigger: { kind: 'message_received', via: via.value } }
      case 'time': {
        const count = Number(amount.value)
        if (amount.value.trim() === '' || !Number.isInteger(count) || count < 0)
          return { problem: 'Give the time as a whole number of minutes, hours or days.', control: amount }
        const trigger = {
          kind: 'time',
          field: anchor.value,
          offset: direction.value === 'before' ? -count : count,
          unit: unit.value,
        }
        const timeZone = zone.value.trim()
        return { trigger: timeZone === '' ? trigger : { ...trigger, timeZone } }
      }
      default: {
        const type = modelOf()?.fields.find((item) => item.name === watched.value)?.type
        const text = value.value.trim()
        let typed = text
        if (text === '') typed = null
        else if (NUMERIC.has(type)) typed = Number(text)
        else if (type === 'boolean') typed = text === 'true'
        return { trigger: { kind: 'set', field: watched.value, value: typed } }
      }
    }
  }

  return {
    control: kind,
    cell: h(
      'div',
      { class: 'automation-trigger' },
      kind,
      watched,
      valueCell,
      changed,
      timeCell,
      via,
      hookNote,
    ),
    refresh: () => refresh(null),
    read,
  }
}
