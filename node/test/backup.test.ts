import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Sqlite from 'better-sqlite3'
import t, { type Test } from 'tap'
import { backupFileName, scheduledBackups } from '../src/backup/scheduler.ts'
import { buildMigrations } from '../src/backup/snapshot.ts'
import { main } from '../src/cli.ts'
import { identityRow, openInstance } from '../src/ochat/identity/instance.ts'
import { Keystore, KeystoreError } from '../src/ochat/identity/keystore.ts'
import { type Actor, buildNode, buildRecord, buildUser, type TestNode } from './helpers.ts'
import {
  acceptedChannel,
  buildOchatNode,
  buildPeer,
  deliver,
  envelopeFrom,
  OCHAT_SECRET,
  startFakeRelay,
} from './ochat-helpers.ts'

/**
 * `ochat-node backup` and `restore` as an operator runs them (the CLI's `main`, in this process, on
 * the test node's data directory), and the running node's scheduled backups. Real SQLite files, real
 * attachment files; only the clock is the test's.
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
  const dir = mkdtempSync(join(tmpdir(), 'ochat-backup-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

async function upload(node: TestNode, actor: Actor, bytes: Buffer, recordId: number): Promise<number> {
  const response = await node.app.inject({
    method: 'POST',
    url: `/api/v1/attachments?fileName=part.bin&recordId=${recordId}`,
    headers: { authorization: `Bearer ${actor.secret}`, 'content-type': 'application/octet-stream' },
    payload: bytes,
  })
  if (response.statusCode !== 201) throw new Error(`upload: ${response.statusCode} ${response.body}`)
  return response.json().id
}

type Posted = { messageId: number; body: string; attachmentId: number; bytes: Buffer }

/** What a user does: uploads a file, then posts a message with it on the record. */
async function postWithFile(node: TestNode, actor: Actor, recordId: number, n: number): Promise<Posted> {
  const bytes = randomBytes(1_000 + ((n * 7919) % 60_000))
  const attachmentId = await upload(node, actor, bytes, recordId)
  const body = `Delivery note ${n}`
  const posted = await actor.call('POST', `/api/v1/records/${recordId}/messages`, {
    kind: 'message',
    body,
    attachmentIds: [attachmentId],
  })
  if (posted.status !== 201) throw new Error(`post: ${posted.status} ${JSON.stringify(posted.body)}`)
  return { messageId: posted.body.id, body, attachmentId, bytes }
}

