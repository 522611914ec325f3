// What twenty automation rules on a model cost its writes: the rate of chatter posts and of record
// updates on leads with the rules active, against the same rate with the same rules inactive, in the
// same node and the same sitting. The two alternate in short slices within each run, so the growth of
// the chatter and the machine's other work fall on both alike.
import { median, report } from '../../shared-protocol/bench/measure.ts'
import { type Context, call, cpuSeconds, RUNS, WRITERS } from './automation-api.ts'

/** How long each run writes in each state, in seconds. */
const SECONDS = Number(process.env.BENCH_AUTOMATION_SECONDS ?? 3)
/** Slices of a run in each state, in the order without, with, with, without, and again. */
const SLICES = 4
/** Leads written to; each client updates its own, so no update waits on another's version. */
const RECORDS = WRITERS * 4
/** The most the rules may take off the rate: 10 %. */
const TARGET = 0.1

/** A rule as POST /api/v1/automation-rules takes it, on leads. */
type RuleBody = Record<string, unknown> & { name: string }

const note = (body: string) => ({ type: 'post_message', kind: 'note', body })

/**
 * Eighteen rules a sales team could well have on its leads, of every trigger, none of which fires on a
 * chatter post or a change of a bench lead's notes (`description`): the five update rules that watch the
 * notes or any field have conditions the leads do not meet.
 */
const QUIET: RuleBody[] = [
  { name: 'New lead: welcome', trigger: { kind: 'create' }, actions: [note('New lead {{name}}')] },
  {
    name: 'New big lead: call within a day',
    trigger: { kind: 'create' },
    after: { field: 'expected_revenue', op: 'gte', value: 100_000 },
    actions: [
      { type: 'schedule_activity', activityType: 'call', delayDays: 1, assignee: { field: 'user_id' } },
    ],
  },
  {
    name: 'Won: tell the team, book the delivery call',
    trigger: { kind: 'set', field: 'stage', value: 'won' },
    actions: [
      note('{{name}} is won'),
      { type: 'schedule_activity', activityType: 'call', delayDays: 2, assignee: { field: 'user_id' } },
    ],
  },
  { name: 'Lost: say why', trigger: { kind: 'set', field: 'stage', value: 'lost' }, actions: [note('Lost')] },
  {
    name: 'Urgent: a to-do today',
    trigger: { kind: 'set', field: 'priority', value: 'urgent' },
    actions: [
      { type: 'schedule_activity', activityType: 'todo', delayDays: 0, assignee: { field: 'user_id' } },
    ],
  },
  {
    name: 'Proposition: send the quote',
    trigger: { kind: 'update', fields: ['stage'] },
    after: { field: 'stage', op: 'eq', value: 'proposition' },
    actions: [note('Send the quote for {{name}}')],
  },
  {
    name: 'Salesperson changed: they follow',
    trigger: { kind: 'update', fields: ['user_id'] },
    actions: [{ type: 'add_followers', field: 'user_id' }],
  },
  {
    name: 'Revenue raised above 50,000',
    trigger: { kind: 'update', fields: ['expected_revenue'] },
    before: { field: 'expected_revenue', op: 'lte', value: 50_000 },
    after: { field: 'expected_revenue', op: 'gt', value: 50_000 },
    actions: [note('{{name}} is now worth {{expected_revenue}}')],
  },
  {
    name: 'Closing date moved',
    trigger: { kind: 'update', fields: ['date_deadline'] },
    actions: [note('Expected closing moved to {{date_deadline}}')],
  },
  {
    name: 'Three days old: follow up',
    trigger: { kind: 'time', field: 'createdAt', offset: 3, unit: 'days' },
    after: { field: 'stage', op: 'in', value: ['new', 'qualified'] },
    actions: [
      { type: 'schedule_activity', activityType: 'todo', delayDays: 0, assignee: { field: 'user_id' } },
    ],
  },
  {
    name: 'Closing tomorrow',
    trigger: { kind: 'time', field: 'date_deadline', offset: -1, unit: 'days' },
    actions: [note('{{name}} should close tomorrow')],
  },
  {
    name: 'Customer wrote',
    trigger: { kind: 'message_received', via: 'any' },
    actions: [note('{{name}}: the customer wrote')],
  },
  {
    name: 'Customer wrote after winning',
    trigger: { kind: 'message_received', via: 'email' },
    after: { field: 'stage', op: 'eq', value: 'won' },
    actions: [note('Won customer wrote on {{name}}')],
  },
  {
    name: 'Big won lead changed',
    trigger: { kind: 'update', fields: [] },
    after: {
      and: [
        { field: 'stage', op: 'eq', value: 'won' },
        { field: 'expected_revenue', op: 'gt', value: 100_000 },
      ],
    },
    actions: [note('{{name}} changed after it was won')],
  },
  {
    name: 'Notes say urgent',
    trigger: { kind: 'update', fields: ['description'] },
    after: { field: 'description', op: 'contains', value: 'urgent' },
    actions: [{ type: 'set_values', values: { priority: 'urgent' } }],
  },
  {
    name: 'Lost or urgent lead changed',
    trigger: { kind: 'update', fields: ['description', 'stage'] },
    after: {
      or: [
        { field: 'stage', op: 'eq', value: 'lost' },
        { field: 'priority', op: 'eq', value: 'urgent' },
      ],
    },
    actions: [note('Look at {{name}}')],
  },
  {
    name: 'Changed without an email',
    trigger: { kind: 'update', fields: [] },
    after: { not: { field: 'email', op: 'set' } },
    actions: [note('{{name}} has no email address')],
  },
  {
    name: 'Notes on a million',
    trigger: { kind: 'update', fields: ['description'] },
    after: { field: 'expected_revenue', op: 'gte', value: 1_000_000 },
    actions: [note('Notes changed on {{name}}, worth {{expected_revenue}}')],
  },
]
/** Two more that match every change of a bench lead's notes, and log a note each. */
const MATCHING: RuleBody[] = [
  {
    name: 'Notes changed',
    trigger: { kind: 'update', fields: ['description'] },
    after: { field: 'description', op: 'set' },
    actions: [note('Notes changed on {{name}}')],
  },
  {
    name: 'Open lead changed',
    trigger: { kind: 'update', fields: [] },
    after: { field: 'stage', op: 'in', value: ['new', 'qualified'] },
    actions: [note('{{name}} changed while {{stage}}')],
  },
]
const RULES = [...QUIET, ...MATCHING]
/** Update rules weighing each change of the notes: those watching them or any field. */
const WEIGHING = 7

