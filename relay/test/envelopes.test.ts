// PROTOCOL.md §4.4: submitting envelopes, one or in bulk; idempotency, sequence numbers, limits.
import { newId, RelayRatesSchema } from '@ochat/shared-protocol'
import t from 'tap'
import { buildNode, buildRelay, connect, eachDriver, register, sealFor, signed } from './helpers.ts'

eachDriver(
  t,
  'a repeated submit returns the first result; another sender cannot take the id',
  async (t, driver) => {
    const relay = await buildRelay(t, driver)
    const acme = buildNode('Acme')
    const globex = buildNode('Globex')
    await connect(relay, acme, globex)
    const envelope = sealFor(acme, globex)
    const first = (await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes: [envelope] })).json()
      .results[0]
    t.match(first, { ok: true, seq: 1 })
    const again = (await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes: [envelope] })).json()
      .results[0]
    t.same(again, { ...first, duplicate: true }, 'same seq, same time, marked duplicate')
    const queued = await relay.database.db.query.queue.findMany()
    t.equal(queued.length, 1, 'stored once')

    const copycat = {
      ...sealFor(globex, acme),
      header: { ...sealFor(globex, acme).header, id: envelope.header.id },
    }
    const taken = (await signed(relay, globex, 'POST', '/v1/envelopes', { envelopes: [copycat] })).json()
      .results[0]
    t.match(taken, { ok: false, code: 'E_ENVELOPE_ID_TAKEN', reason: /^invalid: / })
  },
)

eachDriver(
  t,
  'per-envelope results: from must be the caller, a connection must be accepted',
  async (t, driver) => {
    const relay = await buildRelay(t, driver)
    const [acme, globex, initech] = [buildNode('Acme'), buildNode('Globex'), buildNode('Initech')]
    await connect(relay, acme, globex)
    await register(relay, initech)
    await signed(relay, acme, 'POST', '/v1/connections', { to: initech.instanceId })
    const response = await signed(relay, acme, 'POST', '/v1/envelopes', {
      envelopes: [
        sealFor(acme, globex),
        sealFor(globex, acme),
        sealFor(acme, initech),
        sealFor(acme, buildNode()),
      ],
    })
    t.equal(response.statusCode, 200)
    t.match(response.json().results, [
      { ok: true },
      { ok: false, code: 'E_ENVELOPE_FROM_MISMATCH' },
      { ok: false, code: 'E_CONNECTION_NOT_ACCEPTED', reason: /^blocked: no accepted connection/ },
      { ok: false, code: 'E_CONNECTION_NOT_ACCEPTED' },
    ])
  },
)

eachDriver(t, 'bad bodies get a 400 listing the problem, and nothing is stored', async (t, driver) => {
  const relay = await buildRelay(t, driver)
  const acme = buildNode('Acme')
  const globex = buildNode('Globex')
  await connect(relay, acme, globex)
  const envelope = sealFor(acme, globex)
  const cases: [string, unknown, RegExp][] = [
    ['no envelopes', { envelopes: [] }, /envelopes/],
    ['unknown field', { envelopes: [envelope], urgent: true }, /urgent/],
    [
      'oversize ciphertext',
      { envelopes: [{ ...envelope, ciphertext: 'A'.repeat(350_000) }] },
      /larger than 262144/,
    ],
    [
      'future version',
      { envelopes: [{ ...envelope, header: { ...envelope.header, v: 2 } }] },
      /unsupported protocol version 2/,
    ],
    ['repeated ids', { envelopes: [envelope, envelope] }, /unique/],
    ['1,001 recipients', { envelopes: Array.from({ length: 1001 }, () => envelope) }, /envelopes/],
  ]
  for (const [what, body, message] of cases) {
    const response = await signed(relay, acme, 'POST', '/v1/envelopes', body)
    t.equal(response.statusCode, 400, what)
    t.match(response.json(), { error: { code: 'E_INVALID_BODY', reason: message } }, what)
  }
  const blobbed = sealFor(acme, globex, {
    attachments: [
      {
        blobId: newId(),
        name: 'a.pdf',
        type: 'application/pdf',
        size: 1,
        key: 'A'.repeat(43),
        sha256: 'A'.repeat(43),
      },
    ],
  })
  t.match((await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes: [blobbed] })).json().results[0], {
    ok: false,
    code: 'E_BLOB_UNKNOWN',
  })
  t.same(await relay.database.db.query.envelopes.findMany(), [], 'no row was written')
})