/** Calls the API of `node` with the key `actor` has (a restored node holds the same keys). */
function callAs(node: TestNode, actor: Actor, url: string) {
  return node.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${actor.secret}` } })
}

/** Every message of a record, through the API, by id. */
async function chatterOf(node: TestNode, actor: Actor, recordId: number): Promise<Map<number, string>> {
  const found = new Map<number, string>()
  let cursor: string | undefined
  do {
    const page = (
      await callAs(
        node,
        actor,
        `/api/v1/records/${recordId}/messages?limit=200${cursor ? `&cursor=${cursor}` : ''}`,
      )
    ).json()
    for (const item of page.items) found.set(item.id, item.body)
    cursor = page.nextCursor ?? undefined
  } while (cursor)
  return found
}

t.test(
  'a backup taken while users post messages and upload files restores everything committed before it, byte-equal',
  async (t) => {
    const dir = scratch(t)
    const node = await buildNode(t)
    const sarah = await buildUser(node, { name: 'Sarah Sales' })
    const lead = await buildRecord(sarah)
    const committed: Posted[] = []
    for (let n = 0; n < 25; n++) committed.push(await postWithFile(node, sarah, lead.id, n))

    // Load for the whole backup: one user after another posting with a file, as fast as the node takes it.
    let stop = false
    const during: Posted[] = []
    const load = (async () => {
      for (let n = 1000; !stop; n++) during.push(await postWithFile(node, sarah, lead.id, n))
    })()
    while (during.length < 3) await new Promise((resolve) => setTimeout(resolve, 5))
    const before = [...committed, ...during]
    const out = join(dir, 'acme.backup')
    const backedUp = await cli(['backup', '--out', out], {
      NODE_DATA_DIR: node.dataDir,
      NODE_COMPANY: 'Acme',
    })
    const whileBackingUp = during.length - (before.length - committed.length)
    stop = true
    await load
    t.equal(backedUp.code, 0, backedUp.stderr)
    t.match(backedUp.stdout, /wrote .*acme\.backup .*the database and \d+ attachments, not encrypted/)
    t.match(backedUp.stderr, /backup: \d+\/\d+ files/, 'progress on stderr')
    t.ok(whileBackingUp > 0, `${whileBackingUp} messages with files were committed while the backup ran`)
    t.notOk(
      readdirSync(node.dataDir).some((name) => name.startsWith('.backup-')),
      'the staging directory is gone',
    )

    const target = join(dir, 'restored')
    const restored = await cli(['restore', out, '--data-dir', target])
    t.equal(restored.code, 0, restored.stderr)
    t.match(restored.stdout, /restored the backup of "Acme"/)
    t.match(restored.stdout, /the schema is this ochat-node’s/)

    const copy = new Sqlite(join(target, 'node.sqlite'), { readonly: true })
    t.same(copy.pragma('integrity_check'), [{ integrity_check: 'ok' }], 'PRAGMA integrity_check passes')
    const rows = copy.prepare('select id, sha256 from attachments').all() as { id: number; sha256: string }[]
    copy.close()
    const unreadable = rows.filter((row) => {
      const file = join(target, 'attachments', row.sha256.slice(0, 2), row.sha256)
      return !existsSync(file) || sha256(readFileSync(file)) !== row.sha256
    })
    t.same(unreadable, [], 'every attachment the restored database names is there, with its bytes')
    t.ok(rows.length >= before.length, `${rows.length} attachments restored`)

    const again = await buildNode(t, { dataDir: target })
    const chatter = await chatterOf(again, sarah, lead.id)
    const missing = before
      .filter((posted) => chatter.get(posted.messageId) !== `<p>${posted.body}</p>`)
      .map((posted) => posted.messageId)
    t.same(missing, [], `the ${before.length} messages committed before the backup are served`)
    let differing = 0
    for (const posted of before) {
      const content = await callAs(again, sarah, `/api/v1/attachments/${posted.attachmentId}/content`)
      if (content.statusCode !== 200 || !content.rawPayload.equals(posted.bytes)) differing++
    }
    t.equal(differing, 0, 'every file committed before the backup downloads byte-equal')
  },
)

t.test(
  "an encrypted backup restores O'Chat keys that open with the operator's secret, and refuses a wrong passphrase or a flipped byte",
  async (t) => {
    const dir = scratch(t)
    const relay = await startFakeRelay(t)
    const { node, admin } = await buildOchatNode(t, relay)
    const peer = buildPeer('Globex')
    const { connectionId, channelId } = await acceptedChannel(node, admin, relay, peer)
    const original = identityRow(node.database.db)
    if (!original) throw new Error('not registered')
    const passphrase = join(dir, 'passphrase')
    writeFileSync(passphrase, 'staple battery horse correct\n')
    const out = join(dir, 'acme.backup')
    const env = { NODE_DATA_DIR: node.dataDir, NODE_OCHAT_SECRET: OCHAT_SECRET }
    const backedUp = await cli(['backup', '--out', out, '--passphrase-file', passphrase], env)
    t.equal(backedUp.code, 0, backedUp.stderr)
    t.match(backedUp.stdout, /encrypted/)
    t.notOk(readFileSync(out).includes(Buffer.from(original.sealedSecretKeys)), 'nothing readable inside')

    const target = join(dir, 'restored')
    const noPassphrase = await cli(['restore', out, '--data-dir', target])
    t.equal(noPassphrase.code, 2)
    t.match(noPassphrase.stderr, /this backup is encrypted: give its passphrase with --passphrase-file/)
    const wrongFile = join(dir, 'wrong')
    writeFileSync(wrongFile, 'horse battery staple wrong')
    const wrong = await cli(['restore', out, '--data-dir', target, '--passphrase-file', wrongFile])
    t.equal(wrong.code, 2)
    t.match(wrong.stderr, /the passphrase does not open this backup/)
    t.notOk(existsSync(target), 'a wrong passphrase writes nothing')

    const flipped = join(dir, 'flipped.backup')
    const bytes = readFileSync(out)
    bytes[Math.floor(bytes.length / 2)] = (bytes[Math.floor(bytes.length / 2)] as number) ^ 0x01
    writeFileSync(flipped, bytes)
    const altered = await cli(['restore', flipped, '--data-dir', target, '--passphrase-file', passphrase])
    t.equal(altered.code, 2)
    t.match(
      altered.stderr,
      /the backup was altered or damaged at byte \d+: its encrypted chunk \d+ fails authentication/,
    )
    t.notOk(existsSync(target), 'a flipped byte writes nothing')
    const cut = join(dir, 'cut.backup')
    writeFileSync(cut, readFileSync(out).subarray(0, bytes.length - 100))
    const truncated = await cli(['restore', cut, '--data-dir', target, '--passphrase-file', passphrase])
    t.equal(truncated.code, 2)
    t.match(truncated.stderr, /truncated/)
    t.notOk(existsSync(target), 'a truncated file writes nothing')

    // Restored where the environment has another operator secret: restored, with a warning.
    const restored = await cli(['restore', out, '--data-dir', target, '--passphrase-file', passphrase], {
      NODE_OCHAT_SECRET: 'not the operator secret of acme',
    })
    t.equal(restored.code, 0, restored.stderr)
    t.match(restored.stdout, new RegExp(`O'Chat: registered as ${original.instanceId}`))
    t.match(restored.stderr, /the operator secret set here does not open the restored O'Chat keys/)

    const copy = new Sqlite(join(target, 'node.sqlite'), { readonly: true })
    const row = copy.prepare('select sealed_secret_keys as sealed from ochat_identity').get() as {
      sealed: string
    }
    copy.close()
    const keys = openInstance({ ...original, sealedSecretKeys: row.sealed }, new Keystore(OCHAT_SECRET))
    t.equal(Buffer.from(keys.identity.publicKey).toString('base64url'), original.identityPublicKey)
    t.throws(
      () =>
        openInstance({ ...original, sealedSecretKeys: row.sealed }, new Keystore('another operator secret!')),
      new KeystoreError(
        "the O'Chat secret does not open the stored keys: NODE_OCHAT_SECRET is not the one they were sealed with",
      ),
    )

    // The same restored directory, started with a wrong secret and then with the right one.
    const lockedCopy = join(dir, 'restored-locked')
    t.equal((await cli(['restore', out, '--data-dir', lockedCopy, '--passphrase-file', passphrase])).code, 0)
    const wrongSecret = await buildNode(t, {
      dataDir: lockedCopy,
      env: { NODE_OCHAT_SECRET: 'another operator secret!', NODE_OCHAT_WEBSOCKET: 'false' },
    })
    t.match(wrongSecret.ochat.state, { kind: 'locked', reason: /not the one they were sealed with/ })

    const again = await buildNode(t, {
      dataDir: target,
      clock: node.clock,
      env: { NODE_OCHAT_SECRET: OCHAT_SECRET, NODE_OCHAT_WEBSOCKET: 'false', NODE_OCHAT_SYNC_MS: '3600000' },
    })
    t.equal(again.ochat.state.kind, 'ready')
    t.equal(again.ochat.instance().instanceId, original.instanceId, 'the same O’Chat identity')
    // What the partner sent after the backup reaches the restored node, sealed to the restored keys.
    const answer = await deliver(again, relay, [
      envelopeFrom(peer, again, { connectionId, payload: { html: '<p>Sent while you were away</p>' } }),
    ])
    t.same(answer.body.results[0].ok, true, 'the restored node opens and takes it')
    const thread = await callAs(again, admin, `/api/v1/ochat/channels/${channelId}/messages`)
    t.match(thread.json().items[0], { direction: 'in', html: /Sent while you were away/ })
  },
)

