import type {
  FastifyInstance,
  FastifySchemaCompiler,
  FastifySerializerCompiler,
  FastifyTypeProvider,
  RouteOptions,
} from 'fastify'
import { z } from 'zod'
import { ErrorBodySchema } from '../errors.ts'

/**
 * One declaration per route. A route gives its params, query, body and every answer as zod schemas in
 * Fastify's `schema`; the same schemas validate the request, type the handler, serialize the answer and
 * write the OpenAPI document. Both servers use this mechanism rather than a type-provider package:
 * a refused request must become an error of the server's own catalog with every bad field listed, and
 * the document must carry each server's auth schemes and refusal codes, which the packages' compilers
 * and their OpenAPI plugin do not know.
 */
export interface ZodTypeProvider extends FastifyTypeProvider {
  validator: this['schema'] extends z.ZodType ? z.output<this['schema']> : unknown
  serializer: this['schema'] extends z.ZodType ? z.input<this['schema']> : unknown
}

declare module 'fastify' {
  interface FastifySchema {
    /** One line for the API document. */
    summary?: string
    /** More for the API document, when one line is not enough. */
    description?: string
  }
}

/** The request part Fastify validates, as a server names it in its errors. */
export type RequestPart = 'body' | 'querystring' | 'params' | 'headers'

/**
 * Fastify's validator compiler for zod schemas. A refusal is the error `refuse` builds from the part and
 * the zod error, so it reaches the server's error handler as one of its own catalog errors.
 */
export function zodValidatorCompiler(
  refuse: (part: RequestPart, error: z.ZodError) => Error,
): FastifySchemaCompiler<z.ZodType> {
  return ({ schema, httpPart }) =>
    (data) => {
      const parsed = schema.safeParse(data)
      if (parsed.success) return { value: parsed.data }
      return { error: refuse((httpPart ?? 'body') as RequestPart, parsed.error) }
    }
}

/**
 * Fastify's serializer compiler for zod schemas: the answer is parsed by its schema, so a field the
 * schema does not declare never leaves the server, and a handler that drifts from its declaration
 * fails loudly in tests instead of sending an undocumented shape.
 */
export const zodSerializerCompiler: FastifySerializerCompiler<z.ZodType> =
  ({ schema, url, method }) =>
  (data) => {
    if (RAW_BODIES.has(schema)) return typeof data === 'string' ? data : JSON.stringify(data)
    const parsed = schema.safeParse(data)
    if (!parsed.success) {
      const first = parsed.error.issues[0]
      throw new Error(
        `${method} ${url}: the answer does not match its schema at ${first?.path.join('.') || '$'}: ${first?.message}`,
      )
    }
    return JSON.stringify(parsed.data)
  }

/** Answers that are not JSON: what they carry is said by their content type alone. */
const RAW_BODIES = new WeakMap<z.ZodType, { contentType: string; description: string }>()

/** An answer or request body that is not JSON (a file, HTML, a WebSocket upgrade, nothing at all). */
export function rawBody(contentType: string, description: string): z.ZodType<unknown> {
  const schema = z.unknown()
  RAW_BODIES.set(schema, { contentType, description })
  return schema
}

/** 204 and the like: the answer has no body. */
export const noBody = (description: string) => rawBody('', description)

/**
 * A refusal a route documents beside the generic 4XX, such as a 429 with Retry-After: the error body,
 * with what causes it.
 */
export function refusal(description: string): z.ZodType {
  return ErrorBodySchema.meta({ description })
}

/** How a server describes a route's caller in the document. */
export type SecurityOf = (route: DeclaredRoute) => {
  security: Record<string, string[]>[]
  extensions?: Record<string, unknown>
}

export type DeclaredRoute = {
  method: string
  url: string
  schema?: {
    summary?: string
    description?: string
    params?: z.ZodType
    querystring?: z.ZodType
    body?: z.ZodType
    response?: Record<string, z.ZodType>
  }
  config?: Record<string, unknown>
  websocket?: boolean
}

/**
 * Records every route as it is registered, HEAD excepted (Fastify adds one for each GET). Call before
 * any route is registered; the list fills as plugins load.
 */
