import { spawn } from 'node:child_process'
import t from 'tap'
import { repositoryRoot } from '../repository-root.ts'

/**
 * The test runner (scripts/test.mjs) as a developer and CI meet it: files of a folder share a process,
 * and each is still reported on its own, with its own count. A file that hangs, or ends its process in
 * the middle of a test, fails on its own; the files after it in its process run in a new one.
 */

const root = repositoryRoot(import.meta.url)
const fixture = (name: string) => `test/runner/fixtures/${name}.ts`

function runner(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    // As a developer starts it: not with the settings of the run this test is part of.
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !/^(TAP|OCHAT_TEST_)/.test(name)),
    )
    const child = spawn(process.execPath, ['scripts/test.mjs', ...args], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk) => (output += chunk))
    child.stderr.on('data', (chunk) => (output += chunk))
    child.on('close', (code) => resolve({ code, output }))
  })
}

/** Each file's line in the run's output: ok or not ok, in the order they were reported. */
function verdicts(output: string): Record<string, string> {
  const found: Record<string, string> = {}
  for (const [, not, path] of output.matchAll(/^(not )?ok \d+ - (\S+) # time=/gm))
    found[(path ?? '').replace(/^.*\//, '')] = not ? 'not ok' : 'ok'
  return found
}

t.test('a hang and an early exit fail their own files; the others pass, counted once', async (t) => {
  const { code, output } = await runner([
    '--timeout=3',
    fixture('passes'),
    fixture('hangs'),
    fixture('fails'),
    fixture('exits'),
  ])
  t.equal(code, 1, 'the run fails')
  t.same(
    verdicts(output),
    { 'passes.ts': 'ok', 'hangs.ts': 'not ok', 'fails.ts': 'not ok', 'exits.ts': 'not ok' },
    'each file is reported, and only the broken ones fail',
  )
  t.match(output, /timeout!/, 'the hang is named a timeout')
  t.match(output, /this one does not/, 'the failing assertion is shown')
  // passes: 2; hangs: 1 and its timeout; fails: 1 and 1; exits: 1 and the file's failure.
  t.match(output, /\n5 passed, 3 failed\n$/, 'the last line counts every assertion and broken file once')
})

t.test('--grep runs each file in a process of its own, and picks tests by name', async (t) => {
  const { code, output } = await runner(['--grep=passes', fixture('passes'), fixture('fails')])
  t.equal(code, 0)
  t.same(verdicts(output), { 'passes.ts': 'ok', 'fails.ts': 'ok' })
  t.match(output, /\n2 passed, 0 failed, 1 skipped\n$/)
})
