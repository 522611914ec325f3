import { type CatalogEntry, CatalogError, type ErrorExtra } from '@ochat/shared-protocol/server'

/** Outbound webhooks' codes, beside the node's catalog (errors.ts). */
export const WEBHOOK_CATALOG = {
  E_WEBHOOK_URL: {
    status: 422,
    prefix: 'invalid',
    message:
      'Deliveries cannot go to this URL: give an http or https URL at a public address, or have the operator allowlist it (NODE_WEBHOOK_ALLOWLIST).',
  },
} as const satisfies Record<string, CatalogEntry>

export type WebhookErrorCode = keyof typeof WEBHOOK_CATALOG

export class WebhookError extends CatalogError<WebhookErrorCode> {
  override name = 'WebhookError'

  constructor(code: WebhookErrorCode, detail?: string, extra: ErrorExtra = {}) {
    super({ code, ...WEBHOOK_CATALOG[code], detail, ...extra })
  }
}
