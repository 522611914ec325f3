import type { Readable } from 'node:stream'
import {
  type ConnectionDecision,
  type ConnectionView,
  ConnectionViewSchema,
  type Envelope,
  ErrorBodySchema,
  IdSchema,
  type InstancePublicKeys,
  InstancePublicKeysSchema,
  type RelayInfo,
  RelayInfoSchema,
  type RelayRates,
  RelayRatesSchema,
  type SignedKeyRotation,
  type SignedReceipt,
  type SignedRegistration,
  SubmitResponseSchema,
  type SubmitResult,
  signRequest,
} from '@ochat/shared-protocol'
import { type Dispatcher, request } from 'undici'
import { z } from 'zod'

/** The relay could not be reached at all (DNS, refused, timeout, TLS): the message says which. */
export class RelayUnreachableError extends Error {
  override name = 'RelayUnreachableError'
}

/** The relay answered with an error body: its stable code, reason and message. */
export class RelayAnswerError extends Error {
  override name = 'RelayAnswerError'
  constructor(
    readonly status: number,
    readonly code: string,
    readonly reason: string,
    message: string,
    /** Seconds, from a 429's or 503's Retry-After. */
    readonly retryAfterS?: number,
  ) {
    super(message)
  }
}

/** Every relay call gives up after this long (the relay answers in milliseconds when healthy): 15 s. */
const TIMEOUT_MS = 15_000

type Signer = {
  relayId: string
  instanceId: string
  identitySecretKey: Uint8Array
  /** Unix ms; the request timestamp comes from it. */
  now(): number
}

const InstanceAnswer = z.object({
  instance: z.object({ instanceId: z.string(), status: z.string() }).loose(),
})
const RotatedAnswer = z.object({ instance: z.object({ keys: InstancePublicKeysSchema }).loose() })
const ConnectionAnswer = z.object({ connection: ConnectionViewSchema })
const ConnectionsAnswer = z.object({ connections: z.array(ConnectionViewSchema) })
/**
 * The upload URL is a path on the relay (PROTOCOL.md §8.3), for the blob just created: it is appended
 * to the relay's base URL, so anything else ("@other.host/…", "//…", another blob) would send our
 * upload, with its token, somewhere the relay chose.
 */
const BlobCreated = z
  .object({ blobId: IdSchema, uploadUrl: z.string(), uploadToken: z.string().min(1).max(1000) })
  .refine((created) => created.uploadUrl === `/v1/blobs/${created.blobId}`, {
    message: 'the upload URL is not this blob on this relay',
    path: ['uploadUrl'],
  })

/**
 * The node's HTTP client for its relay (PROTOCOL.md §2.2): every instance request signed over method,
 * path, timestamp, nonce and body hash. Answers are checked with the shared schemas; errors are
 * RelayUnreachableError or RelayAnswerError, never a raw network exception.
 */
export class RelayHttpClient {
  readonly baseUrl: string
  readonly #signer: Signer | undefined

  constructor(baseUrl: string, signer?: Signer) {
    this.baseUrl = baseUrl.replace(/\/$/, '')
    this.#signer = signer
  }

