import { randomBytes } from 'node:crypto'
import { and, asc, eq, isNull } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { messages, outgoingMail } from '../db/schema.ts'

/** The Message-IDs an email carries, without angle brackets. */
export type ThreadIds = { own: string; parent: string | null }

/**
 * Gives the email of `mail` its Message-ID and finds the one it answers, assigning both where missing
 * (stored, so every recipient's copy and every later email of the record use the same ones). A
 * message's own id lives on the message; an email with no message behind it (an assignment, an
 * O'Chat notification) keeps it on the mail. The parent is the message answered, else the record's
 * first message that is not internal (a note's id must not travel in a customer's References), so
 * every email of a record threads together in the recipient's mail program.
 * Runs in the write queue: two recipients of one message cannot both assign one.
 */
export function ensureThreadIds(
  tx: Tx,
  input: { mail: { id: number; messageId: number | null; recordId: number | null }; mailDomain: string },
): ThreadIds {
  const { mail, mailDomain } = input
  const own =
    mail.messageId !== null ? messageIdOf(tx, mail.messageId, mailDomain) : mailIdOf(tx, mail.id, mailDomain)
  const parentId = threadParentOf(tx, mail)
  return { own, parent: parentId === null ? null : messageIdOf(tx, parentId, mailDomain) }
}

/**
 * The same ids when they are all assigned already, read without a write: only a message's first
 * recipient has to go through the write queue to assign them.
 */
export function existingThreadIds(
  tx: Tx,
  input: { mail: { id: number; messageId: number | null; recordId: number | null } },
): ThreadIds | null {
  const { mail } = input
  const own = mail.messageId !== null ? storedMessageId(tx, mail.messageId) : storedMailId(tx, mail.id)
  if (!own) return null
  const parentId = threadParentOf(tx, mail)
  if (parentId === null) return { own, parent: null }
  const parent = storedMessageId(tx, parentId)
  return parent ? { own, parent } : null
}

/** The message an email answers: its message's parent, else the record's first message that is not internal. */
function threadParentOf(tx: Tx, mail: { messageId: number | null; recordId: number | null }): number | null {
  if (mail.recordId === null) return null
  const parentId =
    (mail.messageId !== null
      ? tx.select({ parentId: messages.parentId }).from(messages).where(eq(messages.id, mail.messageId)).get()
          ?.parentId
      : null) ??
    tx
      .select({ id: messages.id })
      .from(messages)
      .where(and(eq(messages.recordId, mail.recordId), eq(messages.internal, false)))
      .orderBy(asc(messages.id))
      .limit(1)
      .get()?.id
  return parentId === undefined || parentId === null || parentId === mail.messageId ? null : parentId
}

function storedMessageId(tx: Tx, messageId: number): string | null {
  return (
    tx.select({ id: messages.emailMessageId }).from(messages).where(eq(messages.id, messageId)).get()?.id ??
    null
  )
}

function storedMailId(tx: Tx, mailId: number): string | null {
  return (
    tx.select({ id: outgoingMail.emailMessageId }).from(outgoingMail).where(eq(outgoingMail.id, mailId)).get()
      ?.id ?? null
  )
}

/** Random, so Message-IDs say nothing guessable and never repeat across nodes or restores. */
function newId(kind: string, id: number, mailDomain: string): string {
  return `ochat.${kind}${id}.${randomBytes(8).toString('hex')}@${mailDomain}`
}

function messageIdOf(tx: Tx, messageId: number, mailDomain: string): string {
  tx.update(messages)
    .set({ emailMessageId: newId('m', messageId, mailDomain) })
    .where(and(eq(messages.id, messageId), isNull(messages.emailMessageId)))
    .run()
  const id = storedMessageId(tx, messageId)
  if (!id) throw new Error(`message ${messageId} is gone`)
  return id
}

function mailIdOf(tx: Tx, mailId: number, mailDomain: string): string {
  tx.update(outgoingMail)
    .set({ emailMessageId: newId('o', mailId, mailDomain) })
    .where(and(eq(outgoingMail.id, mailId), isNull(outgoingMail.emailMessageId)))
    .run()
  const id = storedMailId(tx, mailId)
  if (!id) throw new Error(`mail ${mailId} is gone`)
  return id
}
