import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { eq } from 'drizzle-orm'
import type { Db } from '../db/client.ts'
import { nodeSecrets } from '../db/schema.ts'
import { randomToken } from './tokens.ts'

/**
 * Device cookies: after a successful login the browser gets a long-lived cookie that says "this
 * browser once logged in as this login". A login attempt presenting it is judged on that device's own
 * failures only (login-throttle.ts), so guesses from elsewhere never lock the real user out.
 *
 * The value is `nonce.issuedAt.mac`, the MAC an HMAC-SHA256 over the login, the nonce and the time
 * with a key the node makes once and keeps in its database. The login is not in the cookie: a cookie
 * verifies only against the login it was issued for.
 */
export const DEVICE_COOKIE = 'ochat_device'
/** Sent only to the login route: no other request needs it. */
export const DEVICE_COOKIE_PATH = '/api/v1/session'
/** How long a browser stays known without logging in again: 180 days. */
export const DEVICE_COOKIE_MAX_AGE_MS = 180 * 24 * 3600 * 1000
const SECRET_NAME = 'device-cookie-key'

export class DeviceCookies {
  readonly #key: Buffer

  private constructor(key: Buffer) {
    this.#key = key
  }

  /** The node's device-cookie key, made on first use and then read back (cookies outlive restarts). */
  static load(db: Db, now: number): DeviceCookies {
    db.insert(nodeSecrets)
      .values({ name: SECRET_NAME, value: randomBytes(32).toString('base64url'), createdAt: now })
      .onConflictDoNothing()
      .run()
    const row = db.select().from(nodeSecrets).where(eq(nodeSecrets.name, SECRET_NAME)).get()
    if (!row) throw new Error('the device-cookie key was not stored')
    return new DeviceCookies(Buffer.from(row.value, 'base64url'))
  }

  issue(login: string, now: number): string {
    const nonce = randomToken(16)
    return `${nonce}.${now}.${this.#mac(login, nonce, now)}`
  }

  /** The device's nonce when `value` is a cookie this node issued for `login` and still valid. */
  verify(value: string | undefined, login: string, now: number): string | undefined {
    const [nonce, issued, mac, ...rest] = (value ?? '').split('.')
    if (!nonce || !issued || !mac || rest.length > 0 || !/^\d{1,15}$/.test(issued)) return undefined
    const issuedAt = Number(issued)
    if (now - issuedAt > DEVICE_COOKIE_MAX_AGE_MS || issuedAt > now) return undefined
    const expected = Buffer.from(this.#mac(login, nonce, issuedAt))
    const given = Buffer.from(mac)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
    return nonce
  }

  #mac(login: string, nonce: string, issuedAt: number): string {
    return createHmac('sha256', this.#key).update(`${login}\n${nonce}\n${issuedAt}`).digest('base64url')
  }
}