t.test('a plain backup with a flipped byte is refused by its checksums, nothing restored', async (t) => {
  const dir = scratch(t)
  const node = await buildNode(t)
  const sarah = await buildUser(node)
  const lead = await buildRecord(sarah)
  for (let n = 0; n < 5; n++) await postWithFile(node, sarah, lead.id, n)
  const out = join(dir, 'acme.backup')
  t.equal((await cli(['backup', '--out', out], { NODE_DATA_DIR: node.dataDir })).code, 0)
  const bytes = readFileSync(out)
  for (const at of [Math.floor(bytes.length / 3), bytes.length - 40]) {
    const copy = Buffer.from(bytes)
    copy[at] = (copy[at] as number) ^ 0x20
    const flipped = join(dir, `flipped-${at}.backup`)
    writeFileSync(flipped, copy)
    const target = join(dir, `restored-${at}`)
    const refused = await cli(['restore', flipped, '--data-dir', target])
    t.equal(refused.code, 2, `byte ${at}`)
    t.match(refused.stderr, /the backup is damaged: .*Nothing was restored/)
    t.notOk(existsSync(target), 'nothing written')
  }
  const notBackup = join(dir, 'notes.txt')
  writeFileSync(notBackup, 'meeting notes, not a backup')
  const refused = await cli(['restore', notBackup, '--data-dir', join(dir, 'from-notes')])
  t.equal(refused.code, 2)
  t.match(refused.stderr, /this is not an ochat-node backup file/)
})

