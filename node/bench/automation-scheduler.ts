// The time-based rules' scheduler, for `pnpm bench automation`: how many firings a minute one pass
// gets through when a batch of deadlines falls due together. In process, on a fresh SQLite file, with
// a fake clock moved past the deadlines (a real minute would only measure waiting); each firing runs
// a rule that logs a note, through the same commands as a person's note. The baseline writes the same
// notes through the same write queue without the scheduler: what remains is the scheduler's own cost.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ManualClock } from '@ochat/shared-protocol/server'
import { median, report } from '../../shared-protocol/bench/measure.ts'
import { authorOf } from '../src/automation/engine.ts'
import { postMessage } from '../src/chatter/post-message.ts'
import { loadConfig } from '../src/config.ts'
import { automationRules } from '../src/db/schema.ts'
import { newEffects } from '../src/live/events.ts'
import { startNode } from '../src/node.ts'
import { createUser } from '../src/people/create-user.ts'
import { findRecord } from '../src/records/repository.ts'
import { createRecord } from '../src/records/write-record.ts'

/** Deadlines falling due in the same minute, each fired once by the pass. */
const FIRINGS = Number(process.env.BENCH_AUTOMATION_FIRINGS ?? 10_000)
const TARGET_PER_MINUTE = 10_000
const START = Date.parse('2026-11-25T10:00:00Z')
const MINUTE = 60_000

export async function schedulerFirings(runs: number): Promise<void> {
  console.log(`\nTime-based rules: ${FIRINGS.toLocaleString('en-US')} deadlines due in one minute, one pass`)
  const perMinute: number[] = []
  const baseline: number[] = []
  for (let run = 0; run < runs; run++) {
    const result = await schedulerRun()
    perMinute.push(result.scheduler)
    baseline.push(result.baseline)
  }
  report({ name: '  scheduler: firings (rule runs, each a logged note)', unit: '/min', runs: perMinute })
  report({ name: '  baseline: the same notes written directly', unit: '/min', runs: baseline })
  const figure = median(perMinute)
  console.log(`  target: ≥ ${TARGET_PER_MINUTE.toLocaleString('en-US')} firings a minute`)
  console.log(`  → ${figure >= TARGET_PER_MINUTE ? '✓ met' : '✗ NOT met'}`)
}

async function schedulerRun(): Promise<{ scheduler: number; baseline: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ochat-bench-scheduler-'))
  const clock = new ManualClock(START)
  const node = await startNode({
    config: loadConfig({ NODE_DATA_DIR: dataDir, NODE_LOG_LEVEL: 'silent', NODE_COMPANY: 'Acme' }),
    clock,
  })
  try {
    const { writes, registry } = { writes: node.inbound.deps.writes, registry: node.registry }
    const model = registry.byName('ticket')
    if (!model) throw new Error('no ticket model')
    const { user: admin } = await createUser({
      db: node.database.db,
      user: {
        login: 'admin',
        password: 'unused-password',
        name: 'Ada Admin',
        email: 'ada@acme.example',
        role: 'admin',
        notification: 'inbox',
        timeZone: 'UTC',
      },
      now: START,
      passwordHash: 'scrypt$16384$8$1$c2FsdA$aGFzaA',
    })
    const principal = await writes.run((tx) => authorOf(tx, { createdBy: admin.id }))
    if (!principal) throw new Error('no administrator')
    await writes.run((tx) =>
      tx
        .insert(automationRules)
        .values({
          name: 'At the SLA deadline',
          modelId: model.id,
          trigger: { kind: 'time', field: 'sla_deadline', offset: 0, unit: 'minutes', timeZone: 'UTC' },
          before: null,
          after: null,
          actions: [{ type: 'post_message', kind: 'note', body: 'SLA reached on {{name}}' }],
          checkedUntil: START,
          createdBy: admin.id,
          createdAt: START,
          updatedAt: START,
        })
        .run(),
    )
    const site = node.config
    const ids: number[] = []
    for (let i = 0; i < FIRINGS; i++)
      writes
        .run((tx) =>
          createRecord(tx, {
            principal,
            model,
            registry,
            // All within the minute after 10:05.
            values: {
              name: `Ticket ${i}`,
              sla_deadline: new Date(START + 5 * MINUTE + (i % 60) * 1000).toISOString(),
            },
            site,
            now: START,
            effects: newEffects(),
          }),
        )
        .then((record) => ids.push(record.id))
    await writes.run(() => undefined)

    clock.set(START + 6 * MINUTE)
    const started = performance.now()
    const fired = await node.automation.tick()
    const seconds = (performance.now() - started) / 1000
    if (fired !== FIRINGS) throw new Error(`the pass fired ${fired} of ${FIRINGS}`)

    // The baseline: the same notes, by the same author on the same records, written by the queue.
    const baseStarted = performance.now()
    await Promise.all(
      ids.map((id) =>
        writes.run((tx) => {
          const record = findRecord(tx, id)
          if (!record) throw new Error(`no record ${id}`)
          postMessage(tx, {
            principal,
            record,
            model,
            kind: 'note',
            body: `<p>SLA reached on ${record.name}</p>`,
            format: 'html',
            mentionPartnerIds: [],
            attachmentIds: [],
            site,
            now: clock.now(),
            effects: newEffects(),
          })
        }),
      ),
    )
    const baseSeconds = (performance.now() - baseStarted) / 1000
    return { scheduler: (FIRINGS / seconds) * 60, baseline: (FIRINGS / baseSeconds) * 60 }
  } finally {
    await node.close()
    rmSync(dataDir, { recursive: true, force: true })
  }
}
