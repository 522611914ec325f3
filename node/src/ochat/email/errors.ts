import { type CatalogEntry, CatalogError, type ErrorExtra } from '@ochat/shared-protocol/server'

/**
 * The codes of partners reached by email, beside the node's catalog (errors.ts): the shared handler
 * answers any CatalogError in the same shape, so these need no entry there.
 */
export const EMAIL_PARTNER_CATALOG = {
  E_OCHAT_EMAIL_DUPLICATE: {
    status: 409,
    prefix: 'duplicate',
    message: 'A partner with this email address is already a contact: open its channel instead.',
  },
  E_OCHAT_NOT_FOR_EMAIL: {
    status: 409,
    prefix: 'invalid',
    message:
      'This partner is reached by email: keys, safety codes and relay decisions do not apply to it. Revoke removes it.',
  },
} as const satisfies Record<string, CatalogEntry>

export type EmailPartnerErrorCode = keyof typeof EMAIL_PARTNER_CATALOG

export class EmailPartnerError extends CatalogError<EmailPartnerErrorCode> {
  override name = 'EmailPartnerError'

  constructor(code: EmailPartnerErrorCode, detail?: string, extra: ErrorExtra = {}) {
    super({ code, ...EMAIL_PARTNER_CATALOG[code], detail, ...extra })
  }
}
