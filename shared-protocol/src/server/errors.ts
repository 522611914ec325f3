import type { Duplex } from 'node:stream'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { z } from 'zod'
import { type ErrorBody, type ReasonPrefix, ReasonSchema, reason, zodDetails } from '../errors.ts'
import {
  canAnswerOn,
  frameworkRefusal,
  isClientSocketError,
  parserRefusal,
  type RefusalCode,
  rawResponse,
  SECURITY_HEADERS,
} from './http-refusals.ts'

/** One code of a server's error catalog: its HTTP status, its reason prefix, what the caller should do. */
export type CatalogEntry = Readonly<{ status: number; prefix: ReasonPrefix; message: string }>

/** The codes the shared handlers answer with; every server's catalog has them. */
export type SharedCode = RefusalCode | 'E_INTERNAL'

/**
 * A server's error catalog: one stable code, an HTTP status, a reason prefix and a message. Declared
 * `as const satisfies Catalog` so the codes stay a union type.
 */
export type Catalog = Readonly<Record<SharedCode, CatalogEntry> & Record<string, CatalogEntry>>

export type ErrorDetails = NonNullable<ErrorBody['error']['details']>

/** What one error adds to its code: field-level problems, and headers such as Retry-After. */
export type ErrorExtra = { details?: ErrorDetails | undefined; headers?: Record<string, string> | undefined }

/** Everything an error answer is made of. */
export type ErrorInit<Code extends string> = ErrorExtra &
  CatalogEntry & {
    code: Code
    /** What exactly was wrong with this request; the catalog message, as a clause, when not given. */
    detail?: string | undefined
  }

/** The longest reason the wire accepts (PROTOCOL.md §9). */
const REASON_MAX = ReasonSchema.maxLength ?? 500

/**
 * The detail of an error, as it follows the prefix in its reason ("invalid: the request body is not
 * valid; see details"). Without one, the catalog message stands in: its first letter lowered when it
 * starts an ordinary word (not "O'Chat" or "JSON") and its final period dropped, as a clause after the
 * prefix reads. Either is cut, with an ellipsis, so the reason fits in what the wire accepts: a detail
 * can quote the caller's input, whose length the server does not choose.
 */
export function errorDetail(prefix: ReasonPrefix, detail: string | undefined, message: string): string {
  const text =
    detail ?? message.replace(/\.$/, '').replace(/^[A-Z](?=[a-z\s])/, (first) => first.toLowerCase())
  const room = REASON_MAX - `${prefix}: `.length
  return text.length <= room ? text : `${text.slice(0, room - 1)}…`
}

/**
 * The base of each server's error class (`RelayError`, `NodeError`): routes and commands throw one, and
 * the handlers below turn it into an ErrorBody. A server's class passes the entry of its own catalog:
 *
 *   class NodeError extends CatalogError<NodeErrorCode> {
 *     constructor(code: NodeErrorCode, detail?: string, extra: ErrorExtra = {}) {
 *       super({ code, ...CATALOG[code], detail, ...extra })
 *     }
 *   }
 */
export class CatalogError<Code extends string = string> extends Error {
  override name = 'CatalogError'
  readonly code: Code
  readonly status: number
  readonly prefix: ReasonPrefix
  readonly detail: string
  readonly details: ErrorDetails | undefined
  readonly headers: Record<string, string>
  /** The catalog's message: the same for every error with this code, it says what to do next. */
  readonly advice: string

  constructor(init: ErrorInit<Code>) {
    const detail = errorDetail(init.prefix, init.detail, init.message)
    super(detail)
    this.code = init.code
    this.status = init.status
    this.prefix = init.prefix
    this.detail = detail
    this.details = init.details
    this.headers = init.headers ?? {}
    this.advice = init.message
  }

  body(): ErrorBody {
    return {
      error: {
        code: this.code,
        message: this.advice,
        reason: reason(this.prefix, this.detail),
        ...(this.details ? { details: this.details } : {}),
      },
    }
  }
}

/**
 * A protocol rejection (`{ code, reason }` from a shared-protocol check) carried as an HTTP error: its
 * code is the check's own, outside the server's catalog, and its message is the reason's text unless
 * `message` says more.
 */
export function rejectionInit(
  status: number,
  rejection: { code: string; reason: string },
  message?: string,
): ErrorInit<string> {
  const colon = rejection.reason.indexOf(':')
  const text = rejection.reason.slice(colon + 2)
  return {
    code: rejection.code,
    status,
    prefix: rejection.reason.slice(0, colon) as ReasonPrefix,
    message: message ?? text,
    detail: text,
  }
}

/** The codes for input a schema refused: the body, or the path and query. */
export type InputCode = 'E_INVALID_BODY' | 'E_INVALID_PARAMS'

