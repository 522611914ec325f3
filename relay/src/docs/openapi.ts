import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import {
  buildOpenApi,
  type DeclaredRoute,
  rawBody,
  sendViewer,
  viewerAssetRoutes,
  wantsPage,
  type ZodTypeProvider,
} from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { RelayError } from '../errors.ts'

/** Swagger UI's files, from this server's own dependency. */
const SWAGGER_UI_DIR = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'))

const SECURITY_SCHEMES = {
  signedRequest: {
    type: 'apiKey',
    in: 'header',
    name: 'ochat-signature',
    description: 'Ed25519 signature with ochat-instance, ochat-timestamp and ochat-nonce (PROTOCOL.md §2.2)',
  },
  uploadToken: { type: 'http', scheme: 'bearer', description: 'The one-time token from POST /v1/blobs' },
  metricsToken: { type: 'http', scheme: 'bearer', description: 'RELAY_METRICS_TOKEN' },
}

/**
 * A route without a declared `auth` runs the signed-request hook (deny by default). A self-signed route
 * (registration) carries its signature in the body, which no security scheme can say: it has none, and
 * its operation's description says how it is signed.
 */
function securityOf(route: DeclaredRoute) {
  switch (route.config?.auth) {
    case 'public':
    case 'socket':
    case 'self-signed':
      return { security: [] }
    case 'upload-token':
      return { security: [{ uploadToken: [] }] }
    case 'metrics-token':
      return { security: [{ metricsToken: [] }] }
    default:
      return { security: [{ signedRequest: [] }] }
  }
}

/** The OpenAPI 3.1 document of the relay, built from the routes' own declarations. */
export function relayOpenApi(routes: DeclaredRoute[], relayName: string) {
  return buildOpenApi({
    routes,
    info: {
      title: `${relayName} API`,
      version: '1',
      description:
        "The O'Chat relay: ciphertext store-and-forward between company nodes. Wire format: shared-protocol/PROTOCOL.md.",
    },
    securitySchemes: SECURITY_SCHEMES,
    securityOf,
  })
}

/**
 * `/docs/json` is the document; `/docs` shows it in a browser (Swagger UI). A client that does not ask
 * for HTML first still gets the JSON at `/docs`, where the document was before it had a viewer.
 */
export async function docsRoutes(app: FastifyInstance, deps: { relayName: string }): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>()
  // Built on the first request, then kept: converting every schema costs CPU, which
  // every start would otherwise pay, and few readers ever ask.
  let document: Record<string, unknown> | undefined
  const openApi = () => {
    document ??= relayOpenApi(app.declaredRoutes, deps.relayName)
    return document
  }
  routes.get(
    '/docs/json',
    {
      config: { auth: 'public' },
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
      config: { auth: 'public' },
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
      if (wantsPage(request.headers.accept)) return sendViewer(reply, `${deps.relayName} API`)
      return reply
        .header('content-type', 'application/json; charset=utf-8')
        .header('vary', 'accept')
        .send(JSON.stringify(openApi()))
    },
  )
  await app.register(viewerAssetRoutes, {
    swaggerUiDir: SWAGGER_UI_DIR,
    routeConfig: { auth: 'public' },
    notFound: () => new RelayError('E_NOT_FOUND'),
  })
}
