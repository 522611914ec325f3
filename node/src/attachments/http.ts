/**
 * `Content-Disposition: attachment` with the file name twice (RFC 6266 section 4.3): `filename*` in
 * UTF-8, percent-encoded as RFC 5987 `ext-value` (only attr-chars stay as they are), and a plain ASCII
 * `filename` fallback for the few clients that ignore `filename*`.
 */
export function contentDisposition(fileName: string): string {
  const fallback = fileName.replace(/[^\x20-\x7e]|["\\%]/g, '_')
  const encoded = encodeURIComponent(fileName).replace(
    /[!'()*]/g,
    (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`,
  )
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`
}

/** An inclusive byte range of a file of known size. */
export type ByteRange = { start: number; end: number }

/**
 * Reads a `Range` header (RFC 9110 section 14): `bytes=a-b`, `bytes=a-` or `bytes=-n`.
 * - `undefined`: no header, or one the node ignores (several ranges, another unit, bad syntax); the
 *   whole file is sent with 200, as RFC 9110 allows a server to do.
 * - `'unsatisfiable'`: a well-formed range that starts past the end (416).
 */
export function parseRange(
  header: string | undefined,
  size: number,
): ByteRange | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!match) return undefined
  const [, first = '', last = ''] = match
  if (first === '' && last === '') return undefined
  if (first === '') {
    // A suffix: the last n bytes.
    const length = Number(last)
    if (length === 0 || size === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - length), end: size - 1 }
  }
  const start = Number(first)
  const end = last === '' ? size - 1 : Number(last)
  if (last !== '' && end < start) return undefined
  if (start >= size) return 'unsatisfiable'
  return { start, end: Math.min(end, size - 1) }
}
