import fc from 'fast-check'

/**
 * Requests made from a server's OpenAPI document (GET /docs): every operation, with its path
 * parameters, query and body built from the document's JSON schemas, then broken the way an attacker or
 * a buggy integrator breaks them. Seeded: the same seed gives the same requests.
 */

type JsonSchema = {
  type?: string | string[]
  enum?: unknown[]
  const?: unknown
  anyOf?: JsonSchema[]
  oneOf?: JsonSchema[]
  allOf?: JsonSchema[]
  properties?: Record<string, JsonSchema>
  required?: string[]
  items?: JsonSchema
  minLength?: number
  maxLength?: number
  minimum?: number
  maximum?: number
  minItems?: number
  maxItems?: number
  pattern?: string
  format?: string
}

export type Operation = {
  method: string
  /** The path as Fastify declares it: `/api/v1/records/:id`. */
  path: string
  query: { name: string; schema: JsonSchema }[]
  body?: JsonSchema
  /** A body that is not JSON (an upload): its content type. */
  bodyType?: string
  /** Refusals the operation declares as HTML pages (a link people open from an email). */
  htmlRefusals: number[]
}

/** One request to send, before the target adds its credentials (`as`). */
export type FuzzRequest = {
  operation: string
  method: string
  url: string
  headers: Record<string, string>
  payload?: string | Buffer
  /** Who sends it: one of the target's principals. */
  as: string
  /** Refusals the operation declares as HTML pages, not the error shape. */
  htmlRefusals: number[]
}

export function operationsOf(document: {
  paths: Record<string, Record<string, Record<string, unknown>>>
}): Operation[] {
  return Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => {
      const parameters = (operation.parameters ?? []) as { name: string; in: string; schema: JsonSchema }[]
      const content = (operation.requestBody as { content?: Record<string, { schema?: JsonSchema }> })
        ?.content
      const json = content?.['application/json']?.schema
      const other = content ? Object.keys(content).find((type) => type !== 'application/json') : undefined
      const responses = (operation.responses ?? {}) as Record<string, { content?: Record<string, unknown> }>
      const htmlRefusals = Object.entries(responses)
        .filter(([status, answer]) => Number(status) >= 400 && answer.content?.['text/html'] !== undefined)
        .map(([status]) => Number(status))
      return {
        method: method.toUpperCase(),
        path: path.replace(/\{(\w+)\}/g, ':$1'),
        query: parameters.filter((p) => p.in === 'query').map((p) => ({ name: p.name, schema: p.schema })),
        ...(json ? { body: json } : {}),
        ...(other ? { bodyType: other } : {}),
        htmlRefusals,
      }
    }),
  )
}

/** Strings that broke parsers, databases and renderers somewhere, once. */
const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\u202e\u0645\u0631\u062d\u0628\u0627',
  '💩'.repeat(50),
  'Z̷̢̛a̴l̸g̵o̶',
  "'; drop table records; --",
  '<script>alert(1)</script>',
  '{{7*7}}',
  '#{7*7}',
  '../../../../etc/passwd',
  '%00%2e%2e%2f',
  '\r\nX-Injected: 1',
  'NaN',
  '-0',
  '1e400',
  '9007199254740993',
  '0x10',
  'null',
  'true',
  '2026-02-30',
  '9999-12-31T23:59:59Z',
  'Etc/GMT+99',
]

/**
 * Any Unicode text. Made once: each string arbitrary builds a table of every code point the first time
 * it is used, which made generating slower than sending.
 */
const graphemes = fc.string({ unit: 'grapheme', maxLength: 40 })

/** Short text that breaks things: for queries and path segments. */
const hostileText = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
  { weight: 1, arbitrary: graphemes },
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 40 }) },
)

/** Long text: past every field's limit (5 kB) and past the 100,000-character message body (300 kB). */
const LONG_STRINGS = ['x'.repeat(5_000), 'x'.repeat(300_000)]

const hostileString = fc.oneof(
  { weight: 5, arbitrary: hostileText },
  { weight: 1, arbitrary: fc.constantFrom(...LONG_STRINGS) },
)

