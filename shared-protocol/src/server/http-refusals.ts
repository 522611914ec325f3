import { STATUS_CODES } from 'node:http'
import type { ErrorBody } from '../errors.ts'

/**
 * What the relay and the node answer when their HTTP stack refuses a request before any route of
 * theirs runs. Both servers use Fastify on Node's HTTP parser, and both must answer these in the
 * error shape of PROTOCOL.md §9 with a stable code, so the mapping lives here once; each server turns
 * a `Refusal` into an error of its own catalog, which has every one of these codes.
 */
export type RefusalCode =
  | 'E_BAD_REQUEST'
  | 'E_BODY_TOO_LARGE'
  | 'E_HEADERS_TOO_LARGE'
  | 'E_INVALID_BODY'
  | 'E_INVALID_PARAMS'
  | 'E_METHOD_NOT_ALLOWED'
  | 'E_NOT_FOUND'
  | 'E_REQUEST_TIMEOUT'
  | 'E_UNSUPPORTED_MEDIA_TYPE'
  | 'E_URI_TOO_LONG'

export type Refusal = { code: RefusalCode; detail?: string }

/**
 * Headers on every answer, JSON included: browsers must not guess a type (`nosniff`), no page may
 * frame ours (clickjacking), and no URL leaks to another site through Referer. The CSP is the
 * strictest: an answer that is not one of the node's UI pages (an error, an API answer opened in a
 * tab, anything of the relay's) may load and run nothing. An answer that sets its own keeps it.
 */
export const SECURITY_HEADERS = Object.freeze({
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
})

/** Adds the SECURITY_HEADERS an answer does not set itself (a Fastify reply, in an onSend hook). */
export function addSecurityHeaders(reply: {
  hasHeader(name: string): boolean
  header(name: string, value: string): unknown
}): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS))
    if (!reply.hasHeader(name)) reply.header(name, value)
}

/**
 * Fastify's own refusals, by their stable code (never by message text); a code not listed is mapped
 * by its status, so a new one still gets a stable code. Undefined for anything that is not a 4xx:
 * that is the server's failure, not the caller's.
 */
export function frameworkRefusal(error: {
  code?: string | undefined
  statusCode?: number | undefined
  message: string
}): Refusal | undefined {
  const known = error.code ? FASTIFY_CODES[error.code] : undefined
  if (known) return known
  const status = error.statusCode
  if (status === undefined || status < 400 || status >= 500) return undefined
  return { code: BY_STATUS[status] ?? 'E_BAD_REQUEST', detail: error.message }
}

const FASTIFY_CODES: Record<string, Refusal> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'E_BODY_TOO_LARGE' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'E_UNSUPPORTED_MEDIA_TYPE' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'E_INVALID_BODY', detail: 'the body is not valid JSON' },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'E_INVALID_BODY', detail: 'the body is not valid JSON' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    code: 'E_INVALID_BODY',
    detail: 'the body is not as long as its Content-Length says',
  },
  FST_ERR_BAD_URL: { code: 'E_INVALID_PARAMS', detail: 'the URL is not validly percent-encoded' },
  FST_ERR_MAX_PARAM_LENGTH: {
    code: 'E_URI_TOO_LONG',
    detail: 'a path parameter is longer than 100 characters',
  },
  FST_ERR_NOT_FOUND: { code: 'E_NOT_FOUND' },
}

const BY_STATUS: Record<number, RefusalCode> = {
  404: 'E_NOT_FOUND',
  405: 'E_METHOD_NOT_ALLOWED',
  408: 'E_REQUEST_TIMEOUT',
  413: 'E_BODY_TOO_LARGE',
  414: 'E_URI_TOO_LONG',
  415: 'E_UNSUPPORTED_MEDIA_TYPE',
  431: 'E_HEADERS_TOO_LARGE',
}

/**
 * Node's HTTP parser refused the bytes before there is a request (headers over 16 kB, bytes that are
 * not HTTP, a request that took too long). Undefined for a connection reset: no one is left to answer.
 */
export function parserRefusal(error: { code?: string | undefined }): Refusal | undefined {
  if (error.code === 'ECONNRESET') return undefined
  if (error.code === 'HPE_HEADER_OVERFLOW')
    return { code: 'E_HEADERS_TOO_LARGE', detail: 'the request line and headers are over 16 kB' }
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') return { code: 'E_REQUEST_TIMEOUT' }
  return { code: 'E_BAD_REQUEST', detail: 'the bytes received are not an HTTP/1.1 request' }
}

/**
 * Whether a raw answer may be written on this socket: not when a response to an earlier, pipelined
 * request is already under way on it, or the raw bytes would land inside that response.
 */
export function canAnswerOn(socket: object): boolean {
  const current = (socket as { _httpMessage?: { headersSent?: boolean } | null })._httpMessage
  return (socket as { writable?: boolean }).writable === true && !current?.headersSent
}

/** An HTTP/1.1 answer written on the socket by hand (before there is a request to reply to), closing it. */
export function rawResponse(status: number, body: ErrorBody): string {
  const json = JSON.stringify(body)
  const headers = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(json)),
    connection: 'close',
    ...SECURITY_HEADERS,
  }
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`)
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n${lines.join('')}\r\n${json}`
}

/**
 * A WebSocket error the client caused (a frame over the size limit, bad UTF-8, a reserved opcode) or a
 * connection it dropped: worth a warning, not an error in the server's log.
 */
export function isClientSocketError(code: string | undefined): boolean {
  return code !== undefined && (code.startsWith('WS_ERR_') || code === 'ECONNRESET' || code === 'EPIPE')
}
