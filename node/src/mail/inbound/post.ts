import { and, eq, sql } from 'drizzle-orm'
import { queueRuleEvent } from '../../automation/runner.ts'
import { escapeHtml } from '../../chatter/body.ts'
import { insertMessage, subtypeByKey } from '../../chatter/repository.ts'
import type { Tx } from '../../db/client.ts'
import { once } from '../../db/raw.ts'
import { attachments, messages, partners, records } from '../../db/schema.ts'
import { follow } from '../../followers/repository.ts'
import type { Effects } from '../../live/events.ts'
import type { Model } from '../../models/registry.ts'
import { messageMail } from '../../notifications/mail-content.ts'
import { notifyMessage } from '../../notifications/notify.ts'
import { partnerIdsOfUsers } from '../../people/repository.ts'
import type { RecordRow } from '../../records/repository.ts'
import { parseValues } from '../../records/values.ts'
import type { SiteSettings } from '../../settings.ts'
import { recordWebhook } from '../../webhooks/emit.ts'
import type { StoredFile } from './files.ts'
import type { AliasRow, SenderPartner } from './policy.ts'

/** What every message made from one email carries. */
export type EmailContent = {
  /** Sanitized HTML, without the quoted history. */
  html: string
  files: StoredFile[]
  /** The sender's address, lower case. */
  from: string
  /** Its Message-ID (or the one made for it); only the first message made from a mail stores it. */
  emailMessageId: string | null
}

/**
 * Posts an email on a record as its author wrote it: a message of the discussion subtype, or a note
 * when it answers a note (a reply to an internal message stays internal, and the note's author is told
 * as if mentioned). Followers are told like for any message.
 */
export function postEmail(
  tx: Tx,
  input: {
    record: RecordRow
    model: Model
    author: SenderPartner
    parentId: number | null
    content: EmailContent
    site: SiteSettings
    now: number
    effects: Effects
  },
): number {
  const { record, content } = input
  // Every mail posted runs these: each built once per connection.
  const parentQuery = once(tx, 'mailIn.parent', () =>
    tx
      .select({ id: messages.id, internal: messages.internal, authorPartnerId: messages.authorPartnerId })
      .from(messages)
      .where(eq(messages.id, sql.placeholder('id')))
      .prepare(),
  )
  const setEmailFields = once(tx, 'mailIn.setEmailFields', () =>
    tx
      .update(messages)
      .set({
        parentId: sql`${sql.placeholder('parentId')}`,
        emailMessageId: sql`${sql.placeholder('emailMessageId')}`,
        emailFrom: sql`${sql.placeholder('emailFrom')}`,
      })
      .where(eq(messages.id, sql.placeholder('id')))
      .prepare(),
  )
  const parent = input.parentId === null ? undefined : parentQuery.get({ id: input.parentId })
  const note = parent?.internal === true
  const subtype = subtypeByKey(tx, note ? 'note' : 'comment')
  const message = insertMessage(tx, {
    recordId: record.id,
    type: 'comment',
    kind: note ? 'note' : 'message',
    subtypeId: subtype.id,
    internal: subtype.internal,
    authorPartnerId: input.author.id,
    body: content.html,
    createdAt: input.now,
  })
  setEmailFields.run({
    parentId: parent?.id ?? null,
    emailMessageId: content.emailMessageId,
    emailFrom: content.from,
    id: message.id,
  })
  if (content.files.length > 0)
    tx.insert(attachments)
      .values(
        content.files.map((file) => ({
          ...file,
          recordId: record.id,
          messageId: message.id,
          uploadedBy: null,
          createdAt: input.now,
        })),
      )
      .run()
  const toldAuthor =
    note && parent?.authorPartnerId != null && parent.authorPartnerId !== input.author.id
      ? [{ partnerId: parent.authorPartnerId, reason: 'mention' as const }]
      : []
  notifyMessage(tx, {
    message: {
      id: message.id,
      recordId: record.id,
      internal: message.internal,
      subtypeKey: subtype.key,
      authorPartnerId: input.author.id,
    },
    explicit: toldAuthor,
    mail: messageMail({
      company: input.site.company,
      publicUrl: input.site.publicUrl,
      record,
      modelLabel: input.model.label,
      authorName: input.author.name,
      html: content.html || filesLine(content.files),
      tracking: [],
    }),
    now: input.now,
    effects: input.effects,
  })
  input.effects.events.push({
    scope: 'record',
    recordId: record.id,
    type: 'message.created',
    messageId: message.id,
  })
  queueRuleEvent(tx, { kind: 'message_received', recordId: record.id, via: 'email', now: input.now })
  return message.id
}

/**
 * A new record from an email to a model alias: named after the subject, the alias's defaults, the
 * sender as the customer and its email where the model has such fields. The sender follows it, so
 * answers posted on it reach them; the assignee a default names follows it too.
 */
