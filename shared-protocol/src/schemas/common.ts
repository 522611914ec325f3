import { z } from 'zod'
import { isBase64Url } from '../encoding.ts'

/** The protocol version this code speaks. Every versioned structure carries `v` (PROTOCOL.md §10). */
export const PROTOCOL_VERSION = 1 as const
export const VersionSchema = z.literal(PROTOCOL_VERSION, {
  error: (issue) =>
    `unsupported protocol version ${JSON.stringify(issue.input)}; this side speaks v${PROTOCOL_VERSION}`,
})

/** Base64url (no padding) of exactly `bytes` bytes. */
export function base64UrlBytes(bytes: number, what: string) {
  const length = Math.ceil((bytes * 4) / 3)
  // With the length above, text that isBase64Url holds exactly `bytes` bytes: no need to decode it.
  return z
    .string()
    .length(length, { message: `${what} must be ${bytes} bytes in base64url (${length} characters)` })
    .refine(isBase64Url, { message: `${what} must be ${bytes} bytes in base64url` })
}

/** Base64url (no padding) of at most `maxBytes` bytes. */
export function base64UrlUpTo(maxBytes: number, what: string) {
  return z
    .string()
    .max(Math.ceil((maxBytes * 4) / 3), { message: `${what} is larger than ${maxBytes} bytes` })
    .refine(isBase64Url, {
      message: `${what} must be base64url without padding`,
    })
}

export const PublicKeySchema = base64UrlBytes(32, 'public key')
export const SignatureSchema = base64UrlBytes(64, 'signature')
export const Sha256Schema = base64UrlBytes(32, 'SHA-256 digest')

/**
 * Instance ids are derived from the first identity key (PROTOCOL.md §1) and never change, even when
 * the keys rotate: "oc_" + 26 lowercase base32 characters.
 */
export const InstanceIdSchema = z
  .string()
  .regex(/^oc_[a-z2-7]{26}$/, { message: 'not an instance id (oc_ + 26 base32)' })
export type InstanceId = z.infer<typeof InstanceIdSchema>

/** Relay ids look like instance ids with another prefix. */
export const RelayIdSchema = z
  .string()
  .regex(/^rl_[a-z2-7]{26}$/, { message: 'not a relay id (rl_ + 26 base32)' })
export type RelayId = z.infer<typeof RelayIdSchema>

/** Envelope, receipt and connection ids: UUIDs, chosen by whoever creates the thing (we mint v7). */
/**
 * Lower case only: PostgreSQL and most stores fold UUIDs to lower case, so an id in capitals would name
 * the same row as its lower-case twin while comparing unequal everywhere else.
 */
export const IdSchema = z
  .uuid({ message: 'not a UUID' })
  .refine((id) => id === id.toLowerCase(), { message: 'a UUID is written in lower case' })

/** True if `text` holds a C0 control character or DEL; tab, line feed and carriage return may be allowed. */
export function hasControlCharacters(text: string, allowLineBreaks: boolean): boolean {
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index)
    if (allowLineBreaks && (code === 9 || code === 10 || code === 13)) continue
    if (code < 32 || code === 127) return true
  }
  return false
}

/** Free text people type (messages, notes): no NUL or other control characters but tab and line breaks. */
export function plainText(maxChars: number) {
  return z
    .string()
    .max(maxChars)
    .refine((text) => !hasControlCharacters(text, true), { message: 'text cannot hold control characters' })
}

/** Milliseconds since the Unix epoch, UTC. Seconds appear only in HTTP headers, where standards ask for them. */
export const TimestampMsSchema = z.int().min(0).max(8_640_000_000_000_000)

/**
 * Names shown to people. Refused, not trimmed, when they have surrounding spaces: a schema that changes
 * a value would let a signed structure verify in a form other than the one that was signed.
 */
export const DisplayNameSchema = z
  .string()
  .min(1)
  .max(200)
  .refine((name) => !hasControlCharacters(name, false), { message: 'a name cannot hold control characters' })
  .refine((name) => name.trim() === name && name.length > 0, {
    message: 'a name cannot start or end with spaces',
  })
