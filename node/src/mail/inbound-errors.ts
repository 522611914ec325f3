import { type CatalogEntry, CatalogError, type ErrorExtra } from '@ochat/shared-protocol/server'

/**
 * Incoming mail's and mail aliases' codes, beside the node's catalog (errors.ts): the shared handler
 * answers any CatalogError in the same shape.
 */
export const INBOUND_CATALOG = {
  E_MAIL_UNREADABLE: {
    status: 422,
    prefix: 'invalid',
    message: 'There is no email here to take in: send the whole message (RFC 5322) as the body.',
  },
  E_MAIL_TRY_LATER: {
    status: 503,
    prefix: 'error',
    message: 'The node cannot store this mail now: send it again after the time given in Retry-After.',
  },
  E_MAIL_ALIAS_TAKEN: {
    status: 409,
    prefix: 'duplicate',
    message: 'Another alias has this name: choose another, or change that alias.',
  },
} as const satisfies Record<string, CatalogEntry>

export type InboundErrorCode = keyof typeof INBOUND_CATALOG

export class InboundError extends CatalogError<InboundErrorCode> {
  override name = 'InboundError'

  constructor(code: InboundErrorCode, detail?: string, extra: ErrorExtra = {}) {
    super({ code, ...INBOUND_CATALOG[code], detail, ...extra })
  }
}
