import { randomBytes } from 'node:crypto'
import { and, eq, notInArray, sql } from 'drizzle-orm'
import { runRules } from '../../automation/engine.ts'
import type { Tx } from '../../db/client.ts'
import { once } from '../../db/raw.ts'
import { incomingMails, messages, records } from '../../db/schema.ts'
import { NodeError } from '../../errors.ts'
import type { Effects } from '../../live/events.ts'
import type { SenderAuthentication } from './authentication.ts'
import { type PendingFile, placePending, type StoredFile } from './files.ts'
import { overLoopLimit } from './loop-guard.ts'
import type { InboundMail } from './parse.ts'
import {
  partnerById,
  partnerOfAddress,
  refusalByPolicy,
  refusalOfReply,
  type SenderPartner,
} from './policy.ts'
import { createFromEmail, ensureSenderPartner, postEmail, resetBounces } from './post.ts'
import type { InboundDeps, InboundOutcome } from './receive.ts'
import { type Addressing, CATCHALL, findRoutes, localParts, type Route } from './route.ts'

/** What routing decided for a mail, before its incoming_mails row is written. */
export type Decision = {
  outcome: InboundOutcome
  reason: string | null
  recordId: number | null
  messageId: number | null
  aliasId?: number | null
  /** A refusal by policy (5.7.1) rather than an unknown address (5.1.1). */
  policy?: boolean
  /** What the sending server is answered instead of `reason`, when the reason is the company's own business. */
  told?: string
  /** Tell the sender why (a refusal of a person's mail, never of an automatic one). */
  notice?: boolean
  /** For the administrator's list only: whether the sender was authenticated, and how. */
  note?: string
}

/** Routes, checks who may write, guards against loops, then posts or creates. Runs in the transaction. */
export function routeAndPost(
  deps: InboundDeps,
  tx: Tx,
  input: {
    mail: InboundMail
    addressing: Addressing
    sender: string
    /** Whether a trusted mail server proved the From address. */
    auth: SenderAuthentication
    html: string
    /** The attachments, written to temp files before the transaction. */
    pending: PendingFile[]
    /** Filled with the files placed in the store, so that a rolled-back transaction can remove them. */
    stored: StoredFile[]
    /** Filled with the store's directories that got a file: fsynced after the commit. */
    directories: Set<string>
    now: number
    effects: Effects
  },
): Decision {
  const { mail, sender, now } = input
  const none = { recordId: null, messageId: null }
  const routes = findRoutes(tx, { mail, addressing: input.addressing, tokens: deps.tokens })
  if (routes.length === 0) {
    const catchall = localParts(input.addressing).includes(CATCHALL)
    return {
      outcome: 'refused',
      reason: catchall
        ? 'no address here takes mail: do not write to the catchall'
        : 'no address here takes mail',
      ...none,
      notice: true,
    }
  }
  const note = input.auth.detail
  const known = partnerOfAddress(tx, { address: sender, authenticated: input.auth.authenticated })
  const checked = routes.map((route) => ({
    route,
    ...admit(tx, { route, sender, known, authenticated: input.auth.authenticated }),
  }))
  const allowed = checked.filter((entry) => entry.refusal === null)
  const first = checked[0]
  if (allowed.length === 0 && first)
    return {
      outcome: 'refused',
      reason: first.refusal,
      ...none,
      aliasId: first.route.alias?.id ?? null,
      policy: true,
      notice: true,
      note,
    }
  const creates = allowed.some((entry) => entry.route.kind === 'create')
  const outcome = creates ? 'created' : 'posted'
  if (overLoopLimit(tx, { sender, outcome, now }))
    return {
      outcome: 'loop',
      reason: `more than 20 mails from ${sender} in 120 minutes: dropped as a loop`,
      ...none,
    }
  const bound = allowed.find((entry) => entry.author)?.author
  // The address works again, whatever bounced before, when the mail shows it is really theirs: a
  // forged From, even one let in by an open alias, must not clear another person's bounces.
  if (input.auth.authenticated || bound) resetBounces(tx, sender)
  const author: SenderPartner =
    bound ??
    ensureSenderPartner(tx, {
      known,
      address: sender,
      name: input.mail.from?.name ?? '',
      authenticated: input.auth.authenticated,
      now,
    })
  // Placed only now that the mail is to be posted: refused mail leaves no file behind.
  const files = placePending(deps.config.attachmentDir, input.pending, input.directories)
  input.stored.push(...files)
  let result: { recordId: number; messageId: number } | null = null
  let emailMessageId: string | null =
    mail.messageId ?? `ochat.in.${randomBytes(8).toString('hex')}@${input.addressing.mailDomain}`
  for (const { route: target } of allowed) {
    const content = { html: input.html, files, from: sender, emailMessageId }
    let made: { recordId: number; messageId: number }
    if (target.kind === 'create') {
      const model = deps.registry.byId(target.alias.modelId)
      if (!model) throw new NodeError('E_INVALID_BODY', `the model of ${target.alias.name}@ is gone`)
      const record = createFromEmail(tx, {
        alias: target.alias,
        model,
        author,
        subject: mail.subject,
        from: sender,
        now,
        effects: input.effects,
      })
      made = {
        recordId: record.id,
        messageId: postEmail(tx, {
          record,
          model,
          author,
          parentId: null,
          content,
          site: deps.config,
          now,
          effects: input.effects,
        }),
      }
      // The rules on creation run once the mail is on the record, as for a record made by hand.
      runRules(tx, {
        kind: 'create',
        model,
        registry: deps.registry,
        record,
        before: null,
        site: deps.config,
        now,
        effects: input.effects,
      })
    } else {
      const record = tx.select().from(records).where(eq(records.id, target.recordId)).get()
      const model = record && deps.registry.byId(record.modelId)
      if (!record || !model) continue
      made = {
        recordId: record.id,
        messageId: postEmail(tx, {
          record,
          model,
          author,
          parentId: target.parentId,
          content,
          site: deps.config,
          now,
          effects: input.effects,
        }),
      }
    }
    // The Message-ID is unique among messages: the first one holds it, copies on other records do not.
    emailMessageId = null
    result ??= made
  }
  if (!result) return { outcome: 'refused', reason: 'no address here takes mail', ...none, notice: true }
  return { outcome, reason: null, ...result, note }
}

