import { eq } from 'drizzle-orm'
import { resolveAssignee, resolveType } from '../activities/schedule-activity.ts'
import type { Tx } from '../db/client.ts'
import { webhookEndpoints } from '../db/schema.ts'
import { valueSchema } from '../models/fields.ts'
import type { Model, ModelRegistry } from '../models/registry.ts'
import { candidates } from '../notifications/repository.ts'
import { parseValues } from '../records/values.ts'
import { PLACEHOLDER } from './record-values.ts'
import type { Action, Condition, Trigger } from './schema.ts'

type Values = Record<string, unknown>

/** Whether a record's values meet a condition; a missing value is null. */
export function meets(condition: Condition, values: Values): boolean {
  if ('and' in condition) return condition.and.every((part) => meets(part, values))
  if ('or' in condition) return condition.or.some((part) => meets(part, values))
  if ('not' in condition) return !meets(condition.not, values)
  const actual = values[condition.field] ?? null
  switch (condition.op) {
    case 'set':
      return actual !== null && actual !== '' && actual !== false
    case 'not_set':
      return actual === null || actual === '' || actual === false
    case 'eq':
      return actual === condition.value
    case 'ne':
      return actual !== condition.value
    case 'in':
      return condition.value.includes(actual as string | number | boolean | null)
    case 'not_in':
      return !condition.value.includes(actual as string | number | boolean | null)
    case 'contains':
      return typeof actual === 'string' && actual.toLowerCase().includes(condition.value.toLowerCase())
    default:
      return compare(condition.op, actual, condition.value)
  }
}

function compare(op: 'gt' | 'gte' | 'lt' | 'lte', actual: unknown, value: unknown): boolean {
  // Numbers with numbers, dates (ISO text) with dates; anything else never compares.
  const comparable =
    (typeof actual === 'number' && typeof value === 'number') ||
    (typeof actual === 'string' && typeof value === 'string')
  if (!comparable) return false
  const a = actual as number | string
  const b = value as number | string
  if (op === 'gt') return a > b
  if (op === 'gte') return a >= b
  if (op === 'lt') return a < b
  return a <= b
}

/** What a time-based trigger may count from besides the model's date and datetime fields. */
export const TIME_FIELDS = new Set(['createdAt', 'updatedAt', 'activityDeadline'])

const ORDERED = new Set(['integer', 'float', 'monetary', 'date', 'datetime'])
const TEXT = new Set(['char', 'text', 'selection'])

/**
 * What is wrong with a rule for this model, as `path: problem` lines: unknown fields, comparisons a
 * field's type cannot make, values a selection does not offer. Empty: the rule may be saved.
 */
export function ruleProblems(
  model: Model,
  rule: { trigger: Trigger; before: Condition | null; after: Condition | null; actions: Action[] },
): string[] {
  const problems: string[] = []
  const fieldOf = (name: string) => model.fields.find((field) => field.name === name)
  const known = (name: string, path: string) => {
    const field = fieldOf(name)
    if (!field) problems.push(`${path}: the ${model.name} model has no field "${name}"`)
    return field
  }
  const check = (condition: Condition | null, path: string) => {
    if (condition === null) return
    if ('and' in condition) {
      for (const [i, part] of condition.and.entries()) check(part, `${path}.and[${i}]`)
      return
    }
    if ('or' in condition) {
      for (const [i, part] of condition.or.entries()) check(part, `${path}.or[${i}]`)
      return
    }
    if ('not' in condition) {
      check(condition.not, `${path}.not`)
      return
    }
    const field = known(condition.field, `${path}.field`)
    if (!field) return
    if (['gt', 'gte', 'lt', 'lte'].includes(condition.op) && !ORDERED.has(field.type))
      problems.push(
        `${path}.op: "${condition.op}" compares numbers and dates; ${field.name} is ${field.type}`,
      )
    if (condition.op === 'contains' && !TEXT.has(field.type))
      problems.push(`${path}.op: "contains" looks into text; ${field.name} is ${field.type}`)
    if ('value' in condition && condition.op !== 'contains') {
      const values = Array.isArray(condition.value) ? condition.value : [condition.value]
      for (const value of values) valueProblem(field, value, `${path}.value`)
    }
  }
  /** A value the field could hold: of its type, one of its choices; a rule comparing with another never matches. */
  const valueProblem = (field: Model['fields'][number], value: unknown, path: string) => {
    if (value === null) return
    const choices = field.options.choices
    if (field.type === 'selection' && choices) {
      if (!choices.some((choice) => choice.value === value))
        problems.push(`${path}: "${String(value)}" is not one of ${field.name}'s choices`)
      return
    }
    if (!valueSchema(field).safeParse(value).success)
      problems.push(`${path}: ${JSON.stringify(value)} is not a value of ${field.name} (${field.type})`)
  }
  if (rule.trigger.kind === 'update')
    for (const [i, name] of rule.trigger.fields.entries()) known(name, `trigger.fields[${i}]`)
  if (rule.trigger.kind === 'set') {
    const field = known(rule.trigger.field, 'trigger.field')
    if (field) valueProblem(field, rule.trigger.value, 'trigger.value')
  }
  if (rule.trigger.kind === 'time' && !TIME_FIELDS.has(rule.trigger.field)) {
    const field = known(rule.trigger.field, 'trigger.field')
    if (field && field.type !== 'date' && field.type !== 'datetime')
      problems.push(`trigger.field: ${field.name} is ${field.type}, not a date or a datetime`)
  }
  if (rule.before !== null && rule.trigger.kind !== 'update' && rule.trigger.kind !== 'set')
    problems.push(`before: a ${rule.trigger.kind} trigger has no values before a change; use "after"`)
  check(rule.before, 'before')
  check(rule.after, 'after')
  /** Placeholders name fields of the model; `outside`: the text leaves the company, so no restricted field. */
  const template = (text: string, at: string, outside: string | null) => {
    for (const name of placeholdersOf(text)) {
      if (name === 'name' || name === 'id') continue
      const field = known(name, at)
      if (field?.restricted && outside !== null)
        problems.push(`${at}: ${name} is for internal users only: ${outside}`)
    }
  }
  rule.actions.forEach((action, i) => {
    const path = `actions[${i}]`
    if (action.type === 'schedule_activity' && 'field' in action.assignee) {
      const field = known(action.assignee.field, `${path}.assignee.field`)
      if (field && field.type !== 'user')
        problems.push(`${path}.assignee.field: ${field.name} is not a user field`)
    }
    if (action.type === 'add_followers' && action.field !== undefined) {
      const field = known(action.field, `${path}.field`)
      if (field && field.type !== 'user' && field.type !== 'partner')
        problems.push(`${path}.field: ${field.name} is neither a user nor a partner field`)
    }
    if (action.type === 'add_followers' && action.partnerIds.length === 0 && action.field === undefined)
      problems.push(`${path}: name partnerIds, a field, or both`)
    // A message reaches followers outside the company; a restricted field is for internal users.
    if (action.type === 'post_message')
      template(action.body, `${path}.body`, action.kind === 'message' ? 'use it in a note' : null)
    if (action.type === 'send_email') {
      const outside = 'an email leaves the node'
      template(action.subject, `${path}.subject`, outside)
      template(action.body, `${path}.body`, outside)
      if (action.to.field !== undefined) {
        const field = known(action.to.field, `${path}.to.field`)
        if (field && field.type !== 'user' && field.type !== 'partner')
          problems.push(`${path}.to.field: ${field.name} is neither a user nor a partner field`)
      }
      if (action.to.partnerIds.length === 0 && action.to.field === undefined)
        problems.push(`${path}.to: name partnerIds, a field, or both`)
    }
    // Whether a restricted value may go into the new record is up to its field: checked with the
    // other model, in actionProblems.
    if (action.type === 'create_record')
      for (const [name, value] of Object.entries(action.values))
        if (typeof value === 'string') template(value, `${path}.values.${name}`, null)
  })
  return problems
}

