import { z } from 'zod'

/** The environment as `process.env` gives it. */
export type Env = Record<string, string | undefined>

/** The configuration is not valid; the message lists every problem, one per line. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** A yes/no variable as operators write it (`true`, `false`, `1`, `0`), read as a boolean. */
export const booleanVariable = z
  .enum(['true', 'false', '1', '0'])
  .transform((value) => value === 'true' || value === '1')

/**
 * A factor on every retry delay (RETRY_SCHEDULE, retryDelayMs): above 0 and at most 1, so a setting
 * can make retries come sooner, for tests and staging, but never later than the protocol says.
 */
export const retryScaleVariable = z.coerce
  .number()
  .gt(0, 'give a number above 0 and at most 1')
  .max(1, 'give a number above 0 and at most 1')

/**
 * What a variable's metadata holds beside its `description`: `unset`, what happens when the variable
 * is not set and no zod default says it (a path derived from another variable, a feature left off).
 */
export type ConfigMeta = { description: string; unset?: string }

/**
 * Parses a server's configuration from the environment, once, at boot. The schema reads the variables
 * and turns them into the configuration the server runs with, so the configuration's type is the
 * schema's output and nothing is declared twice. Every problem is listed at once, as a server that
 * stops on the first one makes its operator restart it once per mistake. The result is frozen, nested
 * objects included: nothing changes the configuration once the server runs.
 *
 * `name` names the server in the message ("The relay configuration is not valid: …").
 */
export function loadConfig<S extends z.ZodType>(schema: S, env: Env, name = 'server'): Readonly<z.output<S>> {
  // An empty variable (common in compose files and systemd units) means "not set".
  const given = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  )
  const parsed = schema.safeParse(given)
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `  - ${issue.path.length > 0 ? issue.path.join('.') : 'environment'}: ${issue.message}`,
    )
    throw new ConfigError(`The ${name} configuration is not valid:\n${problems.join('\n')}`)
  }
  return deepFreeze(parsed.data)
}

/** Freezes plain objects and arrays all the way down; class instances and functions are left as they are. */
function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value
  const prototype = Object.getPrototypeOf(value)
  if (!Array.isArray(value) && prototype !== Object.prototype && prototype !== null) return value
  for (const inner of Object.values(value)) deepFreeze(inner)
  return Object.freeze(value)
}

/** A row of a configuration table: one variable, its default as text, what it does. */
export type ConfigVariable = { name: string; default: string; description: string }

/**
 * The variables a configuration schema reads, in declaration order, with their defaults and the
 * descriptions given to the schema (`.meta({ description })`): what the documentation tables show.
 */
export function configVariables(schema: z.ZodType): ConfigVariable[] {
  const object = inputObject(schema)
  return Object.entries(object.shape).map(([name, field]) => {
    const meta = metaOf(field as z.ZodType)
    // A variable the documentation cannot explain is one an operator cannot set on purpose.
    if (meta.description === undefined) throw new TypeError(`${name} has no description in its schema`)
    const fallback = defaultOf(field as z.ZodType)
    return {
      name,
      default:
        fallback === undefined ? (meta.unset ?? 'unset') : `\`${String(fallback)}\`${unitOf(name, fallback)}`,
      description: meta.description,
    }
  })
}

/** A number's value in the unit its variable's name gives (`_MS`, `_BYTES`, `_BYTES_PER_S`), as " (72 h)". */
function unitOf(name: string, value: unknown): string {
  if (typeof value !== 'number') return ''
  if (name.endsWith('_MS')) return ` (${duration(value)})`
  if (name.endsWith('_BYTES')) return ` (${size(value)})`
  if (name.endsWith('_BYTES_PER_S')) return ` (${size(value)}/s)`
  return ''
}

/**
 * The configuration as a markdown table, one row per variable, columns aligned. Brief: the variable
 * and the first clause of its default only, for a map that links to the full table.
 */
export function configTable(schema: z.ZodType, options: { brief?: boolean } = {}): string {
  const rows = configVariables(schema).map((variable) =>
    (options.brief
      ? [`\`${variable.name}\``, variable.default.split(';')[0] as string]
      : [`\`${variable.name}\``, variable.default, variable.description]
    ).map((cell) => cell.replace(/\s+/g, ' ').replaceAll('|', '\\|')),
  )
  const header = options.brief ? ['variable', 'default'] : ['variable', 'default', 'description']
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)),
  )
  const line = (cells: string[]) =>
    `| ${cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')} |`
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n')
}

/** The object of variables under the schema's transforms. */
function inputObject(schema: z.ZodType): z.ZodObject {
  let current: z.ZodType = schema
  while (current instanceof z.ZodPipe) current = current.in as z.ZodType
  if (!(current instanceof z.ZodObject)) throw new TypeError('a configuration schema reads a z.object')
  return current
}

/** The wrappers a variable's schema may sit in: a default, an optional, a transform after it. */
function unwrap(schema: z.ZodType): z.ZodType | undefined {
  if (schema instanceof z.ZodPipe) return schema.in as z.ZodType
  if (schema instanceof z.ZodDefault || schema instanceof z.ZodOptional) return schema.unwrap() as z.ZodType
  return undefined
}

/** The metadata of a variable, from the outermost schema that has some. */
function metaOf(schema: z.ZodType): Partial<ConfigMeta> {
  for (let current: z.ZodType | undefined = schema; current; current = unwrap(current)) {
    const meta = z.globalRegistry.get(current)
    if (meta?.description !== undefined)
      return {
        description: meta.description,
        ...(typeof meta.unset === 'string' ? { unset: meta.unset } : {}),
      }
  }
  return {}
}

function defaultOf(schema: z.ZodType): unknown {
  for (let current: z.ZodType | undefined = schema; current; current = unwrap(current))
    if (current instanceof z.ZodDefault) return current.def.defaultValue
  return undefined
}

/** A duration in milliseconds as a person reads it: "72 h", "30 days", "10 s". */
export function duration(ms: number): string {
  if (ms >= 7 * 86_400_000 && ms % 86_400_000 === 0) return `${ms / 86_400_000} days`
  const units: [number, string][] = [
    [3_600_000, 'h'],
    [60_000, 'min'],
    [1_000, 's'],
  ]
  for (const [size, unit] of units) if (ms >= size && ms % size === 0) return `${ms / size} ${unit}`
  return `${ms} ms`
}

/** A size in bytes as a person reads it: "100 MB", "4 KiB". */
export function size(bytes: number): string {
  if (bytes >= 1_000_000 && bytes % 1_000_000 === 0) return `${bytes / 1_000_000} MB`
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`
  return `${bytes} bytes`
}
