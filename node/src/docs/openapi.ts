import { ErrorBodySchema } from '@ochat/shared-protocol'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { OPERATIONS, type Operation } from './operations.ts'

/** The OpenAPI 3.1 document at GET /docs, built from the zod schemas listed in operations.ts. */
const jsonSchema = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' })

function security(auth: Operation['auth']) {
  if (auth === 'public') return []
  if (auth === 'session') return [{ session: [] }]
  return [{ apiKey: [auth] }, { session: [] }]
}

export function buildOpenApi(company: string) {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const op of OPERATIONS) {
    const inPath = [...op.path.matchAll(/\{(\w+)\}/g)].map((match) => ({
      name: match[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }))
    const query = op.query
      ? Object.entries(
          (jsonSchema(op.query) as { properties?: Record<string, unknown> }).properties ?? {},
        ).map(([name, schema]) => ({ name, in: 'query', required: false, schema }))
      : []
    const parameters = [...inPath, ...query]
    paths[op.path] ??= {}
    const entry = paths[op.path] ?? {}
    entry[op.method] = {
      summary: op.summary,
      ...(parameters.length > 0 ? { parameters } : {}),
      security: security(op.auth),
      ...(op.auth !== 'public' && op.auth !== 'session' ? { 'x-scope': op.auth } : {}),
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
          ...(op.ok.schema
            ? { content: { 'application/json': { schema: jsonSchema(op.ok.schema) } } }
            : op.ok.type
              ? { content: { [op.ok.type]: {} } }
              : {}),
        },
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
      title: `${company} — O'Chat node API`,
      version: '1',
      description:
        'Records with chatter, followers, notifications and activities. Send `Authorization: Bearer <API key>`; ' +
        'POSTs accept an `Idempotency-Key` header (24 h); lists page with `limit` and `cursor`.',
    },
    components: {
      securitySchemes: {
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
      },
    },
    paths,
  }
}

export async function docsRoutes(app: FastifyInstance, deps: { company: string }): Promise<void> {
  // Built on the first request, then kept: converting every schema takes ~70 ms of CPU, which every
  // start would otherwise pay, and few readers ever ask.
  let document: ReturnType<typeof buildOpenApi> | undefined
  app.get('/docs', { config: { access: 'public' } }, async () => {
    document ??= buildOpenApi(deps.company)
    return document
  })
}
