import { open } from 'node:fs/promises'
import { extname, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { rawBody, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { NodeError } from '../errors.ts'
import { buildIconSprite } from './icons.ts'

/** The UI's files: plain ES modules and CSS, no build step (node/web/). */
const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url))

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
}

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

/** A relative asset path: letters, digits, dashes, underscores and dots in segments, no `..`. */
const ASSET_PATH = /^(?:[a-z0-9_-]+\/)*[a-z0-9_-]+\.[a-z0-9]+$/i

/** The web UI: index.html at `/`, its modules and styles under `/assets/`. */
export async function webRoutes(app: FastifyInstance) {
  const routes = app.withTypeProvider<ZodTypeProvider>()

  routes.get(
    '/',
    {
      config: { access: 'public' },
      schema: { summary: 'The web UI', response: { 200: rawBody('text/html', 'The UI page') } },
    },
    async (_request, reply) => sendFile(reply, 'index.html'),
  )

  // Browsers and feed readers ask for /favicon.ico whatever the page links; the SVG is what we have.
  routes.get(
    '/favicon.ico',
    {
      config: { access: 'public' },
      schema: { summary: "The node's icon", response: { 200: rawBody('image/svg+xml', 'An SVG icon') } },
    },
    async (_request, reply) => sendFile(reply, 'favicon.svg'),
  )

  // Built once at start-up: a missing icon fails the boot, not a page.
  const sprite = await buildIconSprite()
  routes.get(
    '/assets/icons.svg',
    {
      config: { access: 'public' },
      schema: {
        summary: 'The UI icons',
        response: { 200: rawBody('image/svg+xml', 'One <symbol> per icon, by its name') },
      },
    },
    async (_request, reply) =>
      reply.headers(SECURITY_HEADERS).header('content-type', 'image/svg+xml; charset=utf-8').send(sprite),
  )

  // The `*` wildcard is read by the handler, not declared: it has no name the API document could give
  // as a path parameter, and a path the handler refuses is the same 404 as a missing file.
  routes.get(
    '/assets/*',
    {
      config: { access: 'public' },
      schema: {
        summary: 'Web UI files',
        response: { 200: rawBody('*/*', 'A script, style sheet or image of the UI, by its extension') },
      },
    },
    async (request, reply) => {
      const path = (request.params as { '*': string })['*']
      if (!ASSET_PATH.test(path)) throw new NodeError('E_NOT_FOUND')
      return sendFile(reply, path)
    },
  )
}

/**
 * Why a path may not open that says nothing about the node: missing, too long, a directory, a loop of
 * links, not readable. The caller gets the same 404 as for any missing file; anything else (a disk
 * error, no file descriptors left) is the node's failure.
 */
const NOT_FOUND_CODES = new Set([
  'ENOENT',
  'ENOTDIR',
  'ENAMETOOLONG',
  'EISDIR',
  'EACCES',
  'EPERM',
  'ELOOP',
  'EINVAL',
])

async function sendFile(reply: FastifyReply, relative: string) {
  const type = CONTENT_TYPES[extname(relative).toLowerCase()]
  const path = resolve(WEB_DIR, relative)
  if (!type || !path.startsWith(WEB_DIR.endsWith(sep) ? WEB_DIR : WEB_DIR + sep))
    throw new NodeError('E_NOT_FOUND')
  // Opened first, then measured and streamed from the same descriptor: a file that cannot be read fails
  // here, before the answer starts, not halfway through the stream.
  const file = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    if (NOT_FOUND_CODES.has(error.code ?? '')) throw new NodeError('E_NOT_FOUND')
    throw error
  })
  const info = await file.stat().catch(async (error: unknown) => {
    await file.close()
    throw error
  })
  if (!info.isFile()) {
    await file.close()
    throw new NodeError('E_NOT_FOUND')
  }
  return reply
    .headers(SECURITY_HEADERS)
    .header('content-type', type)
    .header('content-length', info.size)
    .send(file.createReadStream())
}
