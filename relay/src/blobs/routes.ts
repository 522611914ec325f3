import { createHash, randomBytes } from 'node:crypto'
import type { Readable } from 'node:stream'
import {
  attachmentCiphertextSize,
  BlobCreatedSchema,
  BlobStoredSchema,
  feedUpload,
  LIMITS,
  newId,
  Sha256Schema,
  type UploadPace,
  UploadPaceError,
  UploadPaceGuard,
} from '@ochat/shared-protocol'
import { type Clock, rawBody, refusal, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance, FastifyRequest, preValidationHookHandler } from 'fastify'
import { z } from 'zod'
import { currentInstance } from '../auth/plugin.ts'
import type { Db } from '../db/client.ts'
import { loggable, RelayError } from '../errors.ts'
import { IdParams, wellFormedId } from '../ids.ts'
import { authorize, mayDownloadBlob, mayUploadBlob } from '../policies.ts'
import { type BlobStore, BlobTooLargeError } from './blob-store.ts'
import { completeBlob, findBlob, insertBlob, markFetched } from './repository.ts'

/** Largest ciphertext of one attachment: 100 MB of plaintext, sealed in 64 KiB chunks. */
export const MAX_BLOB_BYTES = attachmentCiphertextSize(LIMITS.attachmentBytes)
/** Blobs are deleted after 30 days even if not every recipient fetched them. */
const BLOB_TTL_MS = 30 * 86_400_000

const CreateBlobSchema = z.strictObject({
  /** Ciphertext bytes that will be uploaded: the declared length. */
  size: z
    .int()
    .min(1)
    .max(MAX_BLOB_BYTES, {
      message: `an attachment is at most ${LIMITS.attachmentBytes.toLocaleString('en-US')} bytes (100 MB) before encryption`,
    }),
  /** SHA-256 of the ciphertext, base64url; checked when the upload ends. */
  sha256: Sha256Schema.optional(),
})

const tokenHash = (token: string) => createHash('sha256').update(token).digest('base64url')

/**
 * Attachments (PROTOCOL.md §8): the ciphertext is uploaded once, even for a bulk send, with a
 * declared length enforced while streaming; recipients of an envelope that lists it may download it,
 * resuming with Range.
 */
