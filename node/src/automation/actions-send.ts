import { escapeHtml, renderBody } from '../chatter/body.ts'
import { insertMessage, subtypeByKey } from '../chatter/repository.ts'
import type { Tx } from '../db/client.ts'
import { headerText } from '../notifications/mail-content.ts'
import { deliver, type MailContent } from '../notifications/notify.ts'
import type { Recipient } from '../notifications/recipients.ts'
import { candidates } from '../notifications/repository.ts'
import { emitWebhookTo } from '../webhooks/events.ts'
import type { Context } from './actions.ts'
import { fill, fillText, partnerInField } from './record-values.ts'
import type { Action } from './schema.ts'

/**
 * An email from a template to the contacts the rule names (and the one in a field of the record),
 * as Odoo's "Send Email": a message in the record's chatter by the rule's author, emailed to those
 * recipients only, whatever they chose for their notifications; followers are not told. The emails
 * are queued in the transaction and sent after the commit. A recipient who cannot be emailed fails
 * the action: the rule promised an email, and a silent skip would hide that it never went.
 * Answers what it did.
 */
export function sendEmail(tx: Tx, action: Extract<Action, { type: 'send_email' }>, context: Context): string {
  const { record, model, principal, site } = context
  const ids = new Set(action.to.partnerIds)
  if (action.to.field !== undefined) {
    const partnerId = partnerInField(tx, model, record, action.to.field)
    if (partnerId !== undefined) ids.add(partnerId)
  }
  if (ids.size === 0) throw new Error(`send_email: the record's ${action.to.field} is empty: nobody to email`)
  const found = new Map(candidates(tx, [...ids]).map((candidate) => [candidate.partnerId, candidate]))
  const recipients: Recipient[] = [...ids].map((partnerId) => {
    const candidate = found.get(partnerId)
    if (!candidate) throw new Error(`send_email: there is no contact ${partnerId}`)
    if (!candidate.partnerActive || candidate.userActive === false)
      throw new Error(`send_email: ${candidate.name} is archived and cannot be emailed`)
    if (!candidate.email) throw new Error(`send_email: ${candidate.name} has no email address`)
    return {
      partnerId,
      name: candidate.name,
      email: candidate.email,
      userId: candidate.userId,
      channel: 'email',
      reason: 'message',
    }
  })

  const source = { record, model, site, timeZone: principal.timeZone }
  const subject = headerText(fillText(tx, action.subject, source))
  const html = renderBody(fill(tx, action.body, source), 'html')
  // A discussion message, so who may see it is decided as for any message sent from the chatter.
  const subtype = subtypeByKey(tx, 'comment')
  const message = insertMessage(tx, {
    recordId: record.id,
    type: 'comment',
    kind: 'message',
    subtypeId: subtype.id,
    internal: subtype.internal,
    authorPartnerId: principal.partnerId,
    body: `<p><strong>${escapeHtml(subject)}</strong></p>${html}`,
    createdAt: context.now,
  })
  const mail: MailContent = (audience) => ({
    subject,
    body: `${html}${
      audience === 'user'
        ? `<p><a href="${escapeHtml(`${site.publicUrl}/#/records/${record.id}`)}">View ${escapeHtml(model.label)}</a></p>`
        : ''
    }<p>— ${escapeHtml(site.company)}</p>`,
  })
  deliver(tx, {
    recipients,
    recordId: record.id,
    messageId: message.id,
    activityId: null,
    mail,
    now: context.now,
    effects: context.effects,
  })
  context.effects.events.push({
    scope: 'record',
    recordId: record.id,
    type: 'message.created',
    messageId: message.id,
  })
  return `emailed “${subject}” to ${recipients.map((recipient) => recipient.name).join(', ')}`
}

/**
 * Queues a signed `automation.fired` event for the one endpoint the rule names, in the change's
 * transaction; the dispatcher delivers it after the commit, with its retries and delivery log.
 * Restricted values go only to an endpoint allowed internal items, as in every record event.
 */
export function callWebhook(
  tx: Tx,
  action: Extract<Action, { type: 'call_webhook' }>,
  context: Context,
): string {
  const { record, model } = context
  // Endpoints are administrators' to see and use; rules run as their author.
  if (context.principal.role !== 'admin')
    throw new Error('call_webhook: only an administrator’s rule may call a webhook')
  const restricted = new Set(model.fields.filter((field) => field.restricted).map((field) => field.name))
  const open = Object.fromEntries(Object.entries(record.values).filter(([name]) => !restricted.has(name)))
  const about = { id: record.id, model: model.name, name: record.name }
  const queued = emitWebhookTo(tx, action.endpointId, {
    type: 'automation.fired',
    internal: false,
    data: {
      id: record.id,
      rule: { id: context.rule.id, name: context.rule.name },
      record: { ...about, values: open },
    },
    ...(restricted.size > 0 ? { internalData: { record: { ...about, values: record.values } } } : {}),
    path: `/api/v1/records/${record.id}`,
    now: context.now,
  })
  if (!queued) throw new Error(`call_webhook: there is no webhook endpoint ${action.endpointId}`)
  return `queued a call to webhook endpoint ${action.endpointId}`
}