  /** The relay's public info and signed key set (unsigned). */
  async info(): Promise<RelayInfo> {
    return RelayInfoSchema.parse(await this.#call('GET', '/v1/info', { signed: false }))
  }

  /** The relay's published rates (unsigned), or undefined from a relay that publishes none (404). */
  async rates(): Promise<RelayRates | undefined> {
    try {
      return RelayRatesSchema.parse(await this.#call('GET', '/v1/rates', { signed: false }))
    } catch (error) {
      if (error instanceof RelayAnswerError && error.status === 404) return undefined
      throw error
    }
  }

  /** Self-authenticating: the body is signed by the identity key it registers. */
  async register(registration: SignedRegistration): Promise<{ instanceId: string; status: string }> {
    const answer = InstanceAnswer.parse(
      await this.#call('POST', '/v1/instances', { signed: false, body: registration }),
    )
    return answer.instance
  }

  async me(): Promise<{ instanceId: string; status: string }> {
    return InstanceAnswer.parse(await this.#call('GET', '/v1/instances/me')).instance
  }

  /**
   * Replaces this instance's keys (PROTOCOL.md §1.4): the request is signed with the current key, the
   * rotation by both. Answers the keys the relay now holds for this instance.
   */
  async rotateKeys(rotation: SignedKeyRotation): Promise<InstancePublicKeys> {
    return RotatedAnswer.parse(await this.#call('POST', '/v1/instances/me/keys', { body: rotation })).instance
      .keys
  }

  async listConnections(): Promise<ConnectionView[]> {
    return ConnectionsAnswer.parse(await this.#call('GET', '/v1/connections')).connections
  }

  async getConnection(id: string): Promise<ConnectionView> {
    return ConnectionAnswer.parse(await this.#call('GET', `/v1/connections/${encodeURIComponent(id)}`))
      .connection
  }

  async requestConnection(to: string, message: string): Promise<ConnectionView> {
    return ConnectionAnswer.parse(await this.#call('POST', '/v1/connections', { body: { to, message } }))
      .connection
  }

  async decideConnection(id: string, decision: ConnectionDecision): Promise<ConnectionView> {
    return ConnectionAnswer.parse(
      await this.#call('POST', `/v1/connections/${encodeURIComponent(id)}/decision`, { body: decision }),
    ).connection
  }

  async submit(envelopes: Envelope[]): Promise<SubmitResult[]> {
    return SubmitResponseSchema.parse(await this.#call('POST', '/v1/envelopes', { body: { envelopes } }))
      .results
  }

  async sendReceipts(receipts: SignedReceipt[]): Promise<void> {
    await this.#call('POST', '/v1/receipts', { body: { receipts } })
  }

  /**
   * Declares an upload of `size` ciphertext bytes; answers where and with what token to stream it. The
   * ciphertext's SHA-256 is optional: a streamed upload only knows it at the end.
   */
  async createBlob(size: number, sha256?: string): Promise<z.infer<typeof BlobCreated>> {
    return BlobCreated.parse(
      await this.#call('POST', '/v1/blobs', { body: { size, ...(sha256 ? { sha256 } : {}) } }),
    )
  }

  /** Streams the ciphertext with its one-time token; `body` must produce exactly `size` bytes. */
  async uploadBlob(created: z.infer<typeof BlobCreated>, body: Readable, size: number): Promise<void> {
    await this.#send('PUT', created.uploadUrl, {
      headers: {
        authorization: `Bearer ${created.uploadToken}`,
        'content-type': 'application/octet-stream',
        'content-length': String(size),
      },
      body,
      timeoutMs: 0,
    })
  }

  /** A readable of the blob's ciphertext from byte `start` (Range), signed. */
  async downloadBlob(blobId: string, start = 0): Promise<Readable> {
    const path = `/v1/blobs/${encodeURIComponent(blobId)}`
    const headers: Record<string, string> = this.#sign('GET', path, '')
    if (start > 0) headers.range = `bytes=${start}-`
    const answer = await this.#raw('GET', path, { headers, timeoutMs: 0 })
    if (answer.statusCode >= 300) throw await answerError(answer)
    // A resumed download must continue at `start`: anything else (the whole file again, another
    // range) would feed the decryptor bytes out of place.
    if (start > 0) {
      const range = /^bytes (\d+)-\d+\/\d+$/.exec(String(answer.headers['content-range'] ?? ''))
      if (answer.statusCode !== 206 || Number(range?.[1]) !== start) {
        // Not read: dropped, with the abort it reports swallowed.
        answer.body.on('error', () => undefined).destroy()
        throw new RelayUnreachableError(
          `the relay did not resume the download at byte ${start} (HTTP ${answer.statusCode})`,
        )
      }
    }
    return answer.body
  }

  async #call(
    method: 'GET' | 'POST',
    path: string,
    options: { signed?: boolean; body?: unknown } = {},
  ): Promise<unknown> {
    const text = options.body === undefined ? '' : JSON.stringify(options.body)
    const headers: Record<string, string> = options.signed === false ? {} : this.#sign(method, path, text)
    if (options.body !== undefined) headers['content-type'] = 'application/json'
    return this.#send(method, path, { headers, body: options.body === undefined ? undefined : text })
  }

  #sign(method: string, path: string, body: string): Record<string, string> {
    const signer = this.#signer
    if (!signer) throw new Error('this relay client has no instance keys to sign with')
    return signRequest({
      method,
      path,
      audience: signer.relayId,
      instanceId: signer.instanceId,
      identitySecretKey: signer.identitySecretKey,
      body,
      timestamp: Math.floor(signer.now() / 1000),
    })
  }

  async #send(
    method: Dispatcher.HttpMethod,
    path: string,
    options: { headers: Record<string, string>; body?: string | Readable; timeoutMs?: number },
  ): Promise<unknown> {
    const answer = await this.#raw(method, path, options)
    if (answer.statusCode >= 300) throw await answerError(answer)
    const text = await answer.body.text()
    if (!text) return undefined
    try {
      return JSON.parse(text)
    } catch {
      throw new RelayUnreachableError(
        `${this.baseUrl} answered ${answer.statusCode} with a body that is not JSON`,
      )
    }
  }

  async #raw(
    method: Dispatcher.HttpMethod,
    path: string,
    options: { headers: Record<string, string>; body?: string | Readable; timeoutMs?: number },
  ): Promise<Dispatcher.ResponseData> {
    const timeoutMs = options.timeoutMs ?? TIMEOUT_MS
    try {
      return await request(`${this.baseUrl}${path}`, {
        method,
        headers: options.headers,
        body: options.body,
        headersTimeout: timeoutMs || TIMEOUT_MS,
        bodyTimeout: timeoutMs === 0 ? 5 * 60_000 : timeoutMs,
      })
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as { code?: string }).code
      throw new RelayUnreachableError(
        `cannot reach the relay at ${this.baseUrl}: ${cause ?? (error as Error).message}`,
      )
    }
  }
}

async function answerError(answer: Dispatcher.ResponseData): Promise<RelayAnswerError> {
  const text = await answer.body.text().catch(() => '')
  const retryHeader = answer.headers['retry-after']
  const retryAfterS =
    typeof retryHeader === 'string' && /^\d+$/.test(retryHeader) ? Number(retryHeader) : undefined
  try {
    const { error } = ErrorBodySchema.parse(JSON.parse(text))
    return new RelayAnswerError(answer.statusCode, error.code, error.reason, error.message, retryAfterS)
  } catch {
    return new RelayAnswerError(
      answer.statusCode,
      'E_RELAY_ANSWER',
      `error: the relay answered ${answer.statusCode}`,
      `The relay answered HTTP ${answer.statusCode}.`,
      retryAfterS,
    )
  }
}