/**
 * Whether a route lets this sender in: an alias by its contact policy; a reply when it comes from the
 * address our reply token was made for (then written by that partner: the token, sent to that
 * address only, proves the mail answers ours), else by who may answer the record. A token does not
 * make anyone one of our users: it travels in forwarded mail, and a From is only the sender's word,
 * so a token made for a user counts only with an authenticated From.
 */
function admit(
  tx: Tx,
  input: { route: Route; sender: string; known: SenderPartner | undefined; authenticated: boolean },
): { refusal: string | null; author?: SenderPartner } {
  const { route, known } = input
  if (route.kind === 'create')
    return { refusal: refusalByPolicy(tx, { alias: route.alias, sender: known, recordId: null }) }
  if (route.alias)
    return { refusal: refusalByPolicy(tx, { alias: route.alias, sender: known, recordId: route.recordId }) }
  const bound = route.tokenPartnerId === null ? undefined : partnerById(tx, route.tokenPartnerId)
  if (bound && bound.email?.toLowerCase() === input.sender && (!bound.internal || input.authenticated))
    return {
      refusal: null,
      author: { id: bound.id, name: bound.name, internal: bound.internal, fromMail: bound.fromMail },
    }
  return {
    refusal: refusalOfReply(tx, {
      sender: known,
      recordId: route.recordId,
      modelId: route.modelId,
      parentId: route.parentId,
      mailId: route.mailId,
    }),
  }
}

/** A message or a mail we took in already has this Message-ID; refused and unreadable ones may come again. */
export function seenBefore(tx: Tx, messageId: string): boolean {
  // Every mail with a Message-ID asks: both built once per connection.
  const message = once(tx, 'mailIn.seenMessage', () =>
    tx
      .select({ id: messages.id })
      .from(messages)
      .where(eq(messages.emailMessageId, sql.placeholder('messageId')))
      .prepare(),
  )
  const mail = once(tx, 'mailIn.seenMail', () =>
    tx
      .select({ id: incomingMails.id })
      .from(incomingMails)
      .where(
        and(
          eq(incomingMails.emailMessageId, sql.placeholder('messageId')),
          notInArray(incomingMails.outcome, ['refused', 'error']),
        ),
      )
      .prepare(),
  )
  return message.get({ messageId }) !== undefined || mail.get({ messageId }) !== undefined
}
