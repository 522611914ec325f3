// PROTOCOL.md §11: the committed test vectors are what the code produces today.
import { readFile } from 'node:fs/promises'
import t from 'tap'
import { buildVectors } from '../src/vectors.ts'

t.test('test-vectors.json is current (run `pnpm vectors` after a deliberate format change)', async (t) => {
  const committed: unknown = JSON.parse(
    await readFile(new URL('../test-vectors.json', import.meta.url), 'utf8'),
  )
  const regenerated: unknown = JSON.parse(JSON.stringify(await buildVectors()))
  t.same(regenerated, committed)
})