/** The rules' ids in the order of RULES, and the leads with the version the bench last saw. */
type Scene = { ruleIds: number[]; leads: { id: number; version: number }[] }
let scene: Promise<Scene> | undefined

/** The leads and the rules, made once for all three figures; the rules are saved inactive. */
function sceneOf(context: Context): Promise<Scene> {
  scene ??= (async () => {
    const leads: Scene['leads'] = []
    for (let i = 0; i < RECORDS; i++) {
      const lead = (await call(context, 'POST', '/api/v1/models/lead/records', {
        values: {
          name: `Rules bench lead ${i}`,
          stage: 'new',
          priority: 'normal',
          email: `buyer${i}@customer.example`,
          expected_revenue: 12_000,
          description: 'First call booked',
        },
      })) as { id: number; version: number }
      leads.push({ id: lead.id, version: lead.version })
    }
    const ruleIds: number[] = []
    for (const rule of RULES) {
      const saved = await call(context, 'POST', '/api/v1/automation-rules', {
        model: 'lead',
        ...rule,
        active: false,
      })
      ruleIds.push((saved as { id: number }).id)
    }
    return { ruleIds, leads }
  })()
  return scene
}

async function setActive(context: Context, ruleIds: number[], active: boolean): Promise<void> {
  for (const id of ruleIds) await call(context, 'PATCH', `/api/v1/automation-rules/${id}`, { active })
}

const POST = { kind: 'message', body: 'Thanks for the **update**, we will ship on Friday as agreed.' }