/** How a server plugs its catalog into the shared handlers. */
export type ServerErrorsOptions<E extends CatalogError<string>> = {
  /** The server's error for a code the shared handlers answer with. */
  create(code: SharedCode, detail?: string, extra?: ErrorExtra): E
  /**
   * The server's own reading of an error that is neither one of its errors nor a framework refusal (a
   * database that went away); undefined when it has none, and the answer is E_INTERNAL.
   */
  mapUnknown?(error: unknown): E | undefined
  /** What may be logged of a failure; the error itself by default. */
  loggable?(error: unknown): unknown
  /** How the log names a WebSocket and who is at its other end ("live socket", "client"). */
  socket: { name: string; peer: string }
}

/**
 * The error handlers both servers install, bound to one server's catalog: `parse` for input, then one
 * handler each for Fastify's routes, its router, Node's HTTP parser and WebSockets. Each logs the full
 * error with its context and exposes the message only below 500.
 */
export function serverErrors<E extends CatalogError<string>>(options: ServerErrorsOptions<E>) {
  const loggable = options.loggable ?? ((error: unknown) => error)

  /** Any error as the server's own: refusals by their code, the server's rules, then E_INTERNAL. */
  function toError(error: unknown): CatalogError<string> {
    if (error instanceof CatalogError) return error
    const refusal = frameworkRefusal(error as FastifyError)
    if (refusal) return options.create(refusal.code, refusal.detail)
    return options.mapUnknown?.(error) ?? options.create('E_INTERNAL')
  }

  /** The refusal of input a schema rejected: the first bad field in the reason, every one in `details`. */
  function invalidInput(error: z.ZodError, code: InputCode = 'E_INVALID_BODY'): E {
    const details = zodDetails(error)
    const first = details[0]
    return options.create(code, first ? `${first.path}: ${first.message}` : undefined, { details })
  }

  /** Parses with a schema, or throws E_INVALID_BODY (or `code`) listing every bad field. */
  function parse<T extends z.ZodType>(
    schema: T,
    value: unknown,
    code: InputCode = 'E_INVALID_BODY',
  ): z.output<T> {
    const parsed = schema.safeParse(value)
    if (parsed.success) return parsed.data
    throw invalidInput(parsed.error, code)
  }

  /**
   * Logs an error with its request (in full from 500 on, as a refusal below) and answers it in the error
   * shape, with `headers` under the error's own.
   */
  function logAndAnswer(
    error: unknown,
    request: FastifyRequest,
    reply: FastifyReply,
    headers: Record<string, string> = {},
  ): void {
    const answer = toError(error)
    if (answer.status >= 500) request.log.error({ err: loggable(error) }, 'request failed')
    else request.log.info({ code: answer.code, status: answer.status }, 'request refused')
    void reply
      .status(answer.status)
      .headers({ ...headers, ...answer.headers })
      .send(answer.body())
  }

  /** One error handler for every route, and the not-found answer in the same shape. */
  function installErrorHandler(app: FastifyInstance): void {
    app.setErrorHandler((error, request, reply) => logAndAnswer(error, request, reply))
    app.setNotFoundHandler((_request, reply) => {
      const answer = options.create('E_NOT_FOUND')
      void reply.status(answer.status).send(answer.body())
    })
  }

  /**
   * Fastify's `frameworkErrors`: refusals made by its router before any route runs (a path parameter
   * over 100 characters, a URL that does not percent-decode), answered in the error shape.
   */
  function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
    // Before any hook ran, so the headers every answer carries are added here.
    logAndAnswer(error, request, reply, SECURITY_HEADERS)
  }

  /**
   * Fastify's `clientErrorHandler`: Node's HTTP parser refused the bytes before there is a request
   * (headers over 16 kB, bytes that are not HTTP, a request that took too long). The answer is written
   * on the socket by hand, in the error shape and with the headers every answer carries, then the
   * socket is closed.
   */
  function clientErrorHandler(this: FastifyInstance, error: NodeJS.ErrnoException, socket: Duplex): void {
    const refusal = parserRefusal(error)
    if (!refusal || socket.destroyed) {
      socket.destroy()
      return
    }
    const answer = options.create(refusal.code, refusal.detail)
    this.log.debug({ code: answer.code, parser: error.code }, 'client error')
    // Closed once the answer is flushed: a plain destroy could drop it before it leaves.
    if (canAnswerOn(socket)) socket.end(rawResponse(answer.status, answer.body()), () => socket.destroy())
    else socket.destroy()
  }

  /**
   * @fastify/websocket's `errorHandler`: a frame the peer should not have sent (over the size limit,
   * bad UTF-8, a reserved opcode) or a connection it dropped is the peer's doing, logged at warn;
   * anything else is the server's and logged at error. The socket is closed either way.
   */
  function websocketErrorHandler(error: Error, socket: { terminate(): void }, request: FastifyRequest): void {
    const code = (error as NodeJS.ErrnoException).code
    if (isClientSocketError(code))
      request.log.warn(
        { code, message: error.message },
        `${options.socket.name} closed: a bad frame or a dropped connection from the ${options.socket.peer}`,
      )
    else request.log.error({ err: loggable(error) }, `${options.socket.name} failed`)
    socket.terminate()
  }

  return {
    toError,
    invalidInput,
    parse,
    installErrorHandler,
    frameworkErrors,
    clientErrorHandler,
    websocketErrorHandler,
  }
}
