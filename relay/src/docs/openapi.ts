import { buildOpenApi, type DeclaredRoute, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'

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

export async function docsRoutes(app: FastifyInstance, deps: { relayName: string }): Promise<void> {
  // Built on the first request, then kept: converting every schema costs CPU, which
  // every start would otherwise pay, and few readers ever ask.
  let document: Record<string, unknown> | undefined
  app.withTypeProvider<ZodTypeProvider>().get(
    '/docs',
    {
      config: { auth: 'public' },
      schema: {
        summary: 'This document: OpenAPI 3.1',
        response: { 200: z.record(z.string(), z.unknown()) },
      },
    },
    async () => {
      document ??= relayOpenApi(app.declaredRoutes, deps.relayName)
      return document
    },
  )
}
