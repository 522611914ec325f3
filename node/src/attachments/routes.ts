import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import { type Clock, noBody, rawBody, refusal, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import { principalOf } from '../auth/plugin.ts'
import type { Db } from '../db/client.ts'
import { NodeError } from '../errors.ts'
import type { ModelRegistry } from '../models/registry.ts'
import { loadAttachment } from '../policies/index.ts'
import type { AttachmentSettings } from '../settings.ts'
import { deleteAttachment } from './delete-attachment.ts'
import { contentDisposition, parseRange } from './http.ts'
import { AttachmentDetailSchema, presentAttachmentDetail } from './presenter.ts'
import { AttachmentParams, UploadQuery, uploadHeaders } from './schema.ts'
import { contentPath, resetTempDir } from './storage.ts'
import { uploadAttachment } from './upload-attachment.ts'

/**
 * Chatter attachments: upload a file (the raw bytes as the body), then post a message with its id;
 * read its metadata, download it (whole or one byte range), delete it while it is on no message.
 */
export async function attachmentRoutes(
  app: FastifyInstance,
  opts: { db: Db; clock: Clock; config: AttachmentSettings; registry: ModelRegistry },
) {
  const { db, registry } = opts
  const dir = opts.config.attachmentDir
  const routes = app.withTypeProvider<ZodTypeProvider>()
  resetTempDir(dir)

  // The upload route gets a scope of its own: every media type is a file here, and the body is
  // handed over as a stream, unread, so neither the JSON parser nor the 1 MB body limit applies.
  await routes.register(async (scope) => {
    const upload = scope.withTypeProvider<ZodTypeProvider>()
    upload.removeAllContentTypeParsers()
    upload.addContentTypeParser('*', (_request, payload, done) => done(null, payload))
    // Before any parsing: a declared size over the limit is refused without reading a byte, and a
    // malformed Content-Type gets this route's answer rather than the JSON routes' 415.
    upload.addHook('preParsing', async (request) => {
      uploadHeaders(request.headers, opts.config.attachmentMaxBytes)
      // An empty Content-Type means "unknown", like none at all (Fastify would answer 415 to it).
      if (request.headers['content-type']?.trim() === '') delete request.headers['content-type']
    })

    upload.post(
      '/api/v1/attachments',
      {
        config: { access: 'user', scope: 'chatter:write' },
        schema: {
          summary: 'Upload a file (raw bytes, Content-Length required); attach it to a message by id',
          querystring: UploadQuery,
          body: rawBody(
            'application/octet-stream',
            'The file, as it is; its Content-Type is kept as its type',
          ),
          response: { 201: AttachmentDetailSchema },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request)
        const query = request.query
        const headers = uploadHeaders(request.headers, opts.config.attachmentMaxBytes)
        const row = await uploadAttachment({
          db,
          registry,
          principal,
          dir,
          // No body is parsed for an empty upload (Content-Length: 0): the body is then null (validation
          // turns a missing body into null) and the raw request is empty.
          body: (request.body as Readable | null) ?? request.raw,
          declaredBytes: headers.declaredBytes,
          maxBytes: opts.config.attachmentMaxBytes,
          pace: opts.config.uploadPace,
          fileName: query.fileName,
          mimeType: headers.mimeType,
          recordId: query.recordId,
          now: opts.clock.now(),
        })
        return reply.status(201).send(presentAttachmentDetail(row))
      },
    )
  })

  routes.get(
    '/api/v1/attachments/:id',
    {
      config: { access: 'user', scope: 'chatter:read' },
      schema: {
        summary: "A file's details",
        params: AttachmentParams,
        response: { 200: AttachmentDetailSchema },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const { id } = request.params
      return presentAttachmentDetail(db.transaction((tx) => loadAttachment(tx, { principal, registry, id })))
    },
  )

  routes.get(
    '/api/v1/attachments/:id/content',
    {
      config: { access: 'user', scope: 'chatter:read' },
      schema: {
        summary: 'Download a file (Range supported)',
        params: AttachmentParams,
        response: {
          200: rawBody('application/octet-stream', 'The whole file, with the type it was uploaded with'),
          206: rawBody('application/octet-stream', 'The byte range asked for in Range'),
          416: refusal('The range starts past the end of the file (E_RANGE_NOT_SATISFIABLE)'),
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request)
      const { id } = request.params
      const row = db.transaction((tx) => loadAttachment(tx, { principal, registry, id }))
      const path = contentPath(dir, row.sha256)
      // A row without its file is the node's fault (lost data), not the caller's: a logged 500.
      await stat(path)
      const range = parseRange(request.headers.range, row.size)
      if (range === 'unsatisfiable') {
        void reply.header('content-range', `bytes */${row.size}`)
        throw new NodeError('E_RANGE_NOT_SATISFIABLE', `the file has ${row.size} bytes`)
      }
      void reply
        .header('content-type', row.mimeType)
        .header('content-disposition', contentDisposition(row.fileName))
        // Never let a browser guess the type or run an uploaded page as ours.
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "default-src 'none'; sandbox")
        .header('accept-ranges', 'bytes')
        // The content is addressed by its hash: it never changes under this URL.
        .header('etag', `"${row.sha256}"`)
        .header('cache-control', 'private, max-age=86400')
      if (range === undefined) {
        void reply.header('content-length', row.size)
        return reply.send(row.size === 0 ? '' : createReadStream(path))
      }
      return reply
        .status(206)
        .header('content-range', `bytes ${range.start}-${range.end}/${row.size}`)
        .header('content-length', range.end - range.start + 1)
        .send(createReadStream(path, { start: range.start, end: range.end }))
    },
  )

  routes.delete(
    '/api/v1/attachments/:id',
    {
      config: { access: 'user', scope: 'chatter:write' },
      schema: {
        summary: 'Delete an upload not yet on a message',
        params: AttachmentParams,
        response: { 204: noBody('Deleted') },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request)
      const { id } = request.params
      deleteAttachment({ db, registry, principal, id, dir })
      return reply.status(204).send()
    },
  )
}