export function createFromEmail(
  tx: Tx,
  input: {
    alias: AliasRow
    model: Model
    author: SenderPartner
    subject: string
    from: string
    now: number
    effects: Effects
  },
): RecordRow {
  const { model } = input
  const wanted: Record<string, unknown> = { ...input.alias.defaults, name: recordName(input.subject) }
  for (const field of model.fields) {
    if (field.type === 'partner' && field.name === 'partner_id' && wanted[field.name] === undefined)
      wanted[field.name] = input.author.id
    if (field.type === 'char' && field.name === 'email' && wanted[field.name] === undefined)
      wanted[field.name] = input.from
  }
  const values = parseValues(tx, model, wanted, { partial: false })
  const assigneeId = model.assigneeField
    ? ((values[model.assigneeField.name] as number | null | undefined) ?? null)
    : null
  // Every new lead runs it: built once per connection.
  const insertRecord = once(tx, 'mailIn.insertRecord', () =>
    tx
      .insert(records)
      .values({
        modelId: sql.placeholder('modelId'),
        name: sql.placeholder('name'),
        values: sql.placeholder('values'),
        createdBy: null,
        assigneeId: sql.placeholder('assigneeId'),
        createdAt: sql.placeholder('now'),
        updatedAt: sql.placeholder('now'),
      })
      .returning()
      .prepare(),
  )
  const record = insertRecord.get({
    modelId: model.id,
    name: String(values.name),
    values,
    assigneeId,
    now: input.now,
  })
  if (!record) throw new Error('records: the insert returned no row')
  recordWebhook(tx, 'record.created', { record, model, now: input.now })
  follow(tx, {
    recordId: record.id,
    partnerId: input.author.id,
    subscription: 'all',
    now: input.now,
    existing: 'keep',
  })
  const subtype = subtypeByKey(tx, 'tracking')
  const created = insertMessage(tx, {
    recordId: record.id,
    type: 'notification',
    kind: 'tracking',
    subtypeId: subtype.id,
    internal: false,
    authorPartnerId: input.author.id,
    body: `<p>${escapeHtml(model.label)} created from an email</p>`,
    createdAt: input.now,
  })
  input.effects.events.push({
    scope: 'record',
    recordId: record.id,
    type: 'message.created',
    messageId: created.id,
  })
  if (assigneeId !== null) {
    const partnerId = partnerIdsOfUsers(tx, [assigneeId]).get(assigneeId)
    if (partnerId !== undefined) {
      follow(tx, { recordId: record.id, partnerId, subscription: 'all', now: input.now, existing: 'keep' })
      notifyMessage(tx, {
        message: {
          id: created.id,
          recordId: record.id,
          internal: false,
          subtypeKey: subtype.key,
          authorPartnerId: input.author.id,
        },
        explicit: [{ partnerId, reason: 'assigned' }],
        mail: () => null,
        now: input.now,
        effects: input.effects,
      })
    }
  }
  return record
}

/**
 * The sender's partner, made from the From display name when the address is new. Such a contact is
 * marked as made from mail: an alias open to everyone let it in, which makes it no known contact.
 * An unauthenticated From that is one of our users' addresses is someone else's word for it: its
 * contact is named by the address and marked, so the chatter never shows a stranger as a colleague.
 */
export function ensureSenderPartner(
  tx: Tx,
  input: {
    known: SenderPartner | undefined
    address: string
    name: string
    authenticated: boolean
    now: number
  },
): SenderPartner {
  if (input.known) return input.known
  const posingAsUser =
    !input.authenticated &&
    tx
      .select({ id: partners.id })
      .from(partners)
      .where(and(eq(partners.internal, true), sql`lower(${partners.email}) = ${input.address}`))
      .get() !== undefined
  const row = tx
    .insert(partners)
    .values({
      name: posingAsUser ? `${input.address} (not verified)` : input.name || input.address,
      email: input.address,
      internal: false,
      fromMail: true,
      createdAt: input.now,
    })
    .returning()
    .get()
  return { id: row.id, name: row.name, internal: false, fromMail: true }
}

/** Mail came from this address: it works again, whatever bounced before. */
export function resetBounces(tx: Tx, address: string): void {
  // Every mail routed runs it: built once per connection.
  const statement = once(tx, 'mailIn.resetBounces', () =>
    tx
      .update(partners)
      .set({ emailBounces: 0 })
      .where(sql`lower(${partners.email}) = ${sql.placeholder('address')} and ${partners.emailBounces} > 0`)
      .prepare(),
  )
  statement.run({ address })
}

function filesLine(files: StoredFile[]): string {
  return files.length ? `<p>${escapeHtml(files.map((file) => file.fileName).join(', '))}</p>` : ''
}

/** Record names are short; a subject folded over thousands of lines is cut. */
const NAME_CHARS = 200

function recordName(subject: string): string {
  if (!subject) return '(no subject)'
  return subject.length > NAME_CHARS ? `${subject.slice(0, NAME_CHARS - 1)}…` : subject
}