t.test('an attachment lost from the disk before the backup is listed as missing, and said', async (t) => {
  const dir = scratch(t)
  const node = await buildNode(t)
  const sarah = await buildUser(node)
  const lead = await buildRecord(sarah)
  const kept = await postWithFile(node, sarah, lead.id, 1)
  const lost = await postWithFile(node, sarah, lead.id, 2)
  const sha = sha256(lost.bytes)
  rmSync(join(node.config.attachmentDir, sha.slice(0, 2), sha))
  const out = join(dir, 'acme.backup')
  const backedUp = await cli(['backup', '--out', out], { NODE_DATA_DIR: node.dataDir })
  t.equal(backedUp.code, 0, 'a lost file does not stop the backup')
  t.match(
    backedUp.stderr,
    new RegExp(`warning: 1 attachment the database references is not in .*first: ${sha}`),
  )
  const target = join(dir, 'restored')
  const restored = await cli(['restore', out, '--data-dir', target])
  t.equal(restored.code, 0, restored.stderr)
  t.match(
    restored.stderr,
    /warning: 1 attachment had already been lost by the node when this backup was taken/,
  )
  const again = await buildNode(t, { dataDir: target })
  const content = await callAs(again, sarah, `/api/v1/attachments/${kept.attachmentId}/content`)
  t.same(content.rawPayload, kept.bytes, 'the other files are there')
})

t.test('a restore refuses a non-empty directory and a schema newer than this build', async (t) => {
  const dir = scratch(t)
  const node = await buildNode(t)
  await buildUser(node)
  const out = join(dir, 'acme.backup')
  t.equal((await cli(['backup', '--out', out], { NODE_DATA_DIR: node.dataDir })).code, 0)

  const occupied = join(dir, 'occupied')
  mkdirSync(occupied)
  writeFileSync(join(occupied, 'notes.txt'), 'keep me')
  const refused = await cli(['restore', out, '--data-dir', occupied])
  t.equal(refused.code, 2)
  t.match(refused.stderr, /occupied is not empty \(notes\.txt\): a restore never mixes with existing data/)
  t.same(readdirSync(occupied), ['notes.txt'], 'the directory is as it was')
  const empty = join(dir, 'empty')
  mkdirSync(empty)
  t.equal((await cli(['restore', out, '--data-dir', empty])).code, 0, 'an empty directory is fine')
  t.ok(existsSync(join(empty, 'node.sqlite')))

  const again = await cli(['backup', '--out', out], { NODE_DATA_DIR: node.dataDir })
  t.equal(again.code, 2)
  t.match(again.stderr, /acme\.backup exists already/)

  // A newer ochat-node migrated this database: its last migration is one this build does not have.
  const latest = buildMigrations().at(-1)
  if (!latest) throw new Error('no migrations')
  node.database.sqlite
    .prepare('insert into __drizzle_migrations (hash, created_at) values (?, ?)')
    .run('a later migration', latest.when + 86_400_000)
  const newer = join(dir, 'newer.backup')
  t.equal((await cli(['backup', '--out', newer], { NODE_DATA_DIR: node.dataDir })).code, 0)
  const target = join(dir, 'from-newer')
  const tooNew = await cli(['restore', newer, '--data-dir', target])
  t.equal(tooNew.code, 2)
  t.match(
    tooNew.stderr,
    new RegExp(
      `newer than this ochat-node's last \\(${latest.tag}\\): restore it with the ochat-node version that made it`,
    ),
  )
  t.notOk(existsSync(target), 'nothing written')
})

