import {
  type Catalog,
  CatalogError,
  type ErrorExtra,
  type ErrorInit,
  rejectionInit,
  serverErrors,
} from '@ochat/shared-protocol/server'
import type { z } from 'zod'

/**
 * The relay's error catalog: one stable code, an HTTP status, a reason prefix and a message that tells
 * the caller what to do next. Routes throw `RelayError`s; one handler turns anything into an ErrorBody.
 */
export const CATALOG = {
  E_INVALID_BODY: { status: 400, prefix: 'invalid', message: 'The request body is not valid; see details.' },
  E_INVALID_PARAMS: { status: 400, prefix: 'invalid', message: 'The request path or query is not valid.' },
  E_BAD_REQUEST: {
    status: 400,
    prefix: 'invalid',
    message: 'The request is not valid HTTP; see the reason.',
  },
  E_REQUEST_TIMEOUT: {
    status: 408,
    prefix: 'invalid',
    message: 'The request did not arrive in time; send it again.',
  },
  E_URI_TOO_LONG: {
    status: 414,
    prefix: 'invalid',
    message: 'A part of the URL is longer than the relay accepts.',
  },
  E_UPGRADE_REQUIRED: {
    status: 426,
    prefix: 'invalid',
    message: 'This is a WebSocket: open it with an HTTP Upgrade request.',
  },
  E_HEADERS_TOO_LARGE: {
    status: 431,
    prefix: 'invalid',
    message: 'The URL and headers together are larger than the relay accepts (16 kB).',
  },
  E_METHOD_NOT_ALLOWED: {
    status: 405,
    prefix: 'invalid',
    message: 'This method is not allowed here; see the API document at /docs.',
  },
  E_BODY_TOO_LARGE: {
    status: 413,
    prefix: 'invalid',
    message: 'The request body is larger than the relay accepts.',
  },
  E_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    prefix: 'invalid',
    message: 'Send JSON (Content-Type: application/json).',
  },
  E_NOT_FOUND: { status: 404, prefix: 'invalid', message: 'Not found, or you do not have access to it.' },
  E_AUTH_REQUIRED: {
    status: 401,
    prefix: 'auth-required',
    message: 'Sign this request with your instance identity key.',
  },
  E_SUSPENDED: {
    status: 403,
    prefix: 'blocked',
    message: 'This instance is suspended by the relay operator. Contact the operator to have it reinstated.',
  },
  E_REGISTRATION_INVITE_REQUIRED: {
    status: 403,
    prefix: 'blocked',
    message: 'This relay registers instances by invitation only. Ask the operator for an invite token.',
  },
  E_REGISTRATION_INVITE_INVALID: {
    status: 403,
    prefix: 'blocked',
    message: 'The invite token is unknown, expired or already used. Ask the operator for a new one.',
  },
  E_REGISTRATION_CONFLICT: {
    status: 409,
    prefix: 'invalid',
    message: 'An instance with this identity key is already registered with other details.',
  },
  E_CONNECTION_SELF: { status: 400, prefix: 'invalid', message: 'An instance cannot connect to itself.' },
  E_CONNECTION_EXISTS: {
    status: 409,
    prefix: 'invalid',
    message: 'A pending or accepted connection with this instance already exists.',
  },
  E_REGISTRATION_RATE_LIMITED: {
    status: 429,
    prefix: 'rate-limited',
    message: 'Too many registrations from this address; retry after the delay given.',
  },
  E_CONNECTION_RATE_LIMITED: {
    status: 429,
    prefix: 'rate-limited',
    message: 'Too many connection requests from this instance or address; retry after the delay given.',
  },
  E_CONNECTION_REQUESTS_FULL: {
    status: 429,
    prefix: 'rate-limited',
    message:
      'This instance is not accepting more connection requests now. Try again later, or reach the company another way.',
  },
  E_CONNECTION_RECENTLY_REJECTED: {
    status: 429,
    prefix: 'rate-limited',
    message: 'This instance rejected your request recently; you may ask again after the delay given.',
  },
  E_CONNECTION_TRANSITION: {
    status: 409,
    prefix: 'invalid',
    message: 'This action is not possible in the connection’s current state.',
  },
  E_CONNECTION_NOT_ACCEPTED: {
    status: 403,
    prefix: 'blocked',
    message:
      'There is no accepted connection between these instances. Ask the other company to accept your request.',
  },
  E_ENVELOPE_FROM_MISMATCH: {
    status: 403,
    prefix: 'blocked',
    message: 'An envelope’s "from" must be the instance that submits it.',
  },
  E_ENVELOPE_ID_TAKEN: {
    status: 409,
    prefix: 'invalid',
    message: 'This envelope id is already used by another sender.',
  },
  E_RATE_LIMITED: {
    status: 429,
    prefix: 'rate-limited',
    message: 'Too many envelopes; retry after the delay given.',
  },
  E_RECEIPT_MALFORMED: {
    status: 400,
    prefix: 'invalid',
    message: 'The receipt does not match the receipt schema.',
  },
  E_RECEIPT_MISADDRESSED: {
    status: 400,
    prefix: 'invalid',
    message: 'A receipt must come from the instance that sends it.',
  },
  E_RECEIPT_BAD_SIGNATURE: {
    status: 400,
    prefix: 'invalid',
    message: 'The receipt is not signed by the current identity key of the instance that sends it.',
  },
  E_RECEIPT_UNKNOWN_ENVELOPE: {
    status: 400,
    prefix: 'invalid',
    message: 'The receipt names an envelope that its addressee did not send to you.',
  },
  E_UPLOAD_STALLED: {
    status: 408,
    prefix: 'error',
    message: 'The upload stopped sending data and was cut off; nothing was stored. Upload it again.',
  },
  E_UPLOAD_TOO_SLOW: {
    status: 408,
    prefix: 'error',
    message: 'The upload was too slow and was cut off; nothing was stored. Upload it again.',
  },
  E_BLOB_LENGTH: {
    status: 400,
    prefix: 'invalid',
    message:
      'The upload does not match what was declared; nothing was stored. Declare the blob again and re-upload.',
  },
  E_RANGE: { status: 416, prefix: 'invalid', message: 'The requested range is outside the file.' },
  E_UNAVAILABLE: {
    status: 503,
    prefix: 'error',
    message: 'The relay cannot reach its database; retry later.',
  },
  E_INTERNAL: {
    status: 500,
    prefix: 'error',
    message: 'The relay failed; the operator has the details in the logs.',
  },
} as const satisfies Catalog

