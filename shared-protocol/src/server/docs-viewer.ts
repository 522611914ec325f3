import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { z } from 'zod'
import { rawBody, type ZodTypeProvider } from './routes.ts'

/**
 * The page may load and run only its own files: Swagger UI's bundle and style sheet, and the two lines
 * below that start it (a file, since no inline script runs). It fetches the document and, with "Try it
 * out", calls the server's API: both same-origin. Its style sheet draws icons from `data:` images.
 */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'cache-control': 'no-cache',
}

// The validator is off: left on, Swagger UI sends the document to validator.swagger.io.
const START_SCRIPT = `SwaggerUIBundle({ url: '/docs/json', dom_id: '#docs', deepLinking: true, validatorUrl: null })\n`

/** The files the page loads from /docs/assets/, with their type; `null`: ours, not the package's. */
const ASSETS: Record<string, { type: string; file: string | null }> = {
  'swagger-ui.css': { type: 'text/css; charset=utf-8', file: 'swagger-ui.css' },
  'swagger-ui-bundle.js': { type: 'text/javascript; charset=utf-8', file: 'swagger-ui-bundle.js' },
  'start.js': { type: 'text/javascript; charset=utf-8', file: null },
}

function page(title: string): string {
  const escaped = title.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>${escaped}</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  </head>
  <body>
    <div id="docs"></div>
    <script src="/docs/assets/swagger-ui-bundle.js"></script>
    <script src="/docs/assets/start.js"></script>
  </body>
</html>
`
}

/** Whether a GET of /docs comes from a browser, which asks for HTML first; a client asking for anything gets the JSON. */
export function wantsPage(accept: string | undefined): boolean {
  return accept?.split(',').some((type) => type.trim().startsWith('text/html')) ?? false
}

/** The API viewer page (Swagger UI) for a browser, with the title of the document it shows. */
export function sendViewer(reply: FastifyReply, title: string): FastifyReply {
  return reply
    .headers(PAGE_HEADERS)
    .header('content-type', 'text/html; charset=utf-8')
    .header('vary', 'accept')
    .send(page(title))
}

/**
 * Swagger UI's files, from the swagger-ui-dist package each server depends on (`swaggerUiDir`): served
 * by the server itself, no other origin.
 */
export async function viewerAssetRoutes(
  app: FastifyInstance,
  opts: {
    swaggerUiDir: string
    /** The route's `config`: public, in the words of the server's auth plugin. */
    routeConfig: Record<string, unknown>
    notFound: () => Error
  },
): Promise<void> {
  // Read on first use, then kept (2 MB): most servers never have their docs opened.
  const loaded = new Map<string, Buffer>()
  app.withTypeProvider<ZodTypeProvider>().get(
    '/docs/assets/:name',
    {
      config: opts.routeConfig,
      schema: {
        summary: 'The API viewer files',
        params: z.object({ name: z.string() }),
        response: { 200: rawBody('*/*', "Swagger UI's script or style sheet") },
      },
    },
    async (request, reply) => {
      const asset = Object.hasOwn(ASSETS, request.params.name) ? ASSETS[request.params.name] : undefined
      if (!asset) throw opts.notFound()
      let body = loaded.get(request.params.name)
      if (!body) {
        body = asset.file ? await readFile(join(opts.swaggerUiDir, asset.file)) : Buffer.from(START_SCRIPT)
        loaded.set(request.params.name, body)
      }
      return (
        reply
          .header('content-type', asset.type)
          // An hour: the files change only with the package, and a stale viewer still reads the document.
          .header('cache-control', 'public, max-age=3600')
          .send(body)
      )
    },
  )
}