/** Chatter posts on leads: no rule fires on a post, so any cost is that of having the rules. */
export async function rulesOnPosts(context: Context): Promise<void> {
  const { ruleIds, leads } = await sceneOf(context)
  console.log(
    `rules-posts: ${WRITERS} API clients posting messages on ${RECORDS} leads, ${SECONDS} s a run with ` +
      `the rules and as long without (BENCH_AUTOMATION_SECONDS), in alternating slices of ` +
      `${SECONDS / SLICES} s; ${RULES.length} rules on leads, none of which fires on a post.`,
  )
  const pairs = await paired(context, ruleIds, {
    active: ruleIds,
    once: (writer, n) => {
      const lead = leads[(writer + n * WRITERS) % leads.length] as Scene['leads'][number]
      return call(context, 'POST', `/api/v1/records/${lead.id}/messages`, POST)
    },
    runsEach: 0,
  })
  present(pairs, { what: 'posts', one: 'a post', rules: RULES.length })
}

/**
 * Changes of a lead's notes with the twenty rules: the update rules watching the notes or any field
 * are weighed on each change, and two of them match and log a note.
 */
export async function rulesOnUpdates(context: Context): Promise<void> {
  const { ruleIds, leads } = await sceneOf(context)
  console.log(
    `rules-updates: ${WRITERS} API clients changing the notes of ${RECORDS} leads (PATCH, each client its ` +
      `own leads), as long; of the ${RULES.length} rules, ${WEIGHING} weigh each change ` +
      `and ${MATCHING.length} match it, logging a note each.`,
  )
  const pairs = await paired(context, ruleIds, {
    active: ruleIds,
    once: changeNotes(context, leads),
    runsEach: MATCHING.length,
  })
  present(pairs, { what: 'updates', one: 'an update', rules: RULES.length })
}

/**
 * The same changes with only the eighteen rules that do not fire on them: what weighing the rules
 * costs a write, apart from the work of the two notes.
 */
export async function rulesOnQuietUpdates(context: Context): Promise<void> {
  const { ruleIds, leads } = await sceneOf(context)
  console.log(
    `rules-updates-quiet: the same changes of the notes with the ${QUIET.length} rules that do not fire ` +
      `on them (${WEIGHING - MATCHING.length} of them weighing each change).`,
  )
  const pairs = await paired(context, ruleIds, {
    active: ruleIds.slice(0, QUIET.length),
    once: changeNotes(context, leads),
    runsEach: 0,
  })
  present(pairs, { what: 'updates', one: 'an update', rules: QUIET.length })
}

/** A client's next change of the notes, on its own leads in turn, so no change waits on another's version. */
function changeNotes(
  context: Context,
  leads: Scene['leads'],
): (writer: number, n: number) => Promise<unknown> {
  const perWriter = leads.length / WRITERS
  // Every change writes new notes, across slices and figures too: the rules only weigh real changes.
  let round = 0
  return async (writer, n) => {
    const lead = leads[writer * perWriter + (n % perWriter)] as Scene['leads'][number]
    round++
    const updated = await call(context, 'PATCH', `/api/v1/records/${lead.id}`, {
      version: lead.version,
      values: { description: `Called back, round ${Date.now()}-${round}` },
    })
    lead.version = (updated as { version: number }).version
  }
}

/** One state of a run: its rate, and the node's CPU time per call in µs. */
type Sample = { rate: number; cpuPerCall: number }
type Pair = { without: Sample; with: Sample }
type Load = { active: number[]; once: (writer: number, n: number) => Promise<unknown>; runsEach: number }

/** A pair to warm up, then RUNS pairs: every rule inactive, against the rules of `active` active. */
async function paired(context: Context, ruleIds: number[], load: Load): Promise<Pair[]> {
  await pairOf(context, ruleIds, load)
  const pairs: Pair[] = []
  for (let run = 0; run < RUNS; run++) pairs.push(await pairOf(context, ruleIds, load))
  await setActive(context, ruleIds, false)
  return pairs
}

