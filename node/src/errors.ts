import { type Catalog, CatalogError, type ErrorExtra, serverErrors } from '@ochat/shared-protocol/server'

/**
 * The node's error catalog: one stable code, an HTTP status, a reason prefix and a message that tells
 * the caller what to do next. Routes and commands throw `NodeError`s; one handler turns anything into
 * an ErrorBody. `detail` says what exactly was wrong with this request.
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
    message: 'A part of the URL is longer than the node accepts.',
  },
  E_UPGRADE_REQUIRED: {
    status: 426,
    prefix: 'invalid',
    message: 'This is a WebSocket: open it with an HTTP Upgrade request.',
  },
  E_HEADERS_TOO_LARGE: {
    status: 431,
    prefix: 'invalid',
    message: 'The URL and headers together are larger than the node accepts (16 kB).',
  },
  E_METHOD_NOT_ALLOWED: {
    status: 405,
    prefix: 'invalid',
    message: 'This method is not allowed here; see the API document at /docs.',
  },
  E_BODY_TOO_LARGE: { status: 413, prefix: 'invalid', message: 'The request body is too large.' },
  E_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    prefix: 'invalid',
    message: 'This route does not take a body of this type; the reason says which it takes.',
  },
  E_NOT_FOUND: { status: 404, prefix: 'invalid', message: 'Not found, or you do not have access to it.' },
  E_AUTH_REQUIRED: {
    status: 401,
    prefix: 'auth-required',
    message: 'Log in, or send an API key as "Authorization: Bearer <key>".',
  },
  E_LOGIN_FAILED: { status: 401, prefix: 'auth-required', message: 'Wrong login or password.' },
  E_CSRF: {
    status: 403,
    prefix: 'blocked',
    message: 'Missing or wrong X-CSRF-Token header; reload the page and try again.',
  },
  E_FORBIDDEN: { status: 403, prefix: 'blocked', message: 'You are not allowed to do this.' },
  E_SCOPE: {
    status: 403,
    prefix: 'blocked',
    message: 'This API key does not have the scope this request needs; create a key with that scope.',
  },
  E_VERSION_CONFLICT: {
    status: 409,
    prefix: 'invalid',
    message: 'The record changed since you read it. Reload it, reapply your change, and send it again.',
  },
  E_CONFLICT: { status: 409, prefix: 'invalid', message: 'This conflicts with something that exists.' },
  E_IDEMPOTENCY_MISMATCH: {
    status: 422,
    prefix: 'invalid',
    message: 'This Idempotency-Key was already used for a different request; use a new key.',
  },
  E_IDEMPOTENCY_IN_PROGRESS: {
    status: 409,
    prefix: 'rate-limited',
    message: 'A request with this Idempotency-Key is still being processed; retry shortly.',
  },
  E_MENTION_EXTERNAL_IN_NOTE: {
    status: 422,
    prefix: 'blocked',
    message:
      'A log note is internal: it cannot mention an external contact. Remove the mention, or use "Send message".',
  },
  E_MESSAGE_IMMUTABLE: {
    status: 409,
    prefix: 'blocked',
    message: 'Only comments and notes can be edited or deleted; system and tracking messages are kept as is.',
  },
  E_ATTACHMENT_TOO_LARGE: {
    status: 413,
    prefix: 'invalid',
    message: 'The file is larger than the node accepts.',
  },
  E_ATTACHMENT_LENGTH: {
    status: 400,
    prefix: 'invalid',
    message: 'The upload ended before the declared length, or went past it; nothing was stored.',
  },
  E_UPLOAD_STALLED: {
    status: 408,
    prefix: 'error',
    message:
      'The upload stopped sending data and was cut off; nothing was stored. Check the connection and upload again.',
  },
  E_UPLOAD_TOO_SLOW: {
    status: 408,
    prefix: 'error',
    message:
      'The upload was too slow and was cut off; nothing was stored. Upload again over a faster connection.',
  },
  E_ATTACHMENT_ATTACHED: {
    status: 409,
    prefix: 'blocked',
    message: 'This file is on a message and stays with it; it can no longer be deleted on its own.',
  },
  E_AVATAR_NOT_IMAGE: {
    status: 422,
    prefix: 'invalid',
    message:
      'The picture is not a PNG, JPEG or WebP image; save it in one of those formats and upload it again.',
  },
  E_LENGTH_REQUIRED: {
    status: 411,
    prefix: 'invalid',
    message: 'Send the file with a Content-Length header (not chunked).',
  },
  E_INVALID_HEADER: {
    status: 400,
    prefix: 'invalid',
    message: 'A request header is not valid; see the reason.',
  },
  E_RANGE_NOT_SATISFIABLE: {
    status: 416,
    prefix: 'invalid',
    message: 'The requested byte range starts past the end of the file.',
  },
  E_ACTIVITY_CLOSED: {
    status: 409,
    prefix: 'blocked',
    message: 'This activity is already done or canceled and is kept as it ended; schedule a new one.',
  },
  E_ACTIVITY_TYPE_UNKNOWN: {
    status: 422,
    prefix: 'invalid',
    message: 'There is no active activity type with this key; see GET /api/v1/activity-types.',
  },
  E_ACTIVITY_CHAINING: {
    status: 422,
    prefix: 'invalid',
    message: 'Chaining "trigger" needs exactly one next type, "suggest" at least one, "none" none.',
  },
  E_USER_UNKNOWN: {
    status: 422,
    prefix: 'invalid',
    message: 'There is no active user with this id; choose an active user.',
  },
  E_ASSIGNEE_REQUIRED: {
    status: 422,
    prefix: 'invalid',
    message: 'This plan asks who does some of its steps: give an assignee for each of them.',
  },
  E_PLAN_WRONG_MODEL: {
    status: 422,
    prefix: 'invalid',
    message: 'This activity plan is made for records of another model.',
  },
  E_RATE_LIMITED: {
    status: 429,
    prefix: 'rate-limited',
    message: 'Too many failed attempts; wait for the time given in Retry-After, then try again.',
  },
  E_WEBHOOK_REFUSED: {
    status: 401,
    prefix: 'auth-required',
    message: 'The webhook is not signed by a relay key this node pinned, is stale, or was already received.',
  },
  E_OCHAT_OFF: {
    status: 409,
    prefix: 'blocked',
    message:
      "O'Chat is off on this node: set NODE_OCHAT_SECRET (or NODE_OCHAT_SECRET_FILE) and restart; see the reason.",
  },
  E_OCHAT_NOT_REGISTERED: {
    status: 409,
    prefix: 'blocked',
    message:
      'This node is not registered with a relay yet: an administrator registers it (ochat-node register).',
  },
  E_OCHAT_ALREADY_REGISTERED: {
    status: 409,
    prefix: 'duplicate',
    message: 'This node is already registered with a relay.',
  },
  E_OCHAT_INVITE_REQUIRED: {
    status: 422,
    prefix: 'blocked',
    message:
      'The relay registers by invitation only: ask its operator for a token and send it as inviteToken.',
  },
  E_OCHAT_RELAY_UNREACHABLE: {
    status: 502,
    prefix: 'error',
    message: "The relay could not be reached; check its URL and this server's network, then try again.",
  },
  E_OCHAT_RELAY_REFUSED: {
    status: 422,
    prefix: 'blocked',
    message: 'The relay refused the request; the reason gives its own words.',
  },
  E_OCHAT_RELAY_RATE_LIMITED: {
    status: 429,
    prefix: 'rate-limited',
    message: 'The relay asks us to slow down; try again in a minute.',
  },
  E_OCHAT_RELAY_UNTRUSTED: {
    status: 502,
    prefix: 'blocked',
    message: "The relay's keys could not be trusted; check the relay URL with its operator.",
  },
  E_OCHAT_INSTANCE_UNKNOWN: {
    status: 404,
    prefix: 'invalid',
    message:
      'No company is registered at the relay under this instance id: check it with their administrator (it is on their Connections page).',
  },
  E_OCHAT_CONTACT_REQUIRED: {
    status: 422,
    prefix: 'invalid',
    message: 'Choose the contact (partner) this company is filed under.',
  },
  E_OCHAT_CONNECTION_STATE: {
    status: 409,
    prefix: 'invalid',
    message: 'The connection is not in a state that allows this; reload it to see its state.',
  },
  E_OCHAT_CHANNEL_PAUSED: {
    status: 409,
    prefix: 'blocked',
    message:
      "The other company's keys changed: compare the new safety code with them, then verify it to resume the channel.",
  },
  E_OCHAT_SAFETY_CODE_MISMATCH: {
    status: 422,
    prefix: 'invalid',
    message: 'The safety code you entered is not the current one; compare it again with the other company.',
  },
  E_OCHAT_NOT_RETRYABLE: {
    status: 409,
    prefix: 'invalid',
    message: 'Only a failed message can be retried.',
  },
  E_OCHAT_ATTACHMENT_LIMIT: {
    status: 413,
    prefix: 'invalid',
    message: "O'Chat carries at most 5 files per message, 100 MB each and 500 MB in all; remove some files.",
  },
  E_OCHAT_BULK_RECIPIENT: {
    status: 422,
    prefix: 'blocked',
    message:
      'A bulk send goes to every recipient or to none: remove the channels named in the reason (and details), then send again.',
  },
  E_INTERNAL: {
    status: 500,
    prefix: 'error',
    message: 'The node failed; the administrator has the details in the logs.',
  },
} as const satisfies Catalog

export type NodeErrorCode = keyof typeof CATALOG

export class NodeError extends CatalogError<NodeErrorCode> {
  override name = 'NodeError'

  constructor(code: NodeErrorCode, detail?: string, extra: ErrorExtra = {}) {
    super({ code, ...CATALOG[code], detail, ...extra })
  }
}

/** The shared handlers, answering in the node's catalog; anything the node does not expect is E_INTERNAL. */
const handlers = serverErrors({
  create: (code, detail, extra) => new NodeError(code, detail, extra),
  socket: { name: 'live socket', peer: 'client' },
})

/** Parses with a schema, or throws E_INVALID_BODY (or `code`) listing every bad field. */
export const parseWith = handlers.parse
export const {
  invalidInput,
  installErrorHandler,
  frameworkErrors,
  clientErrorHandler,
  websocketErrorHandler,
} = handlers