/** Any JSON value an API should refuse cleanly where it expects something else. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: hostileString },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom<unknown>(
      null,
      true,
      -1,
      0,
      1.5,
      2 ** 31,
      2 ** 53,
      -(2 ** 63),
      1e308,
      [],
      {},
      [null],
      { $gt: '' },
    ),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 10, max: 60 }).map((depth) => nest(depth, 'x')),
  },
)

function nest(depth: number, leaf: unknown): unknown {
  let value = leaf
  for (let level = 0; level < depth; level++) value = level % 2 ? [value] : { a: value }
  return value
}

/** A value that the schema accepts (most of the time), so that requests reach the handlers. */
export function conforming(schema: JsonSchema | undefined, ids: string[], depth = 0): fc.Arbitrary<unknown> {
  if (!schema || depth > 4) return fc.jsonValue({ maxDepth: 1 })
  if (schema.const !== undefined) return fc.constant(schema.const)
  if (schema.enum) return fc.constantFrom(...schema.enum)
  const choices = schema.anyOf ?? schema.oneOf
  if (choices) return fc.oneof(...choices.map((choice) => conforming(choice, ids, depth + 1)))
  if (schema.allOf?.[0]) return conforming(schema.allOf[0], ids, depth + 1)
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type
  switch (type) {
    case 'object': {
      const properties = schema.properties ?? {}
      const model = Object.fromEntries(
        Object.entries(properties).map(([name, property]) => [name, conforming(property, ids, depth + 1)]),
      )
      return fc.record(model, { requiredKeys: (schema.required ?? []).filter((key) => key in properties) })
    }
    case 'array':
      return fc.array(conforming(schema.items, ids, depth + 1), {
        minLength: Math.min(schema.minItems ?? 0, 3),
        maxLength: Math.max(Math.min(schema.minItems ?? 0, 3), Math.min(schema.maxItems ?? 4, 4)),
      })
    case 'integer':
    case 'number': {
      const min = schema.minimum ?? -5
      const max = Math.min(schema.maximum ?? 10_000, min + 10_000)
      const numbers = fc.integer({ min: Math.ceil(min), max: Math.floor(max) })
      const known = ids.map(Number).filter((id) => id >= min && id <= max)
      return known.length > 0 ? fc.oneof(fc.constantFrom(...known), numbers) : numbers
    }
    case 'boolean':
      return fc.boolean()
    case 'null':
      return fc.constant(null)
    case 'string':
      return stringOf(schema, ids)
    default:
      return fc.jsonValue({ maxDepth: 2 })
  }
}

function stringOf(schema: JsonSchema, ids: string[]): fc.Arbitrary<string> {
  if (schema.format === 'date-time') return fc.date({ noInvalidDate: true }).map((d) => d.toISOString())
  if (schema.format === 'date')
    return fc.date({ noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10))
  if (schema.format === 'email') return fc.emailAddress()
  // Addresses that answer at once or not at all: a server under fuzz must never wait on the network.
  if (schema.format === 'uri' || schema.format === 'url')
    return fc.constantFrom(
      'http://127.0.0.1:9/',
      'https://[::1]:9/x',
      'http://169.254.169.254/',
      'javascript:alert(1)',
    )
  const minLength = schema.minLength ?? 0
  const bounded = fc.string({
    minLength,
    maxLength: Math.max(minLength, Math.min(schema.maxLength ?? 24, 24)),
  })
  const generic = fc.oneof(bounded, ids.length > 0 ? fc.constantFrom(...ids) : bounded)
  if (!schema.pattern) return generic
  try {
    return fc.oneof(fc.stringMatching(new RegExp(schema.pattern)), generic)
  } catch {
    return generic
  }
}

/** The document's body, broken in one of the ways that matter; or raw bytes that are not JSON at all. */
function bodyOf(schema: JsonSchema | undefined, ids: string[]): fc.Arbitrary<string> {
  const valid = conforming(schema, ids)
  const serialize = (value: unknown) => JSON.stringify(value) ?? 'null'
  return fc.oneof(
    { weight: 4, arbitrary: valid.map(serialize) },
    {
      weight: 4,
      arbitrary: fc
        .tuple(valid, fc.nat(), hostileValue)
        .map(([value, index, bad]) => serialize(replaceOne(value, index, bad))),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(valid, fc.nat())
        .map(([value, index]) => serialize(replaceOne(value, index, undefined))),
    },
    { weight: 1, arbitrary: fc.constant('{}') },
    { weight: 2, arbitrary: hostileValue.map(serialize) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        `{"a":${'['.repeat(10_000)}${']'.repeat(10_000)}}`,
        `${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`,
        '{"a":',
        '',
        '\u0000',
        'not json',
        '{"__proto__":{"admin":true}}',
        '{"constructor":{"prototype":{"admin":true}}}',
      ),
    },
  )
}

/** Replaces (or, with `undefined`, removes) the `index`-th property of an object; other values as they are. */
function replaceOne(value: unknown, index: number, replacement: unknown): unknown {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return replacement ?? value
  const keys = Object.keys(value)
  const key = keys[index % (keys.length + 1)] ?? 'unexpected'
  const copy: Record<string, unknown> = { ...value }
  if (replacement === undefined) delete copy[key]
  else copy[key] = replacement
  return copy
}

/** Percent-encodes `text`; a lone surrogate becomes U+FFFD first, where encodeURIComponent would throw. */
function percent(text: string): string {
  return encodeURIComponent(text.toWellFormed())
}

const HOSTILE_SEGMENTS = [
  '0',
  '-1',
  '1.5',
  'abc',
  '1e400',
  '99999999999999999999',
  '%00',
  '%20',
  '%C3%A9',
  '%E0%A4%A',
  '..%2F..%2Fetc%2Fpasswd',
  'x'.repeat(150),
  percent('💩'),
]

export type Pools = {
  /** Values for each path parameter name: real ids of the fixtures, mostly. */
  params: Record<string, string[]>
  /** Numbers and strings that name real things, used inside bodies too. */
  ids: string[]
  principals: string[]
}

