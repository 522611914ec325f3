import type { Scope } from './scopes.ts'

/** Who is making a request: a user, through a UI session or an API key. */
export type Principal = {
  userId: number
  partnerId: number
  role: 'admin' | 'user'
  name: string
  timeZone: string
  notification: 'inbox' | 'email'
  /** null for UI sessions (everything the role allows); an API key's scopes otherwise. */
  scopes: ReadonlySet<Scope> | null
  via: 'session' | 'api-key'
  /** The session's CSRF token, for UI sessions. */
  csrfToken?: string
}
