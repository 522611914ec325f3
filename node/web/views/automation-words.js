/**
 * Rules in a person's words, for the list of rules and each rule's page: when a rule fires ("3 days
 * after Deadline (Europe/Brussels)") and what each of its actions does ("email Ann Smith: “Welcome”").
 */

/** The times every record has, beside its date fields, that a time trigger can count from. */
export const TIME_ANCHORS = [
  ['createdAt', 'Created on'],
  ['updatedAt', 'Last updated on'],
  ['activityDeadline', 'An activity’s deadline'],
]

/** How a message came in, for the message_received trigger. */
export const CHANNELS = [
  ['any', 'by email or O’Chat'],
  ['email', 'by email'],
  ['ochat', 'by O’Chat'],
]

/** Quotes a text a person wrote, cut to a length a table cell can hold. */
const quoted = (text, length = 60) =>
  `“${text.length > length ? `${text.slice(0, length - 1).trimEnd()}…` : text}”`

/** A field's label as it reads inside a sentence, or its name when the model no longer has it. */
function labelOf(model, name) {
  const anchor = TIME_ANCHORS.find(([key]) => key === name)
  if (anchor) return anchor[1]
  return model?.fields.find((item) => item.name === name)?.label ?? name
}

/** When a rule fires, in a person's words: "when created", "when stage is set to Won", "when updated (Stage)". */
export function triggerInWords(trigger, model) {
  const fieldOf = (name) => model?.fields.find((item) => item.name === name)
  switch (trigger.kind) {
    case 'create':
      return 'when created'
    case 'update': {
      const labels = trigger.fields.map((name) => fieldOf(name)?.label.toLowerCase() ?? name)
      return labels.length === 0 ? 'when updated' : `when updated (${labels.join(', ')})`
    }
    case 'time': {
      const amount = Math.abs(trigger.offset)
      const unit = amount === 1 ? trigger.unit.replace(/s$/, '') : trigger.unit
      const when =
        trigger.offset === 0
          ? `at ${labelOf(model, trigger.field)}`
          : `${amount} ${unit} ${trigger.offset < 0 ? 'before' : 'after'} ${labelOf(model, trigger.field)}`
      // Without a zone of its own, the rule reads days in its author's zone: the list cannot know it.
      return trigger.timeZone ? `${when} (${trigger.timeZone})` : when
    }
    case 'message_received': {
      const channel = CHANNELS.find(([key]) => key === trigger.via)
      return trigger.via === 'any' || !channel
        ? 'when a message comes in'
        : `when a message comes in ${channel[1]}`
    }
    case 'archive':
      return 'when a record is archived'
    case 'ochat_failed':
      return 'when an O’Chat message fails'
    case 'webhook':
      return 'when an integrator calls its URL'
    default: {
      const watched = fieldOf(trigger.field)
      const choice = watched?.choices?.find((item) => item.value === trigger.value)
      const value = choice?.label ?? (trigger.value === null ? 'nothing' : String(trigger.value))
      return `when ${watched?.label.toLowerCase() ?? trigger.field} is set to ${value}`
    }
  }
}

/**
 * What one action does, in a person's words. `names` gives a contact's name from its id (the page
 * loads them), `endpoints` the webhook endpoints, `models` every model (for create_record).
 */
export function actionInWords(action, { model, models, names, endpoints }) {
  const people = (ids, field) => {
    const named = ids.map((id) => names(id))
    if (field) named.push(`the record’s ${labelOf(model, field)}`)
    return named.join(', ')
  }
  switch (action.type) {
    case 'post_message':
      return `${action.kind === 'note' ? 'log a note' : 'send a message'}: ${quoted(action.body)}`
    case 'set_values':
      return `set ${Object.keys(action.values)
        .map((name) => labelOf(model, name))
        .join(', ')}`
    case 'schedule_activity':
      return action.summary
        ? `schedule ${quoted(action.summary)} (${action.activityType})`
        : `schedule a ${action.activityType}`
    case 'add_followers':
      return `add followers: ${people(action.partnerIds, action.field)}`
    case 'remove_followers':
      return `remove followers: ${people(action.partnerIds)}`
    case 'create_record': {
      const label = models.find((item) => item.name === action.model)?.label ?? action.model
      return `create a ${label}`
    }
    case 'send_email':
      return `email ${people(action.to.partnerIds, action.to.field)}: ${quoted(action.subject)}`
    case 'call_webhook': {
      const endpoint = endpoints.find((item) => item.id === action.endpointId)
      return endpoint ? `call ${endpoint.url}` : `call webhook endpoint ${action.endpointId} (deleted)`
    }
    default:
      return action.type
  }
}
