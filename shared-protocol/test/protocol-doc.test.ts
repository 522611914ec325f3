// PROTOCOL.md is what another team implements from: every code our servers send and every frame type
// must be written down in it, and every signature domain must have a test vector.
import { readFile } from 'node:fs/promises'
import t from 'tap'
import { CATALOG as nodeCatalog } from '../../node/src/errors.ts'
import { CATALOG as relayCatalog } from '../../relay/src/errors.ts'
import { SIGNING_LABELS } from '../src/crypto/signing.ts'
import { RECEIPT_REFUSAL_CODES } from '../src/schemas/delivery.ts'
import { NodeFrameSchema, RelayFrameSchema } from '../src/schemas/frames.ts'

const doc = await readFile(new URL('../PROTOCOL.md', import.meta.url), 'utf8')
const vectors = JSON.parse(await readFile(new URL('../test-vectors.json', import.meta.url), 'utf8'))

/** Whether the document names `code` as code (in backticks), not as a prefix of a longer one. */
const names = (code: string) => new RegExp(`\`${code}\``).test(doc)

/** The `type` literal of each member of a frame union. */
function frameTypes(schema: typeof RelayFrameSchema | typeof NodeFrameSchema): string[] {
  return schema.options.map((option) => String(option.shape.type.value))
}

t.test('every code of the relay catalog is in PROTOCOL.md', async (t) => {
  const missing = Object.keys(relayCatalog).filter((code) => !names(code))
  t.same(missing, [], 'relay/src/errors.ts codes missing from PROTOCOL.md')
})

t.test('every code of the node catalog is in PROTOCOL.md', async (t) => {
  const missing = Object.keys(nodeCatalog).filter((code) => !names(code))
  t.same(missing, [], 'node/src/errors.ts codes missing from PROTOCOL.md')
})

t.test('every receipt refusal code is in PROTOCOL.md and in the relay catalog', async (t) => {
  t.same(
    RECEIPT_REFUSAL_CODES.filter((code) => !names(code)),
    [],
  )
  t.same(
    RECEIPT_REFUSAL_CODES.filter((code) => !(code in relayCatalog)),
    [],
  )
})

t.test('every frame type, in both directions, has a row in the frame tables of §6.2', async (t) => {
  const section = doc.slice(doc.indexOf('### 6.2 Frames'), doc.indexOf('## 7. '))
  const row = (type: string) => new RegExp(`^\\| \`${type}\` +\\|`, 'm')
  const relayTable = section.slice(section.indexOf('**Relay → node**'), section.indexOf('**Node → relay**'))
  const nodeTable = section.slice(section.indexOf('**Node → relay**'))
  const relayTypes = frameTypes(RelayFrameSchema)
  const nodeTypes = frameTypes(NodeFrameSchema)
  t.ok(
    relayTypes.includes('deliver') && nodeTypes.includes('ack'),
    'the frame types are read from the schemas',
  )
  t.same(
    relayTypes.filter((type) => !row(type).test(relayTable)),
    [],
    'relay → node frames missing',
  )
  t.same(
    nodeTypes.filter((type) => !row(type).test(nodeTable)),
    [],
    'node → relay frames missing',
  )
})

t.test('every signing label is in PROTOCOL.md and has a vector with its signing input', async (t) => {
  const vectorOf: Record<keyof typeof SIGNING_LABELS, string> = {
    registration: 'registration',
    keyRotation: 'keyRotation',
    keySet: 'keySet',
    request: 'signedRequest',
    socketAuth: 'socketAuth',
    envelope: 'envelope',
    receipt: 'receipt',
  }
  for (const [domain, label] of Object.entries(SIGNING_LABELS) as [keyof typeof SIGNING_LABELS, string][]) {
    t.ok(names(label), `${label} is in PROTOCOL.md`)
    const vector = vectors[vectorOf[domain]]
    t.match(vector?.signingInput, /^[0-9a-f]+$/, `${label} has a vector`)
    const labelHex = Buffer.from(`${label}\0`).toString('hex')
    t.ok(
      String(vector?.signingInput).startsWith(labelHex),
      `the ${vectorOf[domain]} vector is signed as ${label}`,
    )
    t.ok(names(vectorOf[domain]), `PROTOCOL.md lists the ${vectorOf[domain]} vector`)
  }
})

/** The rows of the first table after `heading`: code → its HTTP status, reason prefix and meaning. */
function catalogTable(heading: string): Map<string, { status: number; prefix: string; message: string }> {
  const section = doc.slice(doc.indexOf(heading))
  const table = section.slice(
    section.indexOf('\n| code'),
    section.indexOf('\n\n', section.indexOf('\n| code')),
  )
  const rows = new Map<string, { status: number; prefix: string; message: string }>()
  for (const line of table.split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim())
    const [, code, status, prefix, message] = cells
    if (!code?.startsWith('`E_') || !status || !prefix || message === undefined) continue
    rows.set(code.slice(1, -1), { status: Number(status), prefix: prefix.slice(1, -2), message })
  }
  return rows
}

for (const [name, heading, catalog] of [
  ['relay', '### 9.1 Codes the relay sends', relayCatalog],
  ['node', '### 9.3 Codes our node sends', nodeCatalog],
] as const) {
  t.test(
    `each ${name} catalog row has the status, prefix and message of its row in PROTOCOL.md`,
    async (t) => {
      const rows = catalogTable(heading)
      t.same(
        [...rows.keys()].sort(),
        Object.keys(catalog).sort(),
        `the table of "${heading}" lists the catalog's codes, and no others`,
      )
      for (const [code, entry] of Object.entries(catalog) as [
        string,
        { status: number; prefix: string; message: string },
      ][]) {
        t.same(rows.get(code), { status: entry.status, prefix: entry.prefix, message: entry.message }, code)
      }
    },
  )
}
