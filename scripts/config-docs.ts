// Writes each server's configuration tables from the zod schema that reads the environment: the
// variables, their defaults and descriptions have one source, src/config.ts. ARCHITECTURE.md gets the
// table with each description's first sentence, between the markers `<!-- config:begin -->` and
// `<!-- config:end -->` (the map stays short); docs/configuration.md, wholly generated, the full text.
// `--check` writes nothing and exits 1 when a document is not what this would write (CI).
// Either way it refuses an ARCHITECTURE.md of 1,000 words or more, table included: past that it stops
// being a map.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { NodeVariablesSchema } from '../node/src/config.ts'
import { ConfigSchema as RelayConfigSchema } from '../relay/src/config.ts'
// By path: the workspace root depends on no package of its own.
import { configTable } from '../shared-protocol/src/server/config.ts'

const SERVERS: { name: string; folder: string; schema: Parameters<typeof configTable>[0] }[] = [
  { name: 'relay', folder: 'relay', schema: RelayConfigSchema },
  { name: 'node', folder: 'node', schema: NodeVariablesSchema },
]

const BEGIN = '<!-- config:begin -->'
const END = '<!-- config:end -->'

function withTable(document: string, path: string, table: string): string {
  const begin = document.indexOf(BEGIN)
  const end = document.indexOf(END)
  if (begin < 0 || end < begin) throw new Error(`${path}: no ${BEGIN} … ${END} markers`)
  const generated = [
    '',
    '<!-- Generated from src/config.ts by `pnpm docs:config`: edit the descriptions there. -->',
    '',
    table,
    '',
    '',
  ].join('\n')
  return document.slice(0, begin + BEGIN.length) + generated + document.slice(end)
}

/** The whole reference page: every variable with its full description. */
function reference(name: string, table: string): string {
  return [
    `# The ${name}'s configuration`,
    '',
    '<!-- Generated from src/config.ts by `pnpm docs:config`: edit the descriptions there. -->',
    '',
    `Environment variables the ${name} reads at start; a value it cannot use stops it with the variable's`,
    'name and what is expected.',
    '',
    table,
    '',
  ].join('\n')
}

const check = process.argv.includes('--check')
const stale: string[] = []
function update(path: string, wanted: (current: string) => string) {
  const file = fileURLToPath(new URL(`../${path}`, import.meta.url))
  const current = existsSync(file) ? readFileSync(file, 'utf8') : ''
  const next = wanted(current)
  if (next === current) return
  stale.push(path)
  if (!check) writeFileSync(file, next)
}
for (const { name, folder, schema } of SERVERS) {
  update(`${folder}/ARCHITECTURE.md`, (current) =>
    withTable(current, `${folder}/ARCHITECTURE.md`, configTable(schema, { brief: true })),
  )
  update(`${folder}/docs/configuration.md`, () => reference(name, configTable(schema)))
}
const MAX_MAP_WORDS = 1000
const tooLong = SERVERS.map(({ folder }) => `${folder}/ARCHITECTURE.md`).flatMap((path) => {
  const text = readFileSync(fileURLToPath(new URL(`../${path}`, import.meta.url)), 'utf8')
  const words = text.split(/\s+/).filter(Boolean).length
  return words >= MAX_MAP_WORDS ? [`${path} has ${words} words (under ${MAX_MAP_WORDS} keeps it a map)`] : []
})
if (tooLong.length > 0) {
  process.stderr.write(`${tooLong.join('\n')}\n`)
  process.exit(1)
}
if (check && stale.length > 0) {
  process.stderr.write(`configuration tables out of date in ${stale.join(', ')} (run pnpm docs:config)\n`)
  process.exit(1)
}
if (!check) process.stdout.write(stale.length > 0 ? `updated ${stale.join(', ')}\n` : 'up to date\n')
