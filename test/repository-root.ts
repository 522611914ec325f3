import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The repository, found from `moduleUrl` whether the test runs from the sources or from the test
 * build's mirror (.test-build/, which has no pnpm-workspace.yaml of its own).
 */
export function repositoryRoot(moduleUrl: string): string {
  let dir = dirname(fileURLToPath(moduleUrl))
  while (!existsSync(join(dir, 'pnpm-workspace.yaml'))) {
    const parent = dirname(dir)
    if (parent === dir) throw new Error('no pnpm-workspace.yaml above this test')
    dir = parent
  }
  return dir
}