/**
 * One run: 2 × SLICES slices of SECONDS / SLICES each, the rules off and on as without, with, with,
 * without. Each slice is checked against the rule runs the node logged: `runsEach` a call with the
 * rules on, none without.
 */
async function pairOf(context: Context, ruleIds: number[], load: Load): Promise<Pair> {
  const totals = { without: { calls: 0, seconds: 0, cpu: 0 }, with: { calls: 0, seconds: 0, cpu: 0 } }
  for (let slice = 0; slice < 2 * SLICES; slice++) {
    const active = slice % 4 === 1 || slice % 4 === 2
    if (active) await setActive(context, load.active, true)
    else await setActive(context, ruleIds, false)
    const logged = ruleRuns(context)
    const result = await closedLoop(context, load.once, SECONDS / SLICES)
    const ran = ruleRuns(context) - logged
    const expected = active ? load.runsEach * result.calls : 0
    if (ran !== expected)
      throw new Error(`the rules ran ${ran} times for ${result.calls} calls, not ${expected}`)
    const total = active ? totals.with : totals.without
    total.calls += result.calls
    total.seconds += result.seconds
    total.cpu += result.cpu
  }
  const sample = (total: typeof totals.with): Sample => ({
    rate: total.calls / total.seconds,
    cpuPerCall: (total.cpu / total.calls) * 1e6,
  })
  return { without: sample(totals.without), with: sample(totals.with) }
}

function ruleRuns(context: Context): number {
  return (context.sqlite.prepare('select count(*) as n from automation_runs').get() as { n: number }).n
}

/** WRITERS loops each making one call after another for `seconds`: the calls, the time and the node's CPU. */
async function closedLoop(
  context: Context,
  once: (writer: number, n: number) => Promise<unknown>,
  seconds: number,
): Promise<{ calls: number; seconds: number; cpu: number }> {
  const cpuBefore = cpuSeconds(context.pid)
  const started = performance.now()
  const until = started + seconds * 1000
  let calls = 0
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, writer) => {
      for (let n = 0; performance.now() < until; n++) {
        await once(writer, n)
        calls++
      }
    }),
  )
  return {
    calls,
    seconds: (performance.now() - started) / 1000,
    cpu: cpuSeconds(context.pid) - cpuBefore,
  }
}

function present(pairs: Pair[], figure: { what: string; one: string; rules: number }): void {
  const { what, one, rules } = figure
  report({ name: `${what}, every rule inactive`, unit: '/s', runs: pairs.map((pair) => pair.without.rate) })
  report({ name: `${what}, ${rules} rules active`, unit: '/s', runs: pairs.map((pair) => pair.with.rate) })
  // On a shared machine the rate moves with the other work; the node's CPU time for a call less so.
  report({
    name: `  node CPU time for ${one}, every rule inactive`,
    unit: 'µs',
    runs: pairs.map((pair) => pair.without.cpuPerCall),
  })
  report({
    name: `  node CPU time for ${one}, ${rules} rules active`,
    unit: 'µs',
    runs: pairs.map((pair) => pair.with.cpuPerCall),
  })
  const cost = pairs.map((pair) => 1 - pair.with.rate / pair.without.rate)
  const cpuCost = pairs.map((pair) => pair.with.cpuPerCall / pair.without.cpuPerCall - 1)
  percent(`  CPU time the rules add to ${one} (pairs)`, cpuCost)
  const met = percent(`cost of ${rules} rules: 1 − rate with / without (target ≤ ${TARGET * 100} %)`, cost)
  console.log(`  → ${met <= TARGET ? '✓ met' : '✗ NOT met'}`)
}

/** Prints the median of the pairs' ratios as a percentage, with their range; answers the median. */
function percent(name: string, ratios: number[]): number {
  const middle = median(ratios)
  const shown = (ratio: number) => (ratio * 100).toFixed(1)
  const range = `min ${shown(Math.min(...ratios))}, max ${shown(Math.max(...ratios))}`
  console.log(
    `${name.padEnd(58)} ${shown(middle).padStart(10)} %      (median of ${ratios.length} pairs; ${range})`,
  )
  return middle
}