t.test('the running node backs up on schedule and keeps the newest NODE_BACKUP_KEEP', async (t) => {
  const dir = scratch(t)
  const backups = join(dir, 'backups')
  const passphrase = join(dir, 'passphrase')
  writeFileSync(passphrase, 'scheduled backups passphrase')
  mkdirSync(backups)
  writeFileSync(join(backups, 'notes.txt'), 'an operator’s file')
  const node = await buildNode(t, {
    env: {
      NODE_BACKUP_DIR: backups,
      NODE_BACKUP_EVERY_HOURS: '24',
      NODE_BACKUP_KEEP: '3',
      NODE_BACKUP_PASSPHRASE_FILE: passphrase,
    },
  })
  const scheduler = node.backups
  if (!scheduler) throw new Error('scheduled backups are off')
  const start = node.clock.now()
  await scheduler.tick()
  t.same(
    scheduledBackups(backups).map((file) => file.name),
    [backupFileName(start)],
    'one at start, none being there',
  )
  node.clock.advance(23 * 3_600_000)
  await scheduler.tick()
  t.equal(scheduledBackups(backups).length, 1, 'not before 24 h')
  for (let day = 1; day <= 5; day++) {
    node.clock.set(start + day * 24 * 3_600_000)
    await scheduler.tick()
  }
  t.same(
    scheduledBackups(backups).map((file) => file.name),
    [5, 4, 3].map((day) => backupFileName(start + day * 24 * 3_600_000)),
    'the three newest are kept',
  )
  t.same(
    readdirSync(backups).sort(),
    ['notes.txt', ...[3, 4, 5].map((day) => backupFileName(start + day * 24 * 3_600_000))].sort(),
    'other files are left alone, no partial file is left',
  )

  const newest = join(backups, backupFileName(start + 5 * 24 * 3_600_000))
  const plain = await cli(['restore', newest, '--data-dir', join(dir, 'restored')])
  t.match(plain.stderr, /this backup is encrypted/, 'encrypted with NODE_BACKUP_PASSPHRASE_FILE')
  const restored = await cli([
    'restore',
    newest,
    '--data-dir',
    join(dir, 'restored'),
    '--passphrase-file',
    passphrase,
  ])
  t.equal(restored.code, 0, restored.stderr)
})

t.test('a node stopped during a scheduled backup leaves no partial file behind', async (t) => {
  const dir = scratch(t)
  const backups = join(dir, 'backups')
  const dataDir = join(dir, 'data')
  const first = await buildNode(t, { dataDir })
  const sarah = await buildUser(first)
  const lead = await buildRecord(sarah)
  for (let n = 0; n < 20; n++) await postWithFile(first, sarah, lead.id, n)
  await first.close()
  // Started with backups on, none there yet: one starts at once, and the node is stopped under it.
  const node = await buildNode(t, { dataDir, env: { NODE_BACKUP_DIR: backups } })
  await node.close()
  const left = existsSync(backups) ? readdirSync(backups) : []
  t.same(
    left.filter((name) => !/^ochat-node-\d{8}T\d{6}Z\.backup$/.test(name)),
    [],
    'no partial file',
  )
  t.same(
    readdirSync(dataDir).filter((name) => name.startsWith('.backup-')),
    [],
    'no staging directory',
  )
  for (const name of left) {
    const restored = await cli(['restore', join(backups, name), '--data-dir', join(dir, `restored-${name}`)])
    t.equal(restored.code, 0, 'a backup that is there is whole')
  }
})
