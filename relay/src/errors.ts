import type { Duplex } from 'node:stream'
import {
  canAnswerOn,
  type ErrorBody,
  frameworkRefusal,
  isClientSocketError,
  parserRefusal,
  type ReasonPrefix,
  rawResponse,
  reason,
  SECURITY_HEADERS,
  zodDetails,
} from '@ochat/shared-protocol'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import type { z } from 'zod'

/**
 * The relay's error catalog: one stable code, an HTTP status, a reason prefix and a message that tells
 * the caller what to do next. Routes throw `RelayError`s; one handler turns anything into an ErrorBody.
 */
const CATALOG = {
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
  E_RECEIPT_INVALID: { status: 400, prefix: 'invalid', message: 'The receipt is not valid.' },
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
} as const satisfies Record<string, { status: number; prefix: ReasonPrefix; message: string }>

export type RelayErrorCode = keyof typeof CATALOG

export class RelayError extends Error {
  override name = 'RelayError'
  readonly code: RelayErrorCode | string
  readonly status: number
  readonly prefix: ReasonPrefix
  readonly detail: string
  readonly details: ErrorBody['error']['details']
  readonly headers: Record<string, string>

  constructor(
    code: RelayErrorCode,
    detail?: string,
    extra: { details?: ErrorBody['error']['details']; headers?: Record<string, string> } = {},
  ) {
    const entry = CATALOG[code]
    super(detail ?? entry.message)
    this.code = code
    this.status = entry.status
    this.prefix = entry.prefix
    this.detail = detail ?? entry.message.replace(/\.$/, '').toLowerCase()
    this.details = extra.details
    this.headers = extra.headers ?? {}
  }

  /** A protocol rejection (`{ code, reason }` from shared-protocol) carried as an HTTP error. */
  static fromRejection(
    status: number,
    rejection: { code: string; reason: string },
    message?: string,
  ): RelayError {
    const error = new RelayError('E_INVALID_BODY')
    return Object.assign(error, {
      code: rejection.code,
      status,
      prefix: rejection.reason.slice(0, rejection.reason.indexOf(':')) as ReasonPrefix,
      detail: rejection.reason.slice(rejection.reason.indexOf(':') + 2),
      message: message ?? rejection.reason.slice(rejection.reason.indexOf(':') + 2),
    })
  }

  body(): ErrorBody {
    const entry = (CATALOG as Record<string, { message: string }>)[this.code]
    return {
      error: {
        code: this.code,
        message: entry?.message ?? this.message,
        reason: reason(this.prefix, this.detail),
        ...(this.details ? { details: this.details } : {}),
      },
    }
  }
}

/** Parses with a shared schema, or throws E_INVALID_BODY listing every bad field. */
export function parseBody<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const parsed = schema.safeParse(value)
  if (parsed.success) return parsed.data
  const details = zodDetails(parsed.error)
  const first = details[0]
  throw new RelayError('E_INVALID_BODY', first ? `${first.path}: ${first.message}` : undefined, { details })
}

/** One error handler: logs the full error with request context, exposes the message only below 500. */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | RelayError | Error, request, reply) => {
    const relayError = toRelayError(error)
    if (relayError.status >= 500) request.log.error({ err: loggable(error) }, 'request failed')
    else request.log.info({ code: relayError.code, status: relayError.status }, 'request refused')
    void reply.status(relayError.status).headers(relayError.headers).send(relayError.body())
  })
  app.setNotFoundHandler((_request, reply) => {
    void reply.status(404).send(new RelayError('E_NOT_FOUND').body())
  })
}

function toRelayError(error: FastifyError | RelayError | Error): RelayError {
  if (error instanceof RelayError) return error
  const refusal = frameworkRefusal(error as FastifyError)
  if (refusal) return new RelayError(refusal.code, refusal.detail)
  if (isDatabaseUnavailable(error)) return new RelayError('E_UNAVAILABLE')
  // Text PostgreSQL cannot store (a NUL byte, bad encoding) that slipped past a schema: still the caller's input.
  if (['22021', '22P05', '22001'].includes(errorCode(error) ?? '')) {
    return new RelayError('E_INVALID_BODY', 'a text field holds characters that cannot be stored')
  }
  return new RelayError('E_INTERNAL')
}

/**
 * Fastify's `frameworkErrors`: refusals made by its router before any route runs (a path parameter
 * over 100 characters, a URL that does not percent-decode), answered in the error shape.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const relayError = toRelayError(error)
  request.log.info({ code: relayError.code, status: relayError.status }, 'request refused')
  void reply.status(relayError.status).headers(SECURITY_HEADERS).send(relayError.body())
}

/**
 * Fastify's `clientErrorHandler`: Node's HTTP parser refused the bytes before there is a request (headers
 * over 16 kB, bytes that are not HTTP, a request that took too long). The answer is written on the socket
 * by hand, in the error shape and with the headers every answer carries, then the socket is closed.
 */
export function clientErrorHandler(
  this: FastifyInstance,
  error: NodeJS.ErrnoException,
  socket: Duplex,
): void {
  const refusal = parserRefusal(error)
  if (!refusal || socket.destroyed) {
    socket.destroy()
    return
  }
  const relayError = new RelayError(refusal.code, refusal.detail)
  this.log.debug({ code: relayError.code, parser: error.code }, 'client error')
  // Closed once the answer is flushed: a plain destroy could drop it before it leaves.
  if (canAnswerOn(socket))
    socket.end(rawResponse(relayError.status, relayError.body()), () => socket.destroy())
  else socket.destroy()
}

/**
 * @fastify/websocket's `errorHandler`: a frame the node should not have sent (over the size limit, bad
 * UTF-8, a reserved opcode) or a connection it dropped is the client's doing, logged at warn; anything
 * else is the relay's and logged at error. The socket is closed either way.
 */
export function websocketErrorHandler(error: Error, socket: WebSocket, request: FastifyRequest): void {
  const code = errorCode(error) ?? ''
  if (isClientSocketError(code))
    request.log.warn(
      { code, message: error.message },
      'socket closed: a bad frame or a dropped connection from the node',
    )
  else request.log.error({ err: loggable(error) }, 'socket failed')
  socket.terminate()
}

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
 * What may be logged of an error (invariant 1). A DrizzleQueryError's message carries the query's
 * parameters, which can be ciphertext or keys: only the SQL text and the driver's error are kept.
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
