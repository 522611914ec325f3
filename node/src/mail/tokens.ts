import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { eq } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { nodeSecrets } from '../db/schema.ts'

/**
 * The signed values the node puts into the emails it sends, so that what comes back can be trusted
 * without a lookup table: the reply address, the bounce (VERP) address, the unfollow link and the
 * download link of an attachment too large to attach. Each is an HMAC-SHA256, under a key the node
 * makes once and keeps in its database, over a purpose and the values it binds: a token made for one
 * purpose never verifies for another.
 *
 * Address tokens live in the local part of an address, which mail systems may lower-case and which
 * holds at most 64 characters: they are lower-case base-36 numbers and hex, 80 bits of MAC. Link
 * tokens travel in URLs and carry 128 bits.
 */
const SECRET_NAME = 'mail-token-key'
const ADDRESS_MAC_HEX = 20
const LINK_MAC_BYTES = 16

export type ReplyTarget = { recordId: number; messageId: number; partnerId: number }
/** Which recipient row an email was sent for: a record notification, or an O'Chat member's. */
export type BounceTarget =
  | { source: 'record'; notificationId: number }
  | { source: 'ochat'; messageId: number; userId: number }
export type UnfollowTarget = { recordId: number; partnerId: number }
export type FileLinkTarget = { attachmentId: number; expiresAt: number }

export class MailTokens {
  readonly #key: Buffer

  private constructor(key: Buffer) {
    this.#key = key
  }

  /** The node's mail token key, made on first use and then read back (sent emails outlive restarts). */
  static load(db: Db, now: number): MailTokens {
    db.insert(nodeSecrets)
      .values({ name: SECRET_NAME, value: randomBytes(32).toString('base64url'), createdAt: now })
      .onConflictDoNothing()
      .run()
    const row = db.select().from(nodeSecrets).where(eq(nodeSecrets.name, SECRET_NAME)).get()
    if (!row) throw new Error('the mail token key was not stored')
    return new MailTokens(Buffer.from(row.value, 'base64url'))
  }

  /** For tests and tools that hold a key already. */
  static withKey(key: Buffer): MailTokens {
    return new MailTokens(key)
  }

  /** `<record>-<message>-<partner>-<mac>`: the part after `reply+` in a Reply-To address. */
  replyToken(target: ReplyTarget): string {
    const ids = [target.recordId, target.messageId, target.partnerId].map(base36).join('-')
    return `${ids}-${this.#addressMac('reply', ids)}`
  }

  readReplyToken(token: string): ReplyTarget | null {
    const parts = splitAddressToken(token, 3)
    if (!parts || !this.#addressMacMatches('reply', parts.ids, parts.mac)) return null
    const [recordId, messageId, partnerId] = parts.numbers as [number, number, number]
    return { recordId, messageId, partnerId }
  }

  /** `r<notification>-<mac>` or `o<message>-<user>-<mac>`: the part after `bounce+` in a Return-Path. */
  bounceToken(target: BounceTarget): string {
    const ids =
      target.source === 'record'
        ? `r${base36(target.notificationId)}`
        : `o${base36(target.messageId)}-${base36(target.userId)}`
    return `${ids}-${this.#addressMac('bounce', ids)}`
  }

  readBounceToken(token: string): BounceTarget | null {
    const lower = token.toLowerCase()
    const source = lower[0]
    const parts = splitAddressToken(lower.slice(1), source === 'r' ? 1 : 2)
    if (!parts || (source !== 'r' && source !== 'o')) return null
    if (!this.#addressMacMatches('bounce', `${source}${parts.ids}`, parts.mac)) return null
    if (source === 'r') return { source: 'record', notificationId: parts.numbers[0] as number }
    const [messageId, userId] = parts.numbers as [number, number]
    return { source: 'ochat', messageId, userId }
  }

  /** The token of an unfollow link (and of List-Unsubscribe): this partner, this record. */
  unfollowToken(target: UnfollowTarget): string {
    return this.#linkToken('unfollow', [target.recordId, target.partnerId])
  }

  readUnfollowToken(token: string): UnfollowTarget | null {
    const numbers = this.#readLinkToken('unfollow', token, 2)
    if (!numbers) return null
    const [recordId, partnerId] = numbers as [number, number]
    return { recordId, partnerId }
  }

  /** The token of a download link for an attachment left out of an email; expired ones do not verify. */
  fileLinkToken(target: FileLinkTarget): string {
    return this.#linkToken('file', [target.attachmentId, target.expiresAt])
  }

  readFileLinkToken(token: string, now: number): FileLinkTarget | null {
    const numbers = this.#readLinkToken('file', token, 2)
    if (!numbers) return null
    const [attachmentId, expiresAt] = numbers as [number, number]
    return expiresAt > now ? { attachmentId, expiresAt } : null
  }

  #mac(purpose: string, value: string): Buffer {
    return createHmac('sha256', this.#key).update(`ochat-mail:${purpose}:${value}`).digest()
  }

  #addressMac(purpose: string, ids: string): string {
    return this.#mac(purpose, ids).toString('hex').slice(0, ADDRESS_MAC_HEX)
  }

  #addressMacMatches(purpose: string, ids: string, mac: string): boolean {
    const expected = Buffer.from(this.#addressMac(purpose, ids))
    const given = Buffer.from(mac)
    return given.length === expected.length && timingSafeEqual(given, expected)
  }

  /** `<base36 values joined by .>.<base64url mac>` */
  #linkToken(purpose: string, values: number[]): string {
    const body = values.map(base36).join('.')
    return `${body}.${this.#mac(purpose, body).subarray(0, LINK_MAC_BYTES).toString('base64url')}`
  }

  #readLinkToken(purpose: string, token: string, count: number): number[] | null {
    if (token.length > 200) return null
    const parts = token.split('.')
    if (parts.length !== count + 1) return null
    const mac = parts.pop() as string
    const numbers = parts.map(fromBase36)
    if (numbers.some((value) => value === null)) return null
    const expected = this.#mac(purpose, parts.join('.')).subarray(0, LINK_MAC_BYTES)
    const given = Buffer.from(mac, 'base64url')
    // base64url ignores the spare bits of the last character: a token has one spelling only.
    if (given.toString('base64url') !== mac) return null
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null
    return numbers as number[]
  }
}

function base36(value: number): string {
  return value.toString(36)
}

/** A non-negative safe integer written in lower-case base 36, or null. */
function fromBase36(text: string): number | null {
  if (!/^[0-9a-z]{1,11}$/.test(text)) return null
  const value = Number.parseInt(text, 36)
  return Number.isSafeInteger(value) ? value : null
}

/** `<id>-…-<id>-<mac>` with `count` ids, lower-cased (mail systems may change the case). */
function splitAddressToken(
  token: string,
  count: number,
): { ids: string; numbers: number[]; mac: string } | null {
  if (token.length > 64) return null
  const parts = token.toLowerCase().split('-')
  if (parts.length !== count + 1) return null
  const mac = parts.pop() as string
  if (!/^[0-9a-f]+$/.test(mac)) return null
  const numbers = parts.map(fromBase36)
  if (numbers.some((value) => value === null)) return null
  return { ids: parts.join('-'), numbers: numbers as number[], mac }
}
