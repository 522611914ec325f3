/**
 * Canonical bytes for everything that is signed (PROTOCOL.md §2, "Canonical bytes").
 *
 * The encoding is JSON as produced by ECMAScript's JSON.stringify, with three extra rules taken from
 * RFC 8785 (JCS), restricted to the values our schemas allow:
 *   - object members are sorted by key, comparing UTF-16 code units, recursively;
 *   - no whitespace;
 *   - numbers must be safe integers (no floats, NaN, Infinity or -0), so no number formatting is needed.
 * Members whose value is `undefined` are omitted, so an absent optional field and a field set to
 * `undefined` sign the same. Anything else (bigint, Date, functions, symbols, sparse holes, class
 * instances) is refused, because its JSON form would not be obvious to another implementation.
 */

export type CanonicalValue =
  | null
  | boolean
  | number
  | string
  | readonly CanonicalValue[]
  | { readonly [key: string]: CanonicalValue | undefined }

export class CanonicalEncodingError extends Error {
  override name = 'CanonicalEncodingError'
}

export function canonicalJson(value: unknown): string {
  return encode(value, '$')
}

export function canonicalBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalJson(value))
}

function encode(value: unknown, path: string): string {
  if (value === null) return 'null'
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false'
    case 'string':
      if (!value.isWellFormed()) throw new CanonicalEncodingError(`${path}: string has a lone surrogate`)
      return JSON.stringify(value)
    case 'number':
      if (!Number.isSafeInteger(value) || Object.is(value, -0)) {
        throw new CanonicalEncodingError(`${path}: only safe integers can be signed, got ${value}`)
      }
      return String(value)
    case 'object':
      return Array.isArray(value) ? encodeArray(value, path) : encodeObject(value, path)
    default:
      throw new CanonicalEncodingError(`${path}: ${typeof value} cannot be signed`)
  }
}

function encodeArray(items: readonly unknown[], path: string): string {
  const parts: string[] = []
  for (let index = 0; index < items.length; index++) {
    if (!(index in items))
      throw new CanonicalEncodingError(`${path}[${index}]: sparse arrays cannot be signed`)
    const item = items[index]
    if (item === undefined) throw new CanonicalEncodingError(`${path}[${index}]: undefined in an array`)
    parts.push(encode(item, `${path}[${index}]`))
  }
  return `[${parts.join(',')}]`
}

function encodeObject(object: object, path: string): string {
  const prototype = Object.getPrototypeOf(object)
  if (prototype !== Object.prototype && prototype !== null) {
    throw new CanonicalEncodingError(`${path}: only plain objects can be signed`)
  }
  const record = object as Record<string, unknown>
  // Default sort compares UTF-16 code units, which is what RFC 8785 §3.2.3 asks for.
  const keys = Object.keys(record).sort()
  const members: string[] = []
  for (const key of keys) {
    const member = record[key]
    if (member === undefined) continue
    members.push(`${encode(key, path)}:${encode(member, `${path}.${key}`)}`)
  }
  return `{${members.join(',')}}`
}
