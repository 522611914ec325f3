import { z } from 'zod'

/**
 * What an API key may do. A UI session may do everything its user's role allows; a key is further
 * limited to its scopes. Admin-only actions also need the user to be an admin.
 */
export const SCOPES = [
  'records:read',
  'records:write',
  /** The models and their fields (custom ones describe the business: not every integration needs them). */
  'models:read',
  'chatter:read',
  'chatter:write',
  'activities:read',
  'activities:write',
  'ochat:read',
  'ochat:write',
  /** Hand over raw email received elsewhere (a provider's webhook, an MTA): POST /api/v1/mail/inbound. */
  'mail:inbound',
  'admin',
] as const
export const ScopeSchema = z.enum(SCOPES)
export type Scope = z.infer<typeof ScopeSchema>
