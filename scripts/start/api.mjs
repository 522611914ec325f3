// A small client for a node's REST API, used the way an integrator would: log in with a password
// (POST /api/v1/session, cookie + CSRF token), or call with an API key (Authorization: Bearer ock_…).

export class ApiError extends Error {
  constructor(method, path, status, body) {
    const detail = body?.error ? `${body.error.code}: ${body.error.message}` : JSON.stringify(body)
    super(`${method} ${path} answered ${status} (${detail})`)
    this.status = status
    this.body = body
  }
}

export class NodeApi {
  /** @param {string} baseUrl @param {{ apiKey?: string, cookie?: string, csrfToken?: string }} auth */
  constructor(baseUrl, auth = {}) {
    this.baseUrl = baseUrl
    this.auth = auth
  }

  /** A session for this login: the cookie and CSRF token the web UI would hold. */
  static async login(baseUrl, login, password) {
    const response = await fetch(`${baseUrl}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ login, password }),
    })
    const body = await response.json().catch(() => undefined)
    if (!response.ok) throw new ApiError('POST', '/api/v1/session', response.status, body)
    const cookie = response.headers
      .getSetCookie()
      .map((line) => line.split(';')[0])
      .join('; ')
    return new NodeApi(baseUrl, { cookie, csrfToken: body.csrfToken })
  }

  /** An API key with every scope, made from this (session) client: shown once, kept by the caller. */
  async createApiKey(name) {
    // Every scope the node knows, from its own list: TypeScript, loaded through tsx as the node itself
    // is, and only here (about a second), on the first start, rather than a copy that could drift.
    const { tsImport } = await import('tsx/esm/api')
    const { SCOPES } = await tsImport('../../node/src/auth/scopes.ts', import.meta.url)
    const key = await this.call('POST', '/api/v1/api-keys', { name, scopes: SCOPES })
    return key.secret
  }

  async call(method, path, body, { expect } = {}) {
    const headers = {}
    if (this.auth.apiKey) headers.authorization = `Bearer ${this.auth.apiKey}`
    if (this.auth.cookie) headers.cookie = this.auth.cookie
    if (this.auth.csrfToken && method !== 'GET') headers['x-csrf-token'] = this.auth.csrfToken
    if (body !== undefined) headers['content-type'] = 'application/json'
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    })
    const text = await response.text()
    let parsed
    try {
      parsed = text ? JSON.parse(text) : undefined
    } catch {
      parsed = text
    }
    if (expect ? !expect.includes(response.status) : !response.ok)
      throw new ApiError(method, path, response.status, parsed)
    return parsed
  }

  get(path) {
    return this.call('GET', path)
  }

  post(path, body) {
    return this.call('POST', path, body ?? {})
  }
}

/** Polls `check` every 200 ms until it answers something truthy, or fails after `timeoutMs`. */
export async function until(what, check, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > end)
      throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}
