import { randomBytes } from 'node:crypto'
import { and, eq, notInArray } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { incomingMails, messages, partners, records } from '../../db/schema.ts'
import { NodeError } from '../../errors.ts'
import type { Effects } from '../../live/events.ts'
import type { StoredFile } from './files.ts'
import { overLoopLimit } from './loop-guard.ts'
import type { InboundMail } from './parse.ts'
import { partnerOfAddress, refusalByPolicy, type SenderPartner } from './policy.ts'
import { createFromEmail, ensureSenderPartner, postEmail, resetBounces } from './post.ts'
import type { InboundDeps, InboundOutcome } from './receive.ts'
import { type Addressing, CATCHALL, findRoutes, localParts } from './route.ts'

/** What routing decided for a mail, before its incoming_mails row is written. */
export type Decision = {
  outcome: InboundOutcome
  reason: string | null
  recordId: number | null
  messageId: number | null
  aliasId?: number | null
  /** A refusal by policy (5.7.1) rather than an unknown address (5.1.1). */
  policy?: boolean
  /** Tell the sender why (a refusal of a person's mail, never of an automatic one). */
  notice?: boolean
}

/** Routes, checks who may write, guards against loops, then posts or creates. Runs in the transaction. */
export function routeAndPost(
  deps: InboundDeps,
  tx: Tx,
  input: {
    mail: InboundMail
    addressing: Addressing
    sender: string
    html: string
    files: StoredFile[]
    now: number
    effects: Effects
  },
): Decision {
  const { mail, sender, now } = input
  const none = { recordId: null, messageId: null }
  resetBounces(tx, sender)
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
  const known = partnerOfAddress(tx, sender)
  const allowed = routes.filter((candidate) =>
    candidate.kind === 'post' && candidate.alias === null
      ? true
      : refusalByPolicy(tx, {
          alias: candidate.alias as NonNullable<typeof candidate.alias>,
          sender: known,
          recordId: candidate.kind === 'post' ? candidate.recordId : null,
        }) === null,
  )
  const first = routes[0]
  if (allowed.length === 0 && first) {
    const alias = first.alias as NonNullable<typeof first.alias>
    const reason = refusalByPolicy(tx, {
      alias,
      sender: known,
      recordId: first.kind === 'post' ? first.recordId : null,
    })
    return { outcome: 'refused', reason, ...none, aliasId: alias.id, policy: true, notice: true }
  }
  const creates = allowed.some((candidate) => candidate.kind === 'create')
  const outcome = creates ? 'created' : 'posted'
  if (overLoopLimit(tx, { sender, outcome, now }))
    return {
      outcome: 'loop',
      reason: `more than 20 mails from ${sender} in 120 minutes: dropped as a loop`,
      ...none,
    }
  const fromToken = allowed.find(
    (candidate) => candidate.kind === 'post' && candidate.tokenPartnerId !== null,
  )
  const author: SenderPartner =
    tokenAuthor(tx, fromToken?.kind === 'post' ? fromToken.tokenPartnerId : null) ??
    ensureSenderPartner(tx, { known, address: sender, name: input.mail.from?.name ?? '', now })
  let result: { recordId: number; messageId: number } | null = null
  let emailMessageId: string | null =
    mail.messageId ?? `ochat.in.${randomBytes(8).toString('hex')}@${input.addressing.mailDomain}`
  for (const target of allowed) {
    const content = { html: input.html, files: input.files, from: sender, emailMessageId }
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
  return { outcome, reason: null, ...result }
}

function tokenAuthor(tx: Tx, partnerId: number | null): SenderPartner | undefined {
  if (partnerId === null) return undefined
  return tx
    .select({ id: partners.id, name: partners.name, internal: partners.internal })
    .from(partners)
    .where(and(eq(partners.id, partnerId), eq(partners.active, true)))
    .get()
}

/** A message or a mail we took in already has this Message-ID; refused and unreadable ones may come again. */
export function seenBefore(tx: Tx, messageId: string): boolean {
  const message = tx
    .select({ id: messages.id })
    .from(messages)
    .where(eq(messages.emailMessageId, messageId))
    .get()
  if (message) return true
  return (
    tx
      .select({ id: incomingMails.id })
      .from(incomingMails)
      .where(
        and(
          eq(incomingMails.emailMessageId, messageId),
          notInArray(incomingMails.outcome, ['refused', 'error']),
        ),
      )
      .get() !== undefined
  )
}
