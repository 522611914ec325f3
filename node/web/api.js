/**
 * Talking to the node's REST API with the session cookie. The cookie is HttpOnly and SameSite=Lax;
 * every write also carries the session's CSRF token (X-CSRF-Token), which only our pages know.
 */

let csrfToken = null
/** Called when a request answers 401: the session ended, the app shows the login form. */
let onSessionLost = () => {}

export function setCsrfToken(token) {
  csrfToken = token
}

export function whenSessionLost(handler) {
  onSessionLost = handler
}

/** A refused or failed request: the API's code, message and reason, shown as they are. */
export class ApiError extends Error {
  constructor({ status, code, message, reason, details }) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.reason = reason ?? ''
    /** The fields a refusal names (`[{ path, message }]`), so a form can put each error by its field. */
    this.details = details ?? []
  }
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/** JSON request → parsed JSON answer (undefined for 204), or throws ApiError. */
export async function api(method, path, body) {
  const headers = { accept: 'application/json' }
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (UNSAFE.has(method) && csrfToken) headers['x-csrf-token'] = csrfToken
  return send(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
}

/** One request: the parsed JSON answer (undefined for 204), or throws ApiError, a network failure too. */
async function send(path, init) {
  let response
  try {
    response = await fetch(path, { ...init, credentials: 'same-origin' })
  } catch (error) {
    throw new ApiError({
      status: 0,
      code: 'E_NETWORK',
      message: 'The node cannot be reached.',
      reason: `network: ${error instanceof Error ? error.message : String(error)}`,
    })
  }
  if (response.status === 204) return undefined
  const text = await response.text()
  const data = text ? parseJson(text) : undefined
  if (!response.ok) throw toApiError(response.status, data, path)
  return data
}

/**
 * The logged-in session, or null when nobody is: the probe answers 200 either way, so a logged-out
 * visit logs no failed request in the browser.
 */
export async function currentSession() {
  const session = await api('GET', '/api/v1/session/probe')
  return session.user ? session : null
}

function parseJson(text) {
  try {
    return JSON.parse(text)
  } catch {
    return {
      error: {
        code: 'E_BAD_ANSWER',
        message: 'The node sent an answer that is not JSON.',
        reason: text.slice(0, 200),
      },
    }
  }
}

function toApiError(status, data, path) {
  const error = data?.error ?? {}
  const apiError = new ApiError({
    status,
    code: error.code ?? `HTTP_${status}`,
    message: error.message ?? `The request failed (HTTP ${status}).`,
    reason: error.reason ?? '',
    details: error.details,
  })
  // A failed login is a 401 too; only other 401s mean the session is gone.
  if (status === 401 && apiError.code === 'E_AUTH_REQUIRED' && path !== '/api/v1/session') onSessionLost()
  return apiError
}

/**
 * Uploads one file as the raw request body (the node wants Content-Length, which the browser sets for
 * a File). XMLHttpRequest rather than fetch: only it reports upload progress. `onProgress(0..1)`.
 */
export function uploadFile(file, { recordId, onProgress }) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    const query = new URLSearchParams({ fileName: file.name })
    if (recordId) query.set('recordId', String(recordId))
    xhr.open('POST', `/api/v1/attachments?${query}`)
    xhr.setRequestHeader('content-type', file.type || 'application/octet-stream')
    if (csrfToken) xhr.setRequestHeader('x-csrf-token', csrfToken)
    xhr.setRequestHeader('accept', 'application/json')
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total)
    })
    xhr.addEventListener('load', () => {
      const data = xhr.responseText ? parseJson(xhr.responseText) : undefined
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1)
        resolve(data)
      } else reject(toApiError(xhr.status, data, '/api/v1/attachments'))
    })
    xhr.addEventListener('error', () =>
      reject(
        new ApiError({
          status: 0,
          code: 'E_NETWORK',
          message: 'The upload was cut off before the node answered.',
          reason: 'network: the connection closed during the upload',
        }),
      ),
    )
    xhr.send(file)
  })
}

/**
 * Sends a file as the raw request body (a picture), with the session's CSRF token; the JSON answer, or
 * undefined for 204, or throws ApiError like `api`.
 */
export async function apiUpload(method, path, file) {
  const headers = { accept: 'application/json', 'content-type': file.type || 'application/octet-stream' }
  if (csrfToken) headers['x-csrf-token'] = csrfToken
  return send(path, { method, headers, body: file })
}
