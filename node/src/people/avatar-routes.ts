import { type Clock, noBody, rawBody, refusal, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { IdParams } from '../api/params.ts'
import { principalOf } from '../auth/plugin.ts'
import type { Db } from '../db/client.ts'
import { NodeError, parseWith } from '../errors.ts'
import { authorizeUserChange } from '../policies/index.ts'
import { AVATAR_MAX_BYTES, AVATAR_TYPES, avatarUrl, sniffAvatarType } from './avatar-image.ts'
import { avatarVersion, deleteAvatar, findAvatar, upsertAvatar } from './avatar-repository.ts'
import { findPartner, findUser } from './repository.ts'

const AvatarQuery = z.object({
  /** The version in the presented `avatarUrl`: with the current one, the answer is cached for good. */
  v: z.coerce.number().int().nonnegative().optional(),
})

const AvatarSavedSchema = z.object({ avatarUrl: z.string() })

/** A user's picture (set on their partner), and any visible partner's picture to draw it. */
export async function avatarRoutes(app: FastifyInstance, opts: { db: Db; clock: Clock }) {
  const { db, clock } = opts
  const routes = app.withTypeProvider<ZodTypeProvider>()

  // Its own scope: the body is an image, read whole (it is small) and checked by its bytes.
  await routes.register(async (scope) => {
    const raw = scope.withTypeProvider<ZodTypeProvider>()
    raw.removeAllContentTypeParsers()
    // A path that names nobody is refused as such (E_INVALID_PARAMS) before the body's type is looked at.
    raw.addHook('preParsing', async (request) => {
      parseWith(IdParams, request.params, 'E_INVALID_PARAMS')
    })
    raw.addContentTypeParser(
      [...AVATAR_TYPES],
      { parseAs: 'buffer', bodyLimit: AVATAR_MAX_BYTES },
      (request, body, done) => {
        // An Idempotency-Key is checked against these bytes, as for a JSON body.
        request.rawBody = body as Buffer
        done(null, body)
      },
    )
    raw.addContentTypeParser('*', (request, _payload, done) =>
      done(
        new NodeError(
          'E_UNSUPPORTED_MEDIA_TYPE',
          `send the picture as ${AVATAR_TYPES.join(', ')}, not ${request.headers['content-type'] ?? 'no type'}`,
        ),
      ),
    )

    raw.put(
      '/api/v1/users/:id/avatar',
      {
        bodyLimit: AVATAR_MAX_BYTES,
        config: { access: 'user', scope: 'records:write' },
        schema: {
          summary:
            'Set your picture (administrators: anyone’s): the raw PNG, JPEG or WebP image, up to 256 KB',
          params: IdParams,
          body: rawBody('image/png', 'The image as it is; image/jpeg and image/webp also taken'),
          response: {
            200: AvatarSavedSchema,
            413: refusal('Larger than 256 KB (E_BODY_TOO_LARGE)'),
            415: refusal('Not sent as image/png, image/jpeg or image/webp (E_UNSUPPORTED_MEDIA_TYPE)'),
            422: refusal('The bytes are not a PNG, JPEG or WebP image (E_AVATAR_NOT_IMAGE)'),
          },
        },
      },
      async (request) => {
        const { id } = request.params
        authorizeUserChange(principalOf(request), id, {})
        const user = findUser(db, id)
        if (!user) throw new NodeError('E_NOT_FOUND')
        const bytes = request.body as Buffer | null
        const mime = bytes ? sniffAvatarType(bytes) : null
        if (!bytes || !mime)
          throw new NodeError('E_AVATAR_NOT_IMAGE', 'the first bytes are no PNG, JPEG or WebP signature')
        const updatedAt = db.transaction((tx) => {
          // Two uploads within one millisecond still get two versions, so no cache keeps the first.
          const previous = avatarVersion(tx, user.partnerId) ?? 0
          const at = Math.max(clock.now(), previous + 1)
          upsertAvatar(tx, { partnerId: user.partnerId, mime, bytes, updatedAt: at })
          return at
        })
        return { avatarUrl: avatarUrl(user.partnerId, updatedAt) ?? '' }
      },
    )
  })

  // Outside the image scope: a DELETE that carries a JSON body (some clients always send one) is fine.
  routes.delete(
    '/api/v1/users/:id/avatar',
    {
      config: { access: 'user', scope: 'records:write' },
      schema: {
        summary: 'Remove your picture (administrators: anyone’s); initials are drawn instead',
        params: IdParams,
        response: { 204: noBody('Removed (or there was none)') },
      },
    },
    async (request, reply) => {
      const { id } = request.params
      authorizeUserChange(principalOf(request), id, {})
      const user = findUser(db, id)
      if (!user) throw new NodeError('E_NOT_FOUND')
      deleteAvatar(db, user.partnerId)
      return reply.status(204).send()
    },
  )

  routes.get(
    '/api/v1/partners/:id/avatar',
    {
      config: { access: 'user', scope: 'records:read' },
      schema: {
        summary: "A contact's picture (as its avatarUrl gives it); 404 when it has none",
        params: IdParams,
        querystring: AvatarQuery,
        response: { 200: rawBody('image/png', 'The picture, with the type its bytes were checked to be') },
      },
    },
    async (request, reply) => {
      const { id } = request.params
      // Contacts are visible to every user (GET /api/v1/partners/:id): a missing one answers like no picture.
      if (!findPartner(db, id)) throw new NodeError('E_NOT_FOUND')
      const avatar = findAvatar(db, id)
      if (!avatar) throw new NodeError('E_NOT_FOUND')
      const current = request.query.v === avatar.updatedAt
      return (
        reply
          .header('content-type', avatar.mime)
          .header('x-content-type-options', 'nosniff')
          .header('content-security-policy', "default-src 'none'")
          // A versioned URL never changes its bytes; an unversioned one is checked each time.
          .header('cache-control', current ? 'private, max-age=31536000, immutable' : 'private, no-cache')
          .send(avatar.bytes)
      )
    },
  )
}
