/**
 * How deeply a JSON body may nest arrays and objects on either server. No request of the protocol or of
 * the node's API goes past 6 levels; 64 leaves room for any honest client while staying far below the
 * depth at which recursive code over the parsed value (a hash of the body, zod, a presenter) would
 * exhaust the stack: a 60 kB body nested 10,000 deep did.
 */
export const MAX_JSON_DEPTH = 64

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_BRACE = 0x7b
const OPEN_BRACKET = 0x5b
const CLOSE_BRACE = 0x7d
const CLOSE_BRACKET = 0x5d

/**
 * Whether the JSON text in `bytes` opens more than `max` arrays or objects inside one another. One pass
 * over the bytes, no recursion and no allocation, so it runs before parsing on bodies of any size.
 * Brackets inside strings do not count; UTF-8 never encodes a non-ASCII character with ASCII bytes, so
 * scanning bytes is exact. Malformed JSON is left for the parser to refuse.
 */
export function jsonNestingExceeds(bytes: Uint8Array, max: number = MAX_JSON_DEPTH): boolean {
  let depth = 0
  let inString = false
  for (let index = 0; index < bytes.length; index++) {
    const byte = bytes[index]
    if (inString) {
      if (byte === BACKSLASH) index++
      else if (byte === QUOTE) inString = false
    } else if (byte === QUOTE) inString = true
    else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      if (++depth > max) return true
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) depth--
  }
  return false
}
