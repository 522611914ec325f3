import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { eq } from 'drizzle-orm'
import type { Db } from '../../db/client.ts'
import { nodeSecrets } from '../../db/schema.ts'

/**
 * The signed addresses of the emails an email channel sends: the Reply-To (`reply+c…`) that brings a
 * partner's answer back into its channel, and the envelope sender (`bounce+p…`) that brings a
 * delivery report back to the message it is about. Under the node's mail token key (mail/tokens.ts
 * makes and keeps it), with purposes of their own, so no record token verifies as one of these or the
 * other way round. Their first letter (`c`, `p`) is one the record tokens never start with, so the
 * intake tells them apart before checking anything.
 *
 * They live in the local part of an address (at most 64 characters, which mail systems may
 * lower-case): lower-case base-36 ids and 80 bits of hex MAC, as the record tokens.
 */
const SECRET_NAME = 'mail-token-key'
const MAC_HEX = 20

/** A reply into a channel, to one message of ours in it. */
export type ChannelReplyTarget = { channelId: number; messageId: number }
/** The email of one outgoing message of an email channel. */
export type PartnerBounceTarget = { messageId: number }

/** One per database, for callers that have none handed to them (the mail intake). */
const loaded = new WeakMap<Db, ChannelTokens>()

export class ChannelTokens {
  readonly #key: Buffer

  private constructor(key: Buffer) {
    this.#key = key
  }

  /** The node's mail token key, made on first use as mail/tokens.ts makes it, then read back. */
  static load(db: Db, now: number): ChannelTokens {
    db.insert(nodeSecrets)
      .values({ name: SECRET_NAME, value: randomBytes(32).toString('base64url'), createdAt: now })
      .onConflictDoNothing()
      .run()
    const row = db.select().from(nodeSecrets).where(eq(nodeSecrets.name, SECRET_NAME)).get()
    if (!row) throw new Error('the mail token key was not stored')
    return new ChannelTokens(Buffer.from(row.value, 'base64url'))
  }

  /** The node's tokens, loaded once per database. */
  static of(db: Db, now: number): ChannelTokens {
    let tokens = loaded.get(db)
    if (!tokens) {
      tokens = ChannelTokens.load(db, now)
      loaded.set(db, tokens)
    }
    return tokens
  }

  /** `c<channel>-<message>-<mac>`: the part after `reply+` in the Reply-To of a channel's email. */
  replyToken(target: ChannelReplyTarget): string {
    const ids = `c${base36(target.channelId)}-${base36(target.messageId)}`
    return `${ids}-${this.#mac('channel-reply', ids)}`
  }

  readReplyToken(token: string): ChannelReplyTarget | null {
    const parts = split(token, 'c', 2)
    if (!parts || !this.#matches('channel-reply', parts.ids, parts.mac)) return null
    const [channelId, messageId] = parts.numbers as [number, number]
    return { channelId, messageId }
  }

  /** `p<message>-<mac>`: the part after `bounce+` in the envelope sender of a channel's email. */
  bounceToken(target: PartnerBounceTarget): string {
    const ids = `p${base36(target.messageId)}`
    return `${ids}-${this.#mac('partner-bounce', ids)}`
  }

  readBounceToken(token: string): PartnerBounceTarget | null {
    const parts = split(token, 'p', 1)
    if (!parts || !this.#matches('partner-bounce', parts.ids, parts.mac)) return null
    return { messageId: parts.numbers[0] as number }
  }

  #mac(purpose: string, ids: string): string {
    return createHmac('sha256', this.#key)
      .update(`ochat-mail:${purpose}:${ids}`)
      .digest('hex')
      .slice(0, MAC_HEX)
  }

  #matches(purpose: string, ids: string, mac: string): boolean {
    const expected = Buffer.from(this.#mac(purpose, ids))
    const given = Buffer.from(mac)
    return given.length === expected.length && timingSafeEqual(given, expected)
  }
}

function base36(value: number): string {
  return value.toString(36)
}

/** `<prefix><id>-…-<id>-<mac>` with `count` ids, lower-cased (mail systems may change the case). */
function split(
  token: string,
  prefix: string,
  count: number,
): { ids: string; numbers: number[]; mac: string } | null {
  const lower = token.toLowerCase()
  if (lower.length > 64 || !lower.startsWith(prefix)) return null
  const parts = lower.slice(prefix.length).split('-')
  if (parts.length !== count + 1) return null
  const mac = parts.pop() as string
  if (!/^[0-9a-f]+$/.test(mac)) return null
  const numbers = parts.map((part) => (/^[0-9a-z]{1,11}$/.test(part) ? Number.parseInt(part, 36) : null))
  if (numbers.some((value) => value === null || !Number.isSafeInteger(value))) return null
  return { ids: `${prefix}${parts.join('-')}`, numbers: numbers as number[], mac }
}