/** The field names a template's `{{…}}` placeholders name. */
export function placeholdersOf(template: string): string[] {
  return [...template.matchAll(new RegExp(PLACEHOLDER.source, 'g'))].map((match) => match[1] as string)
}

/**
 * What the database says is wrong with a rule's actions: values a model refuses, an activity type
 * or a user that does not exist, contacts that do not exist or cannot be emailed, a model or a
 * webhook endpoint that does not exist. Checked on save, so that a rule cannot refuse every later
 * change for a mistake made when it was written.
 */
export function actionProblems(
  tx: Tx,
  model: Model,
  actions: Action[],
  registry: Pick<ModelRegistry, 'byName'>,
): string[] {
  const problems: string[] = []
  const attempt = (path: string, work: () => unknown) => {
    try {
      work()
    } catch (error) {
      problems.push(`${path}: ${(error as { detail?: string }).detail ?? (error as Error).message}`)
    }
  }
  const contacts = (ids: number[], path: string, emailed: boolean) => {
    const found = new Map(candidates(tx, ids).map((candidate) => [candidate.partnerId, candidate]))
    for (const id of ids) {
      const contact = found.get(id)
      if (!contact) problems.push(`${path}: there is no contact ${id}`)
      else if (emailed && !contact.email) problems.push(`${path}: ${contact.name} has no email address`)
    }
  }
  for (const [i, action] of actions.entries()) {
    const path = `actions[${i}]`
    if (action.type === 'set_values')
      attempt(`${path}.values`, () => parseValues(tx, model, action.values, { partial: true }))
    if (action.type === 'schedule_activity') {
      attempt(`${path}.activityType`, () => resolveType(tx, action.activityType))
      if ('userId' in action.assignee) {
        const { userId } = action.assignee
        attempt(`${path}.assignee`, () => resolveAssignee(tx, userId))
      }
    }
    if (action.type === 'add_followers' || action.type === 'remove_followers')
      contacts(action.partnerIds, `${path}.partnerIds`, false)
    if (action.type === 'send_email') contacts(action.to.partnerIds, `${path}.to.partnerIds`, true)
    if (action.type === 'call_webhook' && !endpointExists(tx, action.endpointId))
      problems.push(`${path}.endpointId: there is no webhook endpoint ${action.endpointId}`)
    if (action.type === 'create_record') {
      const target = registry.byName(action.model)
      if (!target) {
        problems.push(`${path}.model: there is no model "${action.model}"`)
        continue
      }
      // A template counts as the value it will be: present, and text.
      attempt(`${path}.values`, () => parseValues(tx, target, action.values, { partial: false }))
      for (const [name, value] of Object.entries(action.values)) {
        if (typeof value !== 'string' || target.fields.find((field) => field.name === name)?.restricted)
          continue
        for (const placeholder of placeholdersOf(value))
          if (model.fields.find((field) => field.name === placeholder)?.restricted)
            problems.push(
              `${path}.values.${name}: ${placeholder} is for internal users only, and ${target.name}'s ${name} is not`,
            )
      }
    }
  }
  return problems
}

function endpointExists(tx: Tx, id: number): boolean {
  return (
    tx.select({ id: webhookEndpoints.id }).from(webhookEndpoints).where(eq(webhookEndpoints.id, id)).get() !==
    undefined
  )
}
