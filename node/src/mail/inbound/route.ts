import { and, eq, inArray, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { inList, once } from '../../db/raw.ts'
import { mailAliases, messages, outgoingMail, records } from '../../db/schema.ts'
import type { MailTokens, ReplyTarget } from '../tokens.ts'
import type { InboundMail } from './parse.ts'
import type { AliasRow } from './policy.ts'

/** The local part of the address that takes what no alias does; mail to it is refused, never posted. */
export const CATCHALL = 'catchall'

/** Where one mail goes: an answer on a record, a post through a record alias, or a new record. */
export type Route =
  | {
      kind: 'post'
      recordId: number
      modelId: number
      /** The message answered, when known. */
      parentId: number | null
      /** The email answered (outgoing_mail), when a reply names one of ours that is no message. */
      mailId: number | null
      /** The partner our reply token was made for: it wrote the reply when From is their address. */
      tokenPartnerId: number | null
      /** A record alias (its contact policy applies); null for a reply (who may answer applies). */
      alias: AliasRow | null
    }
  | { kind: 'create'; alias: AliasRow }

export type Addressing = {
  /** To, Cc, Delivered-To and the envelope's RCPT TO, lower case, once each. */
  recipients: string[]
  mailDomain: string
}

/** The local parts at our domain of the addresses a mail was sent to. */
export function localParts(addressing: Addressing): string[] {
  const suffix = `@${addressing.mailDomain.toLowerCase()}`
  return addressing.recipients
    .filter((address) => address.endsWith(suffix))
    .map((address) => address.slice(0, -suffix.length))
}

/** The tokens of bounce+TOKEN addresses among the recipients. */
export function bounceTokensOf(addressing: Addressing): string[] {
  return localParts(addressing).flatMap((local) => (local.startsWith('bounce+') ? [local.slice(7)] : []))
}

/**
 * The routes of a mail that is neither a bounce nor automatic, in Odoo's order: our reply token, then
 * In-Reply-To/References to our Message-IDs (an alias of another model among the recipients makes it a
 * forward: a new record there), then record aliases, then model aliases (one route each). None: refused.
 */
export function findRoutes(
  tx: Tx,
  input: { mail: InboundMail; addressing: Addressing; tokens: MailTokens },
): Route[] {
  const locals = localParts(input.addressing)
  const aliases = activeAliases(tx, locals)
  const reply = byReplyToken(tx, locals, input.tokens) ?? byThreadIds(tx, input.mail.threadIds)
  if (reply) {
    const forwards = aliases.filter((alias) => alias.recordId === null && alias.modelId !== reply.modelId)
    if (forwards.length > 0) return forwards.map((alias) => ({ kind: 'create', alias }))
    return [
      {
        kind: 'post',
        recordId: reply.recordId,
        modelId: reply.modelId,
        parentId: reply.parentId,
        mailId: reply.mailId,
        tokenPartnerId: reply.partnerId,
        alias: null,
      },
    ]
  }
  const routes: Route[] = []
  for (const alias of aliases)
    if (alias.recordId !== null)
      routes.push({
        kind: 'post',
        recordId: alias.recordId,
        modelId: alias.modelId,
        parentId: null,
        mailId: null,
        tokenPartnerId: null,
        alias,
      })
  for (const alias of aliases) if (alias.recordId === null) routes.push({ kind: 'create', alias })
  return routes
}

/**
 * Whether an address is one this node takes mail for: an alias, reply+…, bounce+…. Mail written to
 * the catchall itself would be refused after reading it all: it is refused at RCPT instead.
 */
export function takesAddress(tx: Tx, input: { address: string; mailDomain: string }): boolean {
  const [local = '', ...rest] = input.address.toLowerCase().split('@')
  if (rest.join('@') !== input.mailDomain.toLowerCase()) return false
  if (local.startsWith('reply+') || local.startsWith('bounce+')) return true
  return activeAliases(tx, [local]).length > 0
}

/** Every mail and every RCPT TO asks: built once per connection. */
function activeAliases(tx: Tx, locals: string[]): AliasRow[] {
  const names = [...new Set(locals)].filter((local) => !local.includes('+'))
  if (names.length === 0) return []
  const query = once(tx, 'mailIn.activeAliases', () =>
    tx
      .select()
      .from(mailAliases)
      .where(and(inList(mailAliases.name, 'names'), eq(mailAliases.active, true)))
      .orderBy(mailAliases.id)
      .prepare(),
  )
  return query.all({ names: JSON.stringify(names) })
}

type Reply = {
  recordId: number
  modelId: number
  parentId: number | null
  mailId: number | null
  partnerId: number | null
}

/** A forged or stale token names nothing: the mail goes on as if sent to an unknown address. */
function byReplyToken(tx: Tx, locals: string[], tokens: MailTokens): Reply | undefined {
  for (const local of locals) {
    if (!local.startsWith('reply+')) continue
    const target = tokens.readReplyToken(local.slice(6))
    const reply = target ? replyOfToken(tx, target) : undefined
    if (reply) return reply
  }
  return undefined
}

/**
 * What a verified reply token answers. The one place a token's target is turned into a place to post:
 * a new kind of target (another kind of thread) is added here.
 */
function replyOfToken(tx: Tx, target: ReplyTarget): Reply | undefined {
  // Most mail in answers ours: built once per connection.
  const recordQuery = once(tx, 'mailIn.tokenRecord', () =>
    tx
      .select({ id: records.id, modelId: records.modelId })
      .from(records)
      .where(eq(records.id, sql.placeholder('id')))
      .prepare(),
  )
  const parentQuery = once(tx, 'mailIn.tokenParent', () =>
    tx
      .select({ id: messages.id })
      .from(messages)
      .where(and(eq(messages.id, sql.placeholder('id')), eq(messages.recordId, sql.placeholder('recordId'))))
      .prepare(),
  )
  const record = recordQuery.get({ id: target.recordId })
  // A deleted record: the reply falls through to the aliases, which may create a new one.
  if (!record) return undefined
  const parent =
    target.messageId === 0 ? undefined : parentQuery.get({ id: target.messageId, recordId: record.id })
  return {
    recordId: record.id,
    modelId: record.modelId,
    parentId: parent?.id ?? null,
    mailId: null,
    partnerId: target.partnerId,
  }
}

function byThreadIds(tx: Tx, ids: string[]): Reply | undefined {
  if (ids.length === 0) return undefined
  const found = tx
    .select({
      emailMessageId: messages.emailMessageId,
      id: messages.id,
      recordId: records.id,
      modelId: records.modelId,
    })
    .from(messages)
    .innerJoin(records, eq(records.id, messages.recordId))
    .where(inArray(messages.emailMessageId, ids))
    .all()
  const mails = tx
    .select({
      emailMessageId: outgoingMail.emailMessageId,
      id: outgoingMail.id,
      recordId: records.id,
      modelId: records.modelId,
    })
    .from(outgoingMail)
    .innerJoin(records, eq(records.id, outgoingMail.recordId))
    .where(inArray(outgoingMail.emailMessageId, ids))
    .all()
  // In-Reply-To first, then References from the newest.
  for (const id of ids) {
    const message = found.find((row) => row.emailMessageId === id)
    if (message)
      return {
        recordId: message.recordId,
        modelId: message.modelId,
        parentId: message.id,
        mailId: null,
        partnerId: null,
      }
    const mail = mails.find((row) => row.emailMessageId === id)
    if (mail)
      return {
        recordId: mail.recordId,
        modelId: mail.modelId,
        parentId: null,
        mailId: mail.id,
        partnerId: null,
      }
  }
  return undefined
}
