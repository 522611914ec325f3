import { fileURLToPath } from 'node:url'
import { noBody, rawBody, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { NodeError } from '../errors.ts'
import { WebAssets } from './assets.ts'
import { buildIconSprite } from './icons.ts'

/** The UI's files: plain ES modules and CSS, no build step (node/web/). */
const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url))

/**
 * Only our own scripts and styles run on the UI's pages: no inline script or style, no other origin,
 * and no framing (clickjacking). Message bodies are sanitized on the server; this is the second wall.
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  // Files change with every deploy and are small: revalidate rather than cache stale modules.
  'cache-control': 'no-cache',
}

/**
 * One set per process: the files are part of the release and cannot change while it runs, and reading
 * and gzipping them all costs tens of milliseconds that a process starting many nodes (the tests)
 * would pay again for each.
 */
let loaded: Promise<WebAssets> | undefined
function webAssets(): Promise<WebAssets> {
  loaded ??= buildIconSprite().then((sprite) => new WebAssets(WEB_DIR, sprite))
  // A failed start is not kept: the next node tries again, and fails with the reason again.
  loaded.catch(() => {
    loaded = undefined
  })
  return loaded
}

/** A relative asset path: letters, digits, dashes, underscores and dots in segments, no `..`. */
const ASSET_PATH = /^(?:[a-z0-9_-]+\/)*[a-z0-9_-]+\.[a-z0-9]+$/i

/** The web UI: index.html at `/`, its modules and styles under `/assets/`. */
export async function webRoutes(app: FastifyInstance) {
  const routes = app.withTypeProvider<ZodTypeProvider>()

  routes.get(
    '/',
    {
      config: { access: 'public' },
      schema: {
        summary: 'The web UI',
        response: {
          200: rawBody('text/html', 'The UI page'),
          304: noBody('The browser has these bytes already (If-None-Match)'),
        },
      },
    },
    async (request, reply) => sendAsset(request, reply, 'index.html'),
  )

  // Browsers and feed readers ask for /favicon.ico whatever the page links; the SVG is what we have.
  routes.get(
    '/favicon.ico',
    {
      config: { access: 'public' },
      schema: {
        summary: "The node's icon",
        response: {
          200: rawBody('image/svg+xml', 'An SVG icon'),
          304: noBody('The browser has these bytes already (If-None-Match)'),
        },
      },
    },
    async (request, reply) => sendAsset(request, reply, 'favicon.svg'),
  )

  // Built at the first start: a missing icon or page fails the boot, not a request.
  const assets = await webAssets()
  const sendAsset = (request: FastifyRequest, reply: FastifyReply, name: string) => {
    const asset = assets.get(name)
    if (!asset) throw new NodeError('E_NOT_FOUND')
    reply.headers(SECURITY_HEADERS).header('etag', asset.etag).header('vary', 'accept-encoding')
    // The sprite under its current version never changes: cached for good, never asked again.
    if (name === 'icons.svg' && request.url === assets.spritePath)
      reply.header('cache-control', 'public, max-age=31536000, immutable')
    if (request.headers['if-none-match'] === asset.etag) return reply.status(304).send()
    reply.header('content-type', asset.type)
    if (asset.gzip && /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? '')))
      return reply.header('content-encoding', 'gzip').send(asset.gzip)
    return reply.send(asset.body)
  }

  // The `*` wildcard is read by the handler, not declared: it has no name the API document could give
  // as a path parameter, and a path the handler refuses is the same 404 as a missing file.
  routes.get(
    '/assets/*',
    {
      config: { access: 'public' },
      schema: {
        summary: 'Web UI files',
        response: {
          200: rawBody('*/*', 'A script, style sheet or image of the UI (icons.svg: the icon sprite)'),
          304: noBody('The browser has these bytes already (If-None-Match)'),
        },
      },
    },
    async (request, reply) => {
      const path = (request.params as { '*': string })['*']
      if (!ASSET_PATH.test(path)) throw new NodeError('E_NOT_FOUND')
      return sendAsset(request, reply, path)
    },
  )
}
