// The operator CLI, run as an operator would: the real binary, a real PGlite data directory.
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { buildNode } from './helpers.ts'

const bin = fileURLToPath(new URL('../bin/ochat-relay.mjs', import.meta.url))
const dataDir = mkdtempSync(join(tmpdir(), 'ochat-cli-'))
t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, ...args], {
      env: { ...process.env, RELAY_DATA_DIR: dataDir, DATABASE_URL: '' },
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string }
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr }
  }
}

t.test('--help lists every command', async (t) => {
  const { code, stdout } = await cli('--help')
  t.equal(code, 0)
  for (const command of ['serve', 'migrate', 'invite', 'instances', 'suspend', 'unsuspend', 'purge', 'stats'])
    t.match(stdout, command)
})

t.test('invite prints a token; instances and stats answer on an empty relay', async (t) => {
  const invite = await cli('invite', '--days', '2', '--note', 'Globex')
  t.equal(invite.code, 0)
  t.match(invite.stdout, /^inv_[A-Za-z0-9_-]{32}\n$/)
  t.match(invite.stderr, /valid until/)
  t.match((await cli('instances')).stdout, /no instances registered/)
  const stats = (await cli('stats')).stdout
  t.match(stats, /queued items +0/)
  t.match(stats, /database +\d+\.\d MB \(queue \d+\.\d MB\)/, 'and how much disk the database takes')
})

t.test('mistakes get a clear message and a non-zero exit', async (t) => {
  const unknown = await cli('suspend', buildNode().instanceId)
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /no instance oc_[a-z2-7]{26}; see `ochat-relay instances`/)
  t.match(await cli('suspend'), { code: 2, stderr: /usage: ochat-relay suspend <instance-id>/ })
  t.match(await cli('frobnicate'), { code: 2, stderr: /unknown command "frobnicate"/ })
  // Purging every instance takes naming them or a filter (open-relay-purge.test.ts runs the rest in process).
  t.match(await cli('purge', '--yes'), {
    code: 2,
    stderr:
      /usage: ochat-relay purge .*name instances, or narrow with --address, --since or --pending-requests-min/,
  })
  // Date.parse would read "5" as the year 2001 and match every instance.
  t.match(await cli('purge', '--since', '5', '--yes'), {
    code: 2,
    stderr: /--since takes a duration in minutes, hours or days \(30m, 1h, 2d\) or an ISO-8601 date/,
  })
  t.match(await cli('invite', '--days', '0'), { code: 2, stderr: /--days must be between 1 and 365/ })
})
