import {
  ConnectionDecisionSchema,
  ConnectionRequestSchema,
  ConnectionViewSchema,
  ErrorBodySchema,
  InstanceViewSchema,
  RelayInfoSchema,
  RelayRatesSchema,
  SignedKeyRotationSchema,
  SignedReceiptSchema,
  SignedRegistrationSchema,
  SubmitRequestSchema,
  SubmitResponseSchema,
} from '@ochat/shared-protocol'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'

/**
 * The OpenAPI 3.1 document at GET /docs, built from the same zod schemas the routes validate with. A
 * test checks that every route the app registers is documented here, and nothing else.
 */
type Auth = 'public' | 'signed' | 'upload-token' | 'metrics'
type Operation = {
  method: 'get' | 'post' | 'put'
  path: string
  summary: string
  auth: Auth
  body?: z.ZodType
  bodyType?: 'application/octet-stream'
  ok: { status: number; schema?: z.ZodType; description?: string }
  /** When the route answers 429 with Retry-After, and why. */
  limited?: string
}

const ReceiptsBody = z.object({ receipts: z.array(SignedReceiptSchema).min(1).max(256) })
const BlobDeclaration = z.object({ size: z.int().min(1), sha256: z.string().optional() })

export const OPERATIONS: Operation[] = [
  {
    method: 'get',
    path: '/v1/info',
    summary: "The relay's id, policy, limits and signed key set",
    auth: 'public',
    ok: { status: 200, schema: RelayInfoSchema },
  },
  {
    method: 'get',
    path: '/v1/rates',
    summary: 'The token buckets an envelope submit meets, for senders to pace to',
    auth: 'public',
    ok: { status: 200, schema: RelayRatesSchema },
  },
  { method: 'get', path: '/healthz', summary: 'Liveness', auth: 'public', ok: { status: 200 } },
  {
    method: 'get',
    path: '/readyz',
    summary: 'Readiness: the database answers',
    auth: 'public',
    ok: { status: 200 },
  },
  { method: 'get', path: '/docs', summary: 'This document', auth: 'public', ok: { status: 200 } },
  {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics (bearer token, or local callers)',
    auth: 'metrics',
    ok: { status: 200 },
  },
  {
    method: 'post',
    path: '/v1/instances',
    summary: 'Register an instance by its public keys (self-signed; invite token if required)',
    auth: 'public',
    body: SignedRegistrationSchema,
    limited:
      'Too many new instances from this address this hour (E_REGISTRATION_RATE_LIMITED, open registration)',
    ok: {
      status: 201,
      schema: z.object({ instance: InstanceViewSchema }),
      description: 'Registered (200 when already registered)',
    },
  },
  {
    method: 'get',
    path: '/v1/instances/me',
    summary: 'The calling instance',
    auth: 'signed',
    ok: { status: 200, schema: z.object({ instance: InstanceViewSchema }) },
  },
  {
    method: 'get',
    path: '/v1/instances/{id}',
    summary: 'A peer instance the caller has a connection with',
    auth: 'signed',
    ok: { status: 200, schema: z.object({ instance: InstanceViewSchema }) },
  },
  {
    method: 'post',
    path: '/v1/instances/me/keys',
    summary: 'Rotate keys: signed by the current identity key and the new one',
    auth: 'signed',
    body: SignedKeyRotationSchema,
    ok: { status: 200, schema: z.object({ instance: InstanceViewSchema }) },
  },
  {
    method: 'post',
    path: '/v1/connections',
    summary: 'Request a connection, with a message',
    auth: 'signed',
    body: ConnectionRequestSchema,
    limited:
      'Too many requests from this instance or address this hour, or the addressee has its share from your address (E_CONNECTION_RATE_LIMITED); it takes no more pending requests now (E_CONNECTION_REQUESTS_FULL); it rejected you less than 24 h ago (E_CONNECTION_RECENTLY_REJECTED)',
    ok: { status: 201, schema: z.object({ connection: ConnectionViewSchema }) },
  },
  {
    method: 'get',
    path: '/v1/connections',
    summary: "The caller's connections, both directions, with history",
    auth: 'signed',
    ok: { status: 200, schema: z.object({ connections: z.array(ConnectionViewSchema) }) },
  },
  {
    method: 'get',
    path: '/v1/connections/{id}',
    summary: 'One connection',
    auth: 'signed',
    ok: { status: 200, schema: z.object({ connection: ConnectionViewSchema }) },
  },
  {
    method: 'post',
    path: '/v1/connections/{id}/decision',
    summary: 'Accept, reject or revoke; revoking purges queued envelopes',
    auth: 'signed',
    body: ConnectionDecisionSchema,
    ok: { status: 200, schema: z.object({ connection: ConnectionViewSchema, purged: z.int() }) },
  },
  {
    method: 'post',
    path: '/v1/envelopes',
    summary: 'Submit one envelope or a bulk send of up to 1,000; one result each, after the durable write',
    auth: 'signed',
    body: SubmitRequestSchema,
    ok: { status: 200, schema: SubmitResponseSchema },
  },
  {
    method: 'get',
    path: '/v1/envelopes/{id}',
    summary: "The sender's view of one of its envelopes",
    auth: 'signed',
    ok: { status: 200 },
  },
  {
    method: 'post',
    path: '/v1/receipts',
    summary: 'Delivered or Read receipts, signed by the recipient',
    auth: 'signed',
    body: ReceiptsBody,
    ok: { status: 200 },
  },
  {
    method: 'post',
    path: '/v1/blobs',
    summary:
      'Declare an attachment upload (ciphertext length, optional SHA-256); returns a one-time upload token',
    auth: 'signed',
    body: BlobDeclaration,
    ok: { status: 201 },
  },
  {
    method: 'put',
    path: '/v1/blobs/{id}',
    summary: 'Stream the declared bytes (Authorization: Bearer <uploadToken>)',
    auth: 'upload-token',
    bodyType: 'application/octet-stream',
    ok: { status: 200 },
  },
  {
    method: 'get',
    path: '/v1/blobs/{id}',
    summary: 'Download an attachment as a recipient; Range supported',
    auth: 'signed',
    ok: { status: 200 },
  },
  {
    method: 'get',
    path: '/v1/ws',
    summary: 'WebSocket for delivery and submits (PROTOCOL.md §6)',
    auth: 'public',
    ok: { status: 101, description: 'Switching protocols; the relay sends a challenge' },
  },
]