function segmentOf(name: string, pools: Pools): fc.Arbitrary<string> {
  const real = pools.params[name] ?? []
  const hostile = fc.oneof(fc.constantFrom(...HOSTILE_SEGMENTS), graphemes.map(percent))
  return real.length > 0 ? fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...real) }, hostile) : hostile
}

function queryOf(operation: Operation, pools: Pools): fc.Arbitrary<string> {
  const known = operation.query.map(({ name, schema }) =>
    fc
      .oneof(
        conforming(schema, pools.ids).map((value) => String(value)),
        hostileText,
        fc.constant('A'.repeat(5_000)),
      )
      .map((value) => `${percent(name)}=${percent(value)}`),
  )
  const unknown = fc
    .tuple(fc.constantFrom('limit', 'cursor', 'x', 'wait', '__proto__'), hostileText)
    .map(([name, value]) => `${name}=${percent(value)}`)
  return fc
    .array(known.length > 0 ? fc.oneof(...known, unknown) : unknown, { maxLength: 3 })
    .map((parts) => (parts.length > 0 ? `?${parts.join('&')}` : ''))
}

const headerValue = fc.oneof(
  fc.string({ minLength: 1, maxLength: 60 }).filter((text) => /^[\x20-\x7e]+$/.test(text)),
  fc.constantFrom('', ' ', 'x'.repeat(8_000), 'a, b', '\t'),
)

function headersOf(operation: Operation): fc.Arbitrary<Record<string, string>> {
  const contentType = fc.oneof(
    { weight: 8, arbitrary: fc.constant(operation.bodyType ?? 'application/json') },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        'text/plain',
        'application/json; charset=latin1',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/octet-stream',
        'application/json, text/plain',
      ),
    },
  )
  return fc
    .record(
      {
        'content-type': contentType,
        'idempotency-key': fc.oneof(headerValue, fc.constant('k'.repeat(300)), fc.uuid()),
        accept: fc.constantFrom('*/*', 'text/html', 'application/xml'),
        'x-forwarded-for': fc.ipV4(),
        'content-length': fc.constantFrom('0', '-1', '99999999999', 'abc'),
        'x-csrf-token': headerValue,
        range: fc.constantFrom('bytes=0-', 'bytes=-1', 'bytes=5-2', 'bytes=0-0,1-1', 'pages=1'),
      },
      { requiredKeys: [] },
    )
    .map((headers) => {
      // A wrong Content-Length is sent only where inject can carry it (no body): the raw-socket tests cover the rest.
      const { 'content-length': length, ...rest } = headers
      return length !== undefined && operation.method === 'GET' ? headers : rest
    })
}

const OTHER_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD']

function requestOf(operation: Operation, pools: Pools): fc.Arbitrary<FuzzRequest> {
  const segments = [...operation.path.matchAll(/:(\w+)|\*/g)].map((match) =>
    match[0] === '*'
      ? fc.oneof(
          fc.constantFrom('app.js', 'styles.css', `${'a'.repeat(300)}.js`, 'views.js', 'x/../app.js'),
          graphemes.map(percent),
        )
      : segmentOf(match[1] ?? '', pools),
  )
  const hasBody = operation.body !== undefined || operation.bodyType !== undefined
  return fc
    .record({
      segments: fc.tuple(...segments),
      query: queryOf(operation, pools),
      headers: headersOf(operation),
      payload: hasBody
        ? fc.oneof(
            { weight: 9, arbitrary: bodyOf(operation.body, pools.ids) },
            { weight: 1, arbitrary: fc.constant(undefined) },
          )
        : fc.oneof(
            { weight: 9, arbitrary: fc.constant(undefined) },
            { weight: 1, arbitrary: bodyOf(undefined, pools.ids) },
          ),
      method: fc.oneof(
        { weight: 9, arbitrary: fc.constant(operation.method) },
        { weight: 1, arbitrary: fc.constantFrom(...OTHER_METHODS) },
      ),
      as: fc.constantFrom(...pools.principals),
    })
    .map(({ segments: values, query, headers, payload, method, as }) => {
      let index = 0
      const path = operation.path.replace(/:(\w+)|\*/g, () => values[index++] ?? '')
      const carries = payload !== undefined && payload !== null && method !== 'GET' && method !== 'HEAD'
      return {
        operation: `${operation.method} ${operation.path}`,
        method,
        url: `${path}${query}`,
        headers,
        ...(carries ? { payload } : {}),
        as,
        htmlRefusals: operation.htmlRefusals,
      }
    })
}

/** `count` requests spread evenly over the operations, the same for the same seed. */
export function generateRequests(input: {
  operations: Operation[]
  pools: Pools
  seed: number
  count: number
}): FuzzRequest[] {
  const arbitrary = fc.oneof(...input.operations.map((operation) => requestOf(operation, input.pools)))
  return fc.sample(arbitrary, { seed: input.seed, numRuns: input.count })
}
