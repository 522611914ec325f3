import { type CatalogEntry, CatalogError, type ErrorExtra } from '@ochat/shared-protocol/server'

/**
 * The mail settings' codes, beside the node's catalog (errors.ts): the shared handler answers any
 * CatalogError in the same shape, so these need no entry there.
 */
export const MAIL_CATALOG = {
  E_MAIL_SETTING_FROM_ENVIRONMENT: {
    status: 409,
    prefix: 'blocked',
    message:
      'This setting comes from the environment (NODE_SMTP_URL, NODE_MAIL_FROM, NODE_MAIL_DOMAIN): change it there and restart the node, or leave it out.',
  },
  E_MAIL_PASSWORD_IN_CLEAR: {
    status: 422,
    prefix: 'invalid',
    message:
      'A password would cross the network unencrypted: choose STARTTLS or TLS, or security "none" only for a server on this machine (localhost).',
  },
  E_MAIL_NOT_CONFIGURED: {
    status: 409,
    prefix: 'blocked',
    message: 'Outgoing mail is not set up yet: fill in what the reason lists, then try again.',
  },
  E_MAIL_TEST_RATE_LIMITED: {
    status: 429,
    prefix: 'rate-limited',
    message: 'Too many test emails in a short time; wait for the time given in Retry-After, then try again.',
  },
} as const satisfies Record<string, CatalogEntry>

export type MailErrorCode = keyof typeof MAIL_CATALOG

export class MailError extends CatalogError<MailErrorCode> {
  override name = 'MailError'

  constructor(code: MailErrorCode, detail?: string, extra: ErrorExtra = {}) {
    super({ code, ...MAIL_CATALOG[code], detail, ...extra })
  }
}