const jsonSchema = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' })

export function buildOpenApi(relayName: string) {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const op of OPERATIONS) {
    const parameters = [...op.path.matchAll(/\{(\w+)\}/g)].map((match) => ({
      name: match[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }))
    paths[op.path] ??= {}
    const entry = paths[op.path] ?? {}
    entry[op.method] = {
      summary: op.summary,
      ...(parameters.length > 0 ? { parameters } : {}),
      security:
        op.auth === 'signed'
          ? [{ signedRequest: [] }]
          : op.auth === 'upload-token'
            ? [{ uploadToken: [] }]
            : op.auth === 'metrics'
              ? [{ metricsToken: [] }]
              : [],
      ...(op.body
        ? {
            requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(op.body) } } },
          }
        : {}),
      ...(op.bodyType
        ? {
            requestBody: {
              required: true,
              content: { [op.bodyType]: { schema: { type: 'string', format: 'binary' } } },
            },
          }
        : {}),
      responses: {
        [op.ok.status]: {
          description: op.ok.description ?? 'OK',
          ...(op.ok.schema ? { content: { 'application/json': { schema: jsonSchema(op.ok.schema) } } } : {}),
        },
        ...(op.limited
          ? {
              429: {
                description: op.limited,
                headers: {
                  'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer', minimum: 1 } },
                },
                content: { 'application/json': { schema: jsonSchema(ErrorBodySchema) } },
              },
            }
          : {}),
        '4XX': {
          description: 'Refused: a stable code, a message and a reason',
          content: { 'application/json': { schema: jsonSchema(ErrorBodySchema) } },
        },
      },
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: `${relayName} API`,
      version: '1',
      description:
        "The O'Chat relay: ciphertext store-and-forward between company nodes. Wire format: shared-protocol/PROTOCOL.md.",
    },
    components: {
      securitySchemes: {
        signedRequest: {
          type: 'apiKey',
          in: 'header',
          name: 'ochat-signature',
          description:
            'Ed25519 signature with ochat-instance, ochat-timestamp and ochat-nonce (PROTOCOL.md §2.2)',
        },
        uploadToken: {
          type: 'http',
          scheme: 'bearer',
          description: 'The one-time token from POST /v1/blobs',
        },
        metricsToken: { type: 'http', scheme: 'bearer', description: 'RELAY_METRICS_TOKEN' },
      },
    },
    paths,
  }
}

export async function docsRoutes(app: FastifyInstance, deps: { relayName: string }): Promise<void> {
  // Built on the first request, then kept: converting every schema costs tens of ms of CPU, which
  // every start would otherwise pay, and few readers ever ask.
  let document: ReturnType<typeof buildOpenApi> | undefined
  app.get('/docs', { config: { auth: 'public' } }, async () => {
    document ??= buildOpenApi(deps.relayName)
    return document
  })
}
