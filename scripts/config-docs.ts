// Writes each server's configuration table into its ARCHITECTURE.md, between the markers
// `<!-- config:begin -->` and `<!-- config:end -->`, from the zod schema that reads the environment:
// the variables, their defaults and descriptions have one source, src/config.ts.
// `--check` writes nothing and exits 1 when a document is not what this would write (CI).
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { NodeVariablesSchema } from '../node/src/config.ts'
import { ConfigSchema as RelayConfigSchema } from '../relay/src/config.ts'
// By path: the workspace root depends on no package of its own.
import { configTable } from '../shared-protocol/src/server/config.ts'

const DOCUMENTS: { path: string; schema: Parameters<typeof configTable>[0] }[] = [
  { path: 'relay/ARCHITECTURE.md', schema: RelayConfigSchema },
  { path: 'node/ARCHITECTURE.md', schema: NodeVariablesSchema },
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

const check = process.argv.includes('--check')
const stale: string[] = []
for (const { path, schema } of DOCUMENTS) {
  const file = fileURLToPath(new URL(`../${path}`, import.meta.url))
  const current = readFileSync(file, 'utf8')
  const wanted = withTable(current, path, configTable(schema))
  if (wanted === current) continue
  stale.push(path)
  if (!check) writeFileSync(file, wanted)
}
if (check && stale.length > 0) {
  process.stderr.write(`configuration tables out of date in ${stale.join(', ')} (run pnpm docs:config)\n`)
  process.exit(1)
}
if (!check) process.stdout.write(stale.length > 0 ? `updated ${stale.join(', ')}\n` : 'up to date\n')
