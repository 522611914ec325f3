import { type CatalogEntry, CatalogError, type ErrorExtra } from '@ochat/shared-protocol/server'

/**
 * Why an email recipient cannot be retried or canceled, beside the node's catalog (errors.ts): the
 * shared handler answers any CatalogError in the same shape, so these need no entry there.
 */
export const EMAIL_STATUS_CATALOG = {
  E_EMAIL_ALREADY_SENT: {
    status: 409,
    prefix: 'invalid',
    message: 'This email was already accepted by the mail server: there is nothing to retry.',
  },
  E_EMAIL_NO_ADDRESS: {
    status: 409,
    prefix: 'invalid',
    message: 'The contact has no email address: add one to the contact, then retry.',
  },
  E_EMAIL_SENDING: {
    status: 409,
    prefix: 'invalid',
    message: 'This email is being handed to the mail server right now: look again in a moment.',
  },
  E_EMAIL_MESSAGE_DELETED: {
    status: 409,
    prefix: 'invalid',
    message: 'The message of this email was deleted: it is not sent again.',
  },
  E_EMAIL_NOT_CANCELABLE: {
    status: 409,
    prefix: 'invalid',
    message: 'Only a queued or failed email can be canceled; this one was sent, bounced or canceled already.',
  },
} as const satisfies Record<string, CatalogEntry>

export type EmailStatusErrorCode = keyof typeof EMAIL_STATUS_CATALOG

export class EmailStatusError extends CatalogError<EmailStatusErrorCode> {
  override name = 'EmailStatusError'

  constructor(code: EmailStatusErrorCode, detail?: string, extra: ErrorExtra = {}) {
    super({ code, ...EMAIL_STATUS_CATALOG[code], detail, ...extra })
  }
}
