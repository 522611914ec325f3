import type { IncomingHttpHeaders } from 'node:http'
import { z } from 'zod'
import { NodeError } from '../errors.ts'

export { IdParams as AttachmentParams } from '../api/params.ts'

export const UploadQuery = z.object({
  /** The name the file is downloaded under; a path is cut down to its last part. */
  fileName: z
    .string()
    .transform((name) => name.split(/[/\\]/).pop()?.trim() ?? '')
    .pipe(
      z
        .string()
        .min(1, 'the file needs a name')
        .max(255)
        .regex(/^[^\p{Cc}]*$/u, 'no control characters')
        // Bidi overrides make "invoice\u202Efdp.exe" show as "invoiceexe.pdf".
        .regex(/^[^\u202A-\u202E\u2066-\u2069]*$/u, 'no text direction overrides'),
    ),
  /** The record the file is for; the caller must be able to read it. Posting it on a message sets it too. */
  recordId: z.coerce.number().int().positive().optional(),
})

/** type/subtype as RFC 9110 tokens, then optional parameters (`; charset=utf-8`), section 8.3.1. */
const TOKEN = "[!#$%&'*+.^_`|~0-9a-z-]+"
const MEDIA_TYPE = new RegExp(
  `^(${TOKEN}/${TOKEN})\\s*((?:;\\s*${TOKEN}=(?:${TOKEN}|"(?:[^"\\\\]|\\\\.)*")\\s*)*)$`,
  'i',
)

/**
 * What an upload declares in its headers: its length (required: it is checked against the limit
 * before a byte is read, and a body that ends short of it is refused) and its media type (any type is
 * accepted; none means application/octet-stream).
 */
export function uploadHeaders(
  headers: IncomingHttpHeaders,
  maxBytes: number,
): { declaredBytes: number; mimeType: string } {
  const length = headers['content-length']
  if (length === undefined)
    throw new NodeError('E_LENGTH_REQUIRED', 'send the file with a Content-Length header, not chunked')
  if (!/^\d{1,16}$/.test(length))
    throw new NodeError('E_INVALID_HEADER', 'Content-Length: not a number of bytes')
  const declaredBytes = Number(length)
  if (declaredBytes > maxBytes)
    throw new NodeError(
      'E_ATTACHMENT_TOO_LARGE',
      `the file has ${declaredBytes} bytes; the node accepts at most ${maxBytes}`,
    )
  const type = headers['content-type']?.trim()
  if (type === undefined || type === '') return { declaredBytes, mimeType: 'application/octet-stream' }
  const match = type.length <= 200 ? MEDIA_TYPE.exec(type) : null
  if (!match) throw new NodeError('E_INVALID_HEADER', 'Content-Type: not a media type like image/png')
  const essence = (match[1] ?? '').toLowerCase()
  const parameters = match[2]?.trim()
  return { declaredBytes, mimeType: parameters ? `${essence}${parameters}` : essence }
}
