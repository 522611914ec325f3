import { escapeHtml } from '../chatter/body.ts'
import type { Tx } from '../db/client.ts'
import { displayValue } from '../models/fields.ts'
import type { Model } from '../models/registry.ts'
import { partnerIdsOfUsers } from '../people/repository.ts'
import type { RecordRow } from '../records/repository.ts'
import { nameResolver } from '../records/values.ts'

/** The site settings values are shown with (and emails signed with). */
export type Site = { company: string; publicUrl: string; locale: string; currency: string }

type TemplateInput = { record: RecordRow; model: Model; site: Site; timeZone: string }

export const PLACEHOLDER = /\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/

/** An "@" where a mention could start (chatter/mentions.ts): not inside an address. */
const MENTION_AT = /(?<![\p{L}\p{N}@._-])@/gu

/**
 * `{{field}}` placeholders filled with the record's values as people read them (a user's name, a
 * stage's label, an amount with its currency), `{{name}}` too; all of it HTML-escaped. An "@" that
 * could start a mention in a value is followed by a word joiner: a record's values (a mail's subject,
 * say) must not mention anyone in the rule's name.
 */
export function fill(tx: Tx, template: string, input: TemplateInput): string {
  const text = filled(tx, template, input, {
    text: escapeHtml,
    value: (value) => escapeHtml(value).replace(MENTION_AT, '@\u2060'),
  })
  return `<p>${text.replace(/\n/g, '<br>')}</p>`
}

/**
 * The same placeholders filled as plain text, for what is not HTML: a new record's values, an
 * email's subject. Whoever shows it escapes it.
 */
export function fillText(tx: Tx, template: string, input: TemplateInput): string {
  return filled(tx, template, input, { text: (text) => text, value: (value) => value })
}

function filled(
  tx: Tx,
  template: string,
  input: TemplateInput,
  as: { text: (text: string) => string; value: (value: string) => string },
): string {
  const { record, model } = input
  const display = {
    locale: input.site.locale,
    currency: input.site.currency,
    timeZone: input.timeZone,
    nameOf: nameResolver(tx),
  }
  const shown = (name: string): string => {
    if (name === 'id') return String(record.id)
    if (name === 'name') return record.name
    const field = model.fields.find((candidate) => candidate.name === name)
    return field ? (displayValue(field, record.values[name], display) ?? '') : ''
  }
  // split() with a capture group: the field names land at the odd positions.
  return template
    .split(PLACEHOLDER)
    .map((part, i) => (i % 2 === 0 ? as.text(part) : as.value(shown(part))))
    .join('')
}

/** The partner in a user or partner field of the record (a user's own partner); undefined when empty. */
export function partnerInField(tx: Tx, model: Model, record: RecordRow, name: string): number | undefined {
  const value = record.values[name]
  if (typeof value !== 'number') return undefined
  const field = model.fields.find((candidate) => candidate.name === name)
  return field?.type === 'user' ? partnerIdsOfUsers(tx, [value]).get(value) : value
}