export type RelayErrorCode = keyof typeof CATALOG

/** A relay error: one of the catalog's codes, or the code of a protocol rejection (`fromRejection`). */
export class RelayError extends CatalogError<RelayErrorCode | (string & {})> {
  override name = 'RelayError'

  constructor(code: RelayErrorCode, detail?: string, extra?: ErrorExtra)
  constructor(init: ErrorInit<string>)
  constructor(code: RelayErrorCode | ErrorInit<string>, detail?: string, extra: ErrorExtra = {}) {
    super(typeof code === 'string' ? { code, ...CATALOG[code], detail, ...extra } : code)
  }

  /** A protocol rejection (`{ code, reason }` from shared-protocol) carried as an HTTP error. */
  static fromRejection(
    status: number,
    rejection: { code: string; reason: string },
    message?: string,
  ): RelayError {
    return new RelayError(rejectionInit(status, rejection, message))
  }
}

/**
 * The shared handlers, answering in the relay's catalog. What the relay adds: a database it cannot
 * reach is a 503 to retry, text PostgreSQL cannot store is still the caller's input, and a failure is
 * logged without the query parameters it may carry.
 */
const handlers = serverErrors({
  create: (code, detail, extra) => new RelayError(code, detail, extra),
  mapUnknown: (error) => {
    if (isDatabaseUnavailable(error)) return new RelayError('E_UNAVAILABLE')
    // A NUL byte, bad encoding, or a value over a column's length that slipped past a schema.
    if (['22021', '22P05', '22001'].includes(errorCode(error) ?? ''))
      return new RelayError('E_INVALID_BODY', 'a text field holds characters that cannot be stored')
    return undefined
  },
  loggable,
  socket: { name: 'socket', peer: 'node' },
})

/** Parses with a shared schema, or throws E_INVALID_BODY listing every bad field. */
export function parseBody<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  return handlers.parse(schema, value)
}

export const {
  invalidInput,
  installErrorHandler,
  frameworkErrors,
  clientErrorHandler,
  websocketErrorHandler,
} = handlers

/**
 * The SQLSTATE or driver code of a database error. Drizzle wraps driver errors in a DrizzleQueryError
 * whose `cause` holds the real one, so the chain is walked.
 */
export function errorCode(error: unknown): string | undefined {
  for (
    let current = error, depth = 0;
    current && depth < 5;
    current = (current as { cause?: unknown }).cause, depth++
  ) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string') return code
  }
  return undefined
}

/**
 * What may be logged of an error: the logs never hold message content or key material. A
 * DrizzleQueryError's message carries the query's parameters, which can be ciphertext or keys: only the
 * SQL text and the driver's error are kept.
 */
export function loggable(error: unknown): Record<string, unknown> {
  const query = (error as { query?: unknown }).query
  const cause = typeof query === 'string' ? (error as { cause?: unknown }).cause : error
  const base = cause instanceof Error ? cause : new Error(String(cause))
  return {
    type: base.name,
    message: base.message,
    code: errorCode(error),
    stack: base.stack,
    ...(typeof query === 'string' ? { query: query.slice(0, 500) } : {}),
  }
}

/** Connection-level database failures become 503 + retry, not 500. */
export function isDatabaseUnavailable(error: unknown): boolean {
  const code = errorCode(error)
  return (
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'CONNECTION_CLOSED' ||
    code === 'CONNECTION_ENDED' ||
    code === 'CONNECTION_DESTROYED' ||
    code === 'CONNECT_TIMEOUT' ||
    code === '57P01' || // admin_shutdown: the connection was terminated
    code === '57P02' || // crash_shutdown
    code === '57P03' || // cannot_connect_now
    code === '08006' || // connection_failure
    code === '08003' // connection_does_not_exist
  )
}
