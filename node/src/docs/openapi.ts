import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import {
  buildOpenApi,
  type DeclaredRoute,
  rawBody,
  type SecurityOf,
  sendViewer,
  viewerAssetRoutes,
  wantsPage,
  type ZodTypeProvider,
} from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { NodeError } from '../errors.ts'
import { routeCaller } from '../policies/index.ts'

/** Swagger UI's files, from this server's own dependency. */
const SWAGGER_UI_DIR = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'))

const SECURITY_SCHEMES = {
  apiKey: {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key (ock_…) with the scope the operation names',
  },
  session: {
    type: 'apiKey',
    in: 'cookie',
    name: 'ochat_session',
    description: 'The web UI session; writes also need the X-CSRF-Token header',
  },
}

/** How the document says who may call a route (policies/roles.ts routeCaller decides it). */
function securityOf(route: DeclaredRoute): ReturnType<SecurityOf> {
  const caller = routeCaller(route.config)
  if (caller === 'public') return { security: [] }
  if (caller === 'session') return { security: [{ session: [] }] }
  return { security: [{ apiKey: [caller] }, { session: [] }], extensions: { 'x-scope': caller } }
}

/** The OpenAPI 3.1 document of the node, built from the routes' own declarations. */
export function nodeOpenApi(routes: DeclaredRoute[], company: string) {
  return buildOpenApi({
    routes,
    info: {
      title: `${company} — O'Chat node API`,
      version: '1',
      description:
        'Records with chatter, followers, notifications and activities. Send `Authorization: Bearer <API key>`; ' +
        'POSTs accept an `Idempotency-Key` header (24 h); lists page with `limit` and `cursor`.',
    },
    securitySchemes: SECURITY_SCHEMES,
    securityOf,
  })
}

/**
 * `/docs/json` is the document; `/docs` shows it in a browser (Swagger UI). A client that does not ask
 * for HTML first still gets the JSON at `/docs`, where the document was before it had a viewer.
 */
export async function docsRoutes(app: FastifyInstance, deps: { company: string }): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>()
  // Built on the first request, then kept: converting every schema costs CPU, which every
  // start would otherwise pay, and few readers ever ask.
  let document: Record<string, unknown> | undefined
  const openApi = () => {
    document ??= nodeOpenApi(app.declaredRoutes, deps.company)
    return document
  }
  routes.get(
    '/docs/json',
    {
      config: { access: 'public' },
      schema: {
        summary: 'This document: OpenAPI 3.1',
        response: { 200: z.record(z.string(), z.unknown()) },
      },
    },
    async () => openApi(),
  )
  routes.get(
    '/docs',
    {
      config: { access: 'public' },
      schema: {
        summary: 'This document, readable: a viewer page for a browser, the JSON for any other client',
        response: {
          200: rawBody(
            'text/html',
            'The API viewer; application/json, as /docs/json, unless HTML is asked for',
          ),
        },
      },
    },
    async (request, reply) => {
      if (wantsPage(request.headers.accept)) return sendViewer(reply, `${deps.company} — O'Chat node API`)
      return reply
        .header('content-type', 'application/json; charset=utf-8')
        .header('vary', 'accept')
        .send(JSON.stringify(openApi()))
    },
  )
  await app.register(viewerAssetRoutes, {
    swaggerUiDir: SWAGGER_UI_DIR,
    routeConfig: { access: 'public' },
    notFound: () => new NodeError('E_NOT_FOUND'),
  })
}
