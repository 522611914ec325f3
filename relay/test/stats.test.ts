import t from 'tap'
import { statsCommand } from '../src/stats-command.ts'
import { buildNode, buildRelay, connect, eachDriver, sealFor, signed } from './helpers.ts'
import { cliIo } from './open-relay-helpers.ts'

/**
 * `ochat-relay stats`, run in this process on the relay's database (the binary is cli.test.ts): the
 * totals, and with --instances what each instance holds on the relay, the most first.
 */

eachDriver(t, 'stats --instances shows what each instance holds, the most first', async (t, driver) => {
  const relay = await buildRelay(t, driver)
  const acme = buildNode('Acme')
  const globex = buildNode('Globex')
  const idle = buildNode('Initech')
  await connect(relay, acme, globex)
  await connect(relay, idle, buildNode('Umbrella'))
  // Globex is offline: three messages wait for it.
  const envelopes = Array.from({ length: 3 }, () =>
    sealFor(acme, globex, { html: `<p>${'x'.repeat(2000)}</p>` }),
  )
  t.equal((await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes })).statusCode, 200)
  // And Acme has begun uploading a 2 MB attachment.
  const blob = await signed(relay, acme, 'POST', '/v1/blobs', { size: 2_000_000 })
  t.equal(blob.statusCode, 201)

  const cli = cliIo(relay)
  t.equal(await statsCommand(['--instances'], cli.io()), 0)
  const out = cli.take().out
  t.match(out, /^instances +4$/m, 'the totals come first')
  t.match(out, /^queued items +3 /m)
  t.match(out, /^envelopes queued +3$/m, 'and the envelopes by status')
  const lines = out.split('\n')
  const lineOf = (id: string) => lines.find((line) => line.startsWith(id)) ?? ''
  t.match(
    lineOf(globex.instanceId),
    /^\S+ +3 · 0\.0 MB +0 +0 · 0\.0 MB +Globex$/,
    'three messages wait for Globex',
  )
  t.match(
    lineOf(acme.instanceId),
    /^\S+ +0 · 0\.0 MB +3 +1 · 2\.0 MB +Acme$/,
    "Acme's three wait, and its upload",
  )
  t.match(lineOf(idle.instanceId), / 0 · 0\.0 MB +0 +0 · 0\.0 MB +Initech$/, 'an instance that holds nothing')
  const listed = lines.filter((line) => line.startsWith('oc_')).map((line) => line.split(' ')[0])
  t.same(listed.slice(0, 2), [acme.instanceId, globex.instanceId], 'the most bytes first')
  t.notMatch(out, /x{20}/, 'no message content is shown')

  t.equal(await statsCommand(['--instances', '--top', '1'], cli.io()), 0)
  t.same(
    cli
      .take()
      .out.split('\n')
      .filter((line) => line.startsWith('oc_'))
      .map((line) => line.split(' ')[0]),
    [acme.instanceId],
    '--top 1 lists only the first',
  )
})

eachDriver(t, 'stats refuses options it does not know, with its usage', async (t, driver) => {
  const relay = await buildRelay(t, driver)
  const cli = cliIo(relay)
  for (const args of [['--top', '0', '--instances'], ['--top', '3'], ['--verbose']]) {
    t.equal(await statsCommand(args, cli.io()), 2, args.join(' '))
    const { out, err } = cli.take()
    t.equal(out, '', 'nothing printed')
    t.match(err, /usage: ochat-relay stats \[--instances \[--top N\]\]/)
  }
})