export async function blobRoutes(
  app: FastifyInstance,
  deps: {
    db: Db
    clock: Clock
    store: BlobStore
    signed: preValidationHookHandler
    /** How slow the uploader may send before the upload is cut off (PROTOCOL.md §8.3). */
    uploadPace: UploadPace
  },
): Promise<void> {
  // The upload body is a raw stream, handed to the store as it arrives.
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload))
  const routes = app.withTypeProvider<ZodTypeProvider>()

  /** Step 1, signed: declare the upload; the answer carries a one-time upload token. */
  routes.post(
    '/v1/blobs',
    {
      preValidation: deps.signed,
      schema: {
        summary:
          'Declare an attachment upload (ciphertext length, optional SHA-256); returns a one-time upload token',
        body: CreateBlobSchema,
        response: { 201: BlobCreatedSchema },
      },
    },
    async (request, reply) => {
      const body = request.body
      const nowMs = deps.clock.now()
      const id = newId(nowMs)
      const uploadToken = randomBytes(32).toString('base64url')
      await insertBlob(deps.db, {
        id,
        uploader: currentInstance(request).id,
        size: body.size,
        sha256: body.sha256 ?? null,
        uploadTokenHash: tokenHash(uploadToken),
        state: 'uploading',
        createdAt: nowMs,
        expiresAt: nowMs + BLOB_TTL_MS,
      })
      return reply
        .status(201)
        .send({ blobId: id, uploadUrl: `/v1/blobs/${id}`, uploadToken, size: body.size })
    },
  )

  /**
   * Step 2: stream the bytes with `Authorization: Bearer <uploadToken>`. A signed request would need the
   * body's hash before sending, so the token (bound to this blob, single use) authorises the stream.
   */
  routes.put(
    '/v1/blobs/:id',
    {
      config: { auth: 'upload-token' },
      schema: {
        summary: 'Stream the declared bytes (Authorization: Bearer <uploadToken>)',
        params: IdParams,
        body: rawBody('application/octet-stream', 'The ciphertext, exactly the declared length'),
        response: { 200: BlobStoredSchema },
      },
    },
    async (request, reply) => {
      const id = wellFormedId(request.params.id)
      const blob = await findBlob(deps.db, id)
      const token = request.headers.authorization?.replace(/^Bearer /, '') ?? ''
      authorize(blob && mayUploadBlob(blob, tokenHash(token)))
      const declared = Number(request.headers['content-length'])
      if (declared !== blob.size) {
        throw new RelayError('E_BLOB_LENGTH', `Content-Length must be the declared ${blob.size} bytes`)
      }
      if (request.headers['content-type'] !== 'application/octet-stream')
        throw new RelayError('E_UNSUPPORTED_MEDIA_TYPE')
      let written: { size: number; sha256: string }
      // The store reads through the guard, so when it cuts the upload off the request stays open to carry
      // the answer; the socket closes once it is out, with the rest of the body unread.
      const guard = new UploadPaceGuard(deps.uploadPace)
      const detach = feedUpload(request.body as Readable, guard)
      try {
        written = await deps.store.write(id, guard, blob.size)
      } catch (error) {
        const closing = { headers: { connection: 'close' } }
        if (error instanceof UploadPaceError)
          throw new RelayError(
            error.kind === 'stalled' ? 'E_UPLOAD_STALLED' : 'E_UPLOAD_TOO_SLOW',
            error.message,
            closing,
          )
        if (error instanceof BlobTooLargeError)
          throw new RelayError('E_BLOB_LENGTH', `more bytes than the declared ${blob.size}`, closing)
        // The uploader went away: its fault. Anything else (the volume full or failing) is the relay's.
        if (isClientAbort(error))
          throw new RelayError(
            'E_BLOB_LENGTH',
            `the upload stopped after ${guard.bytes} of ${blob.size} bytes`,
            closing,
          )
        throw error
      } finally {
        detach()
      }
      if (written.size !== blob.size || (blob.sha256 && blob.sha256 !== written.sha256)) {
        await deps.store.delete(id)
        throw new RelayError(
          'E_BLOB_LENGTH',
          written.size !== blob.size
            ? `received ${written.size} of the declared ${blob.size} bytes`
            : 'the upload does not match its declared SHA-256',
        )
      }
      await completeBlob(deps.db, { id, nowMs: deps.clock.now() })
      return reply.status(200).send({ blobId: id, size: written.size, sha256: written.sha256 })
    },
  )

  /** Download, signed: only a recipient of an envelope listing the blob (or its uploader). Range resumes. */
  routes.get(
    '/v1/blobs/:id',
    {
      preValidation: deps.signed,
      schema: {
        summary: 'Download an attachment as a recipient; Range supported',
        params: IdParams,
        response: {
          200: rawBody('application/octet-stream', 'The whole ciphertext'),
          206: rawBody('application/octet-stream', 'The range asked for (Content-Range)'),
          416: refusal('The range is outside the file (E_RANGE); Content-Range gives its size'),
        },
      },
    },
    async (request, reply) => {
      const id = wellFormedId(request.params.id)
      const me = currentInstance(request)
      const blob = await findBlob(deps.db, id)
      authorize(blob && (await mayDownloadBlob(deps.db, { viewer: me.id, blob })))
      const range = parseRange(request, blob.size)
      if (range === 'unsatisfiable') {
        return reply
          .status(416)
          .header('content-range', `bytes */${blob.size}`)
          .send(new RelayError('E_RANGE').body())
      }
      const { start, end } = range ?? { start: 0, end: blob.size - 1 }
      const stream = await deps.store.read(id, { start, end })
      // Its rows go after its file: between the two, the purge has taken it.
      if (!stream) throw new RelayError('E_NOT_FOUND')
      // The grant counts as fetched once the last byte has been sent, whatever ranges it took.
      if (end === blob.size - 1 && blob.uploader !== me.id) {
        reply.raw.once('finish', () => {
          markFetched(deps.db, { blobId: id, instanceId: me.id, nowMs: deps.clock.now() }).catch(
            (error: unknown) => request.log.error({ err: loggable(error) }, 'marking a blob fetched failed'),
          )
        })
      }
      return reply
        .status(range ? 206 : 200)
        .headers({
          'content-type': 'application/octet-stream',
          'content-length': String(end - start + 1),
          'accept-ranges': 'bytes',
          ...(range ? { 'content-range': `bytes ${start}-${end}/${blob.size}` } : {}),
        })
        .send(stream)
    },
  )
}

/** The connection closed before the body ended (the client gone, or a body shorter than declared). */
function isClientAbort(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE'
}

/** One `bytes=start-end` range (RFC 9110 §14.2); several ranges are not supported and get the whole file. */
function parseRange(
  request: FastifyRequest,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  const header = request.headers.range
  if (!header) return undefined
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!match) return undefined
  const [, from = '', to = ''] = match
  if (from === '' && to === '') return undefined
  const start = from === '' ? Math.max(0, size - Number(to)) : Number(from)
  const end = from === '' || to === '' ? size - 1 : Math.min(Number(to), size - 1)
  if (start > end || start >= size) return 'unsatisfiable'
  return { start, end }
}
