import { type CatalogEntry, CatalogError, type ErrorExtra } from '@ochat/shared-protocol/server'

/**
 * Why a digest preference is refused, beside the node's catalog (errors.ts): the shared handler
 * answers any CatalogError in the same shape, so these need no entry there.
 */
export const DIGEST_CATALOG = {
  E_DIGEST_NEEDS_EMAIL: {
    status: 422,
    prefix: 'invalid',
    message:
      'The daily digest is an email: give the user an email address first, or turn the digest off before removing it.',
  },
} as const satisfies Record<string, CatalogEntry>

export type DigestErrorCode = keyof typeof DIGEST_CATALOG

export class DigestError extends CatalogError<DigestErrorCode> {
  override name = 'DigestError'

  constructor(code: DigestErrorCode, detail?: string, extra: ErrorExtra = {}) {
    super({ code, ...DIGEST_CATALOG[code], detail, ...extra })
  }
}
