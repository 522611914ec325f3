// Writes shared-protocol/test-vectors.json. Run `pnpm vectors` after a deliberate change to the format,
// and say so in PROTOCOL.md: other implementations check themselves against this file.
import { writeFile } from 'node:fs/promises'
import { buildVectors } from '../src/vectors.ts'

const target = new URL('../test-vectors.json', import.meta.url)
await writeFile(target, `${JSON.stringify(await buildVectors(), null, 2)}\n`)
console.log(`wrote ${target.pathname}`)