eachDriver(t, 'the relay publishes its rates at /v1/rates, within what nodes accept', async (t, driver) => {
  const relay = await buildRelay(t, driver, {
    env: { RELAY_RATE_CONNECTION_BURST: '1000000', RELAY_RATE_CONNECTION_PER_S: '0.001' },
  })
  const rates = await relay.app.inject({ method: 'GET', url: '/v1/rates' })
  t.equal(rates.statusCode, 200)
  t.ok(RelayRatesSchema.safeParse(rates.json()).success, 'a node parses it')
  t.same(rates.json().submit, {
    connection: { burst: 100_000, perSecond: 0.01 },
    instance: { burst: 2000, perSecond: 200 },
  })
  const info = await relay.app.inject({ method: 'GET', url: '/v1/info' })
  t.notOk('submitRates' in info.json().limits, '/v1/info is what older nodes parse strictly: unchanged')
})

eachDriver(
  t,
  'a burst beyond the connection limit is refused with 429 and Retry-After',
  async (t, driver) => {
    const relay = await buildRelay(t, driver, {
      env: { RELAY_RATE_CONNECTION_BURST: '5', RELAY_RATE_CONNECTION_PER_S: '1' },
    })
    const acme = buildNode('Acme')
    const globex = buildNode('Globex')
    await connect(relay, acme, globex)
    const burst = await signed(relay, acme, 'POST', '/v1/envelopes', {
      envelopes: Array.from({ length: 7 }, () => sealFor(acme, globex)),
    })
    t.equal(burst.statusCode, 200)
    t.same(
      burst.json().results.map((result: { ok: boolean }) => result.ok),
      [true, true, true, true, true, false, false],
    )
    t.ok(burst.headers['retry-after'])
    const more = await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes: [sealFor(acme, globex)] })
    t.equal(more.statusCode, 429)
    t.match(more.json(), { error: { code: 'E_RATE_LIMITED', reason: /^rate-limited: retry in 1 s/ } })
    t.equal(more.headers['retry-after'], '1')
  },
)

eachDriver(
  t,
  'a bulk send to 1,000 recipients gets one result each, with its own sequence',
  async (t, driver) => {
    const relay = await buildRelay(t, driver)
    const acme = buildNode('Acme')
    const peers = Array.from({ length: 1000 }, (_, index) => buildNode(`Peer ${index}`))
    await register(relay, acme)
    // The peers and their connections are set up directly in the database to keep the test short;
    // registration and the connection lifecycle are tested elsewhere.
    const { connections, instances } = await import('../src/db/schema.ts')
    const now = relay.clock.now()
    await relay.database.db
      .insert(instances)
      .values(
        peers.map((peer) => ({ id: peer.instanceId, name: peer.name, ...peer.keys, registeredAt: now })),
      )
    await relay.database.db.insert(connections).values(
      peers.map((peer) => ({
        id: newId(),
        requester: acme.instanceId,
        addressee: peer.instanceId,
        state: 'accepted',
        createdAt: now,
        updatedAt: now,
      })),
    )
    const envelopes = peers.map((peer) => sealFor(acme, peer))
    const response = await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes })
    t.equal(response.statusCode, 200)
    const results = response.json().results as { ok: boolean; id: string; seq: number }[]
    t.equal(results.length, 1000)
    t.ok(
      results.every(
        (result, index) => result.ok && result.id === envelopes[index]?.header.id && result.seq === 1,
      ),
    )
    t.equal((await relay.database.db.query.queue.findMany()).length, 1000)
  },
)

eachDriver(t, 'concurrent submits share commits and get gapless sequence numbers', async (t, driver) => {
  const relay = await buildRelay(t, driver, {
    env: { RELAY_RATE_CONNECTION_BURST: '1000', RELAY_RATE_INSTANCE_BURST: '1000' },
  })
  const acme = buildNode('Acme')
  const globex = buildNode('Globex')
  await connect(relay, acme, globex)
  const responses = await Promise.all(
    Array.from({ length: 40 }, (_, index) =>
      signed(relay, index % 2 ? acme : globex, 'POST', '/v1/envelopes', {
        envelopes: [index % 2 ? sealFor(acme, globex) : sealFor(globex, acme)],
      }),
    ),
  )
  const seqs = (from: number) =>
    responses
      .filter((_, index) => index % 2 === from)
      .map((response) => response.json().results[0].seq as number)
      .sort((a, b) => a - b)
  t.same(
    seqs(1),
    Array.from({ length: 20 }, (_, index) => index + 1),
    'acme → globex: 1..20',
  )
  t.same(
    seqs(0),
    Array.from({ length: 20 }, (_, index) => index + 1),
    'globex → acme: 1..20',
  )
})