export function collectRoutes(app: FastifyInstance): DeclaredRoute[] {
  const routes: DeclaredRoute[] = []
  app.addHook('onRoute', (route: RouteOptions & { websocket?: boolean }) => {
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue
      routes.push({
        method: method.toLowerCase(),
        url: route.url,
        schema: route.schema as DeclaredRoute['schema'],
        config: route.config as Record<string, unknown> | undefined,
        websocket: route.websocket,
      })
    }
  })
  return routes
}

/** The routes whose declaration lacks an answer schema for a success status; the tests keep it empty. */
export function routesWithoutAnswer(routes: DeclaredRoute[]): string[] {
  return routes
    .filter((route) => !Object.keys(route.schema?.response ?? {}).some((status) => /^[123]/.test(status)))
    .map((route) => `${route.method} ${route.url}`)
}

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>

function content(schema: z.ZodType, io: 'input' | 'output') {
  const raw = RAW_BODIES.get(schema)
  if (raw)
    return raw.contentType
      ? { [raw.contentType]: { schema: { type: 'string', format: 'binary' } } }
      : undefined
  return { 'application/json': { schema: jsonSchema(schema, io) } }
}

function describe(schema: z.ZodType, fallback: string): string {
  return RAW_BODIES.get(schema)?.description ?? z.globalRegistry.get(schema)?.description ?? fallback
}

function parameters(where: 'path' | 'query', schema: z.ZodType | undefined) {
  if (!schema) return []
  const object = jsonSchema(schema, 'input') as {
    properties?: Record<string, Record<string, unknown>>
    required?: string[]
  }
  return Object.entries(object.properties ?? {}).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || (object.required ?? []).includes(name),
    ...(typeof property.description === 'string' ? { description: property.description } : {}),
    schema: property,
  }))
}

/**
 * The OpenAPI 3.1 document of the declared routes. Every operation also answers the generic 4XX error
 * body; a route that documents a particular refusal (a 429 with Retry-After) says so in its responses.
 */
export function buildOpenApi(options: {
  routes: DeclaredRoute[]
  info: { title: string; version: string; description: string }
  securitySchemes: Record<string, unknown>
  securityOf: SecurityOf
}): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {}
  const sorted = [...options.routes].sort((a, b) =>
    a.url === b.url ? a.method.localeCompare(b.method) : a.url.localeCompare(b.url),
  )
  for (const route of sorted) {
    const path = route.url.replace(/:(\w+)/g, '{$1}')
    const schema = route.schema ?? {}
    const { security, extensions } = options.securityOf(route)
    const params = [...parameters('path', schema.params), ...parameters('query', schema.querystring)]
    const responses: Record<string, unknown> = {}
    for (const [status, answer] of Object.entries(schema.response ?? {})) {
      const body = content(answer, 'output')
      responses[status] = {
        description: describe(answer, status.startsWith('2') ? 'OK' : 'Refused'),
        ...(status === '429'
          ? {
              headers: {
                'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer', minimum: 1 } },
              },
            }
          : {}),
        ...(body ? { content: body } : {}),
      }
    }
    responses['4XX'] ??= {
      description: 'Refused: a stable code, a message and a reason',
      content: { 'application/json': { schema: jsonSchema(ErrorBodySchema, 'output') } },
    }
    const requestBody = schema.body ? content(schema.body, 'input') : undefined
    // A route that also accepts no body at all (a POST that only acts) says so; a raw body (an upload)
    // is always expected, though its schema, z.unknown(), would accept nothing.
    const bodyRequired =
      schema.body !== undefined &&
      (RAW_BODIES.has(schema.body) ||
        (!schema.body.safeParse(null).success && !schema.body.safeParse(undefined).success))
    paths[path] ??= {}
    ;(paths[path] as Record<string, unknown>)[route.method] = {
      summary: schema.summary ?? '',
      ...(schema.description ? { description: schema.description } : {}),
      ...(params.length > 0 ? { parameters: params } : {}),
      security,
      ...extensions,
      ...(requestBody ? { requestBody: { required: bodyRequired, content: requestBody } } : {}),
      responses,
    }
  }
  return {
    openapi: '3.1.0',
    info: options.info,
    components: { securitySchemes: options.securitySchemes },
    paths,
  }
}
