import { createHash, randomBytes } from 'node:crypto'
import {
  createReadStream,
  createWriteStream,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { setImmediate as nextTurn } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { containerBytes, DATABASE_ENTRY, type Source } from '../src/backup/container.ts'
import { sealing } from '../src/backup/envelope.ts'
import { BackupError } from '../src/backup/errors.ts'
import { BackupScheduler, backupFileName, scheduledBackups } from '../src/backup/scheduler.ts'
import { readSnapshot, snapshotDatabase } from '../src/backup/snapshot.ts'
import { writeBackup } from '../src/backup/write-backup.ts'
import { main } from '../src/cli.ts'
import { buildNode, buildRecord, buildUser } from './helpers.ts'

/**
 * Backups and restores when something is off: a clock that was ahead, a stop in the middle, a file
 * swapped or crafted by whoever can write where backups are kept, a bad output path, two backups to
 * one name. Real SQLite files and attachment files; only the clock is the test's.
 */

async function cli(args: string[], env: Record<string, string> = {}) {
  let stdout = ''
  let stderr = ''
  const code = await main(args, {
    env: { NODE_LOG_LEVEL: 'silent', ...env },
    out: (text) => {
      stdout += text
    },
    err: (text) => {
      stderr += text
    },
  })
  return { code, stdout, stderr }
}

function scratch(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'ochat-backup-faults-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const HOUR_MS = 3_600_000

t.test('a backup dated after the clock takes no place among NODE_BACKUP_KEEP', async (t) => {
  const dir = scratch(t)
  const node = await buildNode(t)
  const start = node.clock.now()
  // Taken while the node's clock was two days ahead, then set right.
  const ahead = backupFileName(start + 48 * HOUR_MS)
  writeFileSync(join(dir, ahead), 'a backup from when the clock was ahead')
  const warnings: object[] = []
  const scheduler = new BackupScheduler({
    settings: node.config,
    schedule: { dir, everyHours: 24, keep: 1, passphrase: undefined },
    clock: node.clock,
    log: {
      info: () => {},
      warn: (facts) => void warnings.push(facts),
      error: (facts, message) => {
        throw new Error(`${message} ${JSON.stringify(facts)}`)
      },
    },
  })
  const names = () => scheduledBackups(dir).map((backup) => backup.name)

  await scheduler.tick()
  t.same(names(), [ahead, backupFileName(start)], 'the new backup is kept, the one dated ahead too')
  node.clock.advance(60_000)
  await scheduler.tick()
  t.same(names(), [ahead, backupFileName(start)], 'a minute later, no other backup is taken')
  node.clock.advance(24 * HOUR_MS)
  await scheduler.tick()
  t.same(
    names(),
    [ahead, backupFileName(start + 24 * HOUR_MS + 60_000)],
    'a day later, the new one replaces the old one',
  )
  t.same(warnings, [{ dir, files: [ahead] }], 'the file dated ahead is said once')
})

t.test('a backup stopped while it links many attachments stops at once and leaves nothing', async (t) => {
  const dir = scratch(t)
  const node = await buildNode(t)
  // 2,000 stored files, all hard links to one: its link count says how many the backup holds.
  const seed = join(node.dataDir, 'seed')
  writeFileSync(seed, 'stored content')
  for (let n = 0; n < 2_000; n++) {
    const name = randomBytes(32).toString('hex')
    mkdirSync(join(node.config.attachmentDir, name.slice(0, 2)), { recursive: true })
    linkSync(seed, join(node.config.attachmentDir, name.slice(0, 2), name))
  }
  const stored = statSync(seed).nlink
  const held = () => statSync(seed).nlink - stored

  const stop = new AbortController()
  let settled = false
  const writing = writeBackup({
    settings: node.config,
    out: join(dir, 'acme.backup'),
    now: node.clock.now(),
    signal: stop.signal,
  }).finally(() => {
    settled = true
  })
  while (!settled && held() < 50) await nextTurn()
  stop.abort()
  const stoppedAt = performance.now()
  const heldAtStop = held()
  let heldMost = heldAtStop
  const watching = (async () => {
    while (!settled) {
      heldMost = Math.max(heldMost, held())
      await nextTurn()
    }
  })()
  const error = await writing.then(
    () => null,
    (reason: Error) => reason,
  )
  const stoppedMs = performance.now() - stoppedAt
  await watching
  t.equal(error?.name, 'AbortError', 'the backup answers that it was stopped')
  t.ok(heldAtStop >= 50 && heldAtStop < 2_000, `stopped in the middle (${heldAtStop} of 2000 held)`)
  t.ok(heldMost - heldAtStop <= 5, `no file is linked after the stop (${heldMost - heldAtStop} were)`)
  t.ok(stoppedMs < 1_000, `stopped within a second (${Math.round(stoppedMs)} ms)`)
  t.equal(held(), 0, 'every link it made is removed')
  t.same(
    readdirSync(node.dataDir).filter((name) => name.startsWith('.backup-')),
    [],
    'no staging directory',
  )
  t.same(readdirSync(dir), [], 'no backup file, no partial file')
})

t.test(
  'a plain file given with a passphrase is refused, and restores without one into NODE_DATA_DIR',
  async (t) => {
    const dir = scratch(t)
    const node = await buildNode(t)
    await buildUser(node)
    const out = join(dir, 'acme.backup')
    t.equal((await cli(['backup', '--out', out], { NODE_DATA_DIR: node.dataDir })).code, 0)
    const passphrase = join(dir, 'passphrase')
    writeFileSync(passphrase, 'staple battery horse correct\n')
    const target = join(dir, 'restored')

    const refused = await cli(['restore', out, '--data-dir', target, '--passphrase-file', passphrase])
    t.equal(refused.code, 2)
    t.match(
      refused.stderr,
      /restore: a passphrase was given but this backup is not encrypted: it may not be the file that was written with that passphrase\. Nothing was restored\. Restore it without --passphrase-file only if you trust where the file came from/,
    )
    t.notOk(existsSync(target), 'nothing written')

    // The operator trusts it: without --passphrase-file, and without --data-dir either.
    const restored = await cli(['restore', out], { NODE_DATA_DIR: target })
    t.equal(restored.code, 0, restored.stderr)
    t.match(
      restored.stdout,
      new RegExp(`into ${target}\\n[^]*next: NODE_DATA_DIR=${target} ochat-node serve`),
    )
    t.ok(existsSync(join(target, DATABASE_ENTRY)), 'restored into NODE_DATA_DIR')
    const help = await cli(['restore'])
    t.match(help.stderr, /usage: ochat-node restore FILE \[--data-dir DIR\].*DIR defaults to NODE_DATA_DIR/)
  },
)

t.test('a backup whose attachment is not under its own SHA-256 is refused', async (t) => {
  const dir = scratch(t)
  const node = await buildNode(t)
  const sarah = await buildUser(node)
  const lead = await buildRecord(sarah)
  const contract = Buffer.from('the signed contract, page 1')
  const uploaded = await node.app.inject({
    method: 'POST',
    url: `/api/v1/attachments?fileName=contract.pdf&recordId=${lead.id}`,
    headers: { authorization: `Bearer ${sarah.secret}`, 'content-type': 'application/octet-stream' },
    payload: contract,
  })
  t.equal(uploaded.statusCode, 201, uploaded.body)
  const sha = createHash('sha256').update(contract).digest('hex')

  // Crafted with the backup's own writer: the manifest and the checksums agree with the bytes, but
  // the file under the contract's content address holds other bytes.
  const database = join(dir, 'copy.sqlite')
  await snapshotDatabase(node.config.databaseFile, database)
  const planted = Buffer.from('other terms, planted')
  const sources: Source[] = [
    { path: DATABASE_ENTRY, size: statSync(database).size, open: () => createReadStream(database) },
    {
      path: `attachments/${sha.slice(0, 2)}/${sha}`,
      size: planted.length,
      open: async function* () {
        yield planted
      },
    },
  ]
  const crafted = join(dir, 'crafted.backup')
  await pipeline(
    containerBytes({
      sources,
      manifest: {
        createdAt: new Date(node.clock.now()).toISOString(),
        company: 'Acme',
        schema: readSnapshot(database).schema,
        attachments: 'referenced',
        missing: [],
      },
    }),
    await sealing(undefined),
    createWriteStream(crafted),
  )
  const target = join(dir, 'restored')
  const refused = await cli(['restore', crafted, '--data-dir', target])
  t.equal(refused.code, 2)
  t.match(
    refused.stderr,
    `restore: the backup is damaged: attachments/${sha.slice(0, 2)}/${sha} does not hold the bytes its name (their SHA-256) gives. Nothing was restored`,
  )
  t.notOk(existsSync(target), 'nothing written')
})

t.test('a backup to a path under a regular file fails at once and leaves nothing', async (t) => {
  const dir = scratch(t)
  const node = await buildNode(t)
  const notADirectory = join(dir, 'backups')
  writeFileSync(notADirectory, 'a file where a directory was meant')
  const out = join(notADirectory, 'nightly', 'acme.backup')
  const refused = await cli(['backup', '--out', out], { NODE_DATA_DIR: node.dataDir })
  t.equal(refused.code, 2)
  t.match(
    refused.stderr,
    /backup: cannot write a backup in .*backups\/nightly \(it, or a folder above it, is a file\): give a path in a directory this user can write to/,
  )
  t.same(
    readdirSync(node.dataDir).filter((name) => name.startsWith('.backup-')),
    [],
    'no staging directory',
  )
})

t.test('two backups to one name at once: one is written whole, the other refused', async (t) => {
  const dir = scratch(t)
  const node = await buildNode(t)
  await buildUser(node)
  const out = join(dir, 'acme.backup')
  const both = await Promise.allSettled(
    [1, 2].map(() => writeBackup({ settings: node.config, out, now: node.clock.now() })),
  )
  t.equal(both.filter((outcome) => outcome.status === 'fulfilled').length, 1, 'one is written')
  const refused = both.find((outcome) => outcome.status === 'rejected')?.reason
  t.ok(refused instanceof BackupError, String(refused))
  t.equal((refused as BackupError).code, 'E_BACKUP_OUT_EXISTS')
  t.same(readdirSync(dir), ['acme.backup'], 'no partial file is left')
  const restored = await cli(['restore', out, '--data-dir', join(dir, 'restored')])
  t.equal(restored.code, 0, restored.stderr)
})
