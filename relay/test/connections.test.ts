// PROTOCOL.md §3: the connection lifecycle, as both sides see it.
import { newId, signReceipt } from '@ochat/shared-protocol'
import type { ManualClock } from '@ochat/shared-protocol/server'
import t from 'tap'
import { buildNode, buildRelay, connect, eachDriver, register, sealFor, signed } from './helpers.ts'

eachDriver(
  t,
  'request with a message, then accept: both sides see the state and the history',
  async (t, driver) => {
    const relay = await buildRelay(t, driver)
    const acme = buildNode('Acme')
    const globex = buildNode('Globex')
    await register(relay, acme)
    await register(relay, globex)
    const requested = await signed(relay, acme, 'POST', '/v1/connections', {
      to: globex.instanceId,
      message: 'Acme purchasing here',
    })
    t.equal(requested.statusCode, 201)
    const { connection } = requested.json()
    t.match(connection, {
      state: 'pending',
      direction: 'outgoing',
      peer: { instanceId: globex.instanceId, name: 'Globex' },
    })

    const incoming = (await signed(relay, globex, 'GET', '/v1/connections')).json().connections
    t.equal(incoming.length, 1)
    t.match(incoming[0], {
      id: connection.id,
      state: 'pending',
      direction: 'incoming',
      message: 'Acme purchasing here',
      peer: { name: 'Acme' },
    })

    t.equal(
      (await signed(relay, acme, 'POST', `/v1/connections/${connection.id}/decision`, { action: 'accept' }))
        .statusCode,
      409,
      'the requester cannot accept',
    )
    const accepted = await signed(relay, globex, 'POST', `/v1/connections/${connection.id}/decision`, {
      action: 'accept',
    })
    t.equal(accepted.statusCode, 200)
    const seen = (await signed(relay, acme, 'GET', `/v1/connections/${connection.id}`)).json().connection
    t.equal(seen.state, 'accepted')
    t.same(
      seen.history.map((entry: { action: string; by: string }) => [entry.action, entry.by]),
      [
        ['request', acme.instanceId],
        ['accept', globex.instanceId],
      ],
    )
  },
)

eachDriver(
  t,
  'reject is final; a pair has one live connection; nobody else can see it',
  async (t, driver) => {
    const relay = await buildRelay(t, driver)
    const [acme, globex, initech] = [buildNode('Acme'), buildNode('Globex'), buildNode('Initech')]
    for (const node of [acme, globex, initech]) await register(relay, node)
    const { connection } = (
      await signed(relay, acme, 'POST', '/v1/connections', { to: globex.instanceId })
    ).json()
    t.match((await signed(relay, globex, 'POST', '/v1/connections', { to: acme.instanceId })).json(), {
      error: { code: 'E_CONNECTION_EXISTS' },
    })
    t.equal(
      (await signed(relay, initech, 'GET', `/v1/connections/${connection.id}`)).statusCode,
      404,
      'a third party sees nothing',
    )
    t.equal(
      (
        await signed(relay, initech, 'POST', `/v1/connections/${connection.id}/decision`, {
          action: 'revoke',
        })
      ).statusCode,
      404,
    )
    t.equal((await signed(relay, initech, 'GET', '/v1/connections/not-a-uuid')).statusCode, 404)
    // A malformed id is checked before the body: a bad body tells a caller nothing more than a bad id.
    for (const body of [{ action: 'revoke' }, { action: 'explode', extra: 1 }]) {
      t.match(
        (await signed(relay, initech, 'POST', '/v1/connections/not-a-uuid/decision', body)).json(),
        { error: { code: 'E_NOT_FOUND' } },
        `a malformed id with ${JSON.stringify(body)} is not found`,
      )
    }
    t.match(
      (
        await signed(relay, acme, 'POST', `/v1/connections/${connection.id}/decision`, { action: 'explode' })
      ).json(),
      { error: { code: 'E_INVALID_BODY' } },
      'a well-formed id with a bad body is a bad body',
    )
    const rejected = await signed(relay, globex, 'POST', `/v1/connections/${connection.id}/decision`, {
      action: 'reject',
      note: 'not a customer',
    })
    t.equal(rejected.json().connection.state, 'rejected')
    t.match(
      (
        await signed(relay, globex, 'POST', `/v1/connections/${connection.id}/decision`, { action: 'accept' })
      ).json(),
      {
        error: { code: 'E_CONNECTION_TRANSITION', reason: /cannot accept a rejected connection/ },
      },
    )
    t.match((await signed(relay, acme, 'POST', '/v1/connections', { to: globex.instanceId })).json(), {
      error: { code: 'E_CONNECTION_RECENTLY_REJECTED' },
    })
    ;(relay.clock as ManualClock).advance(86_400_000)
    t.equal(
      (await signed(relay, acme, 'POST', '/v1/connections', { to: globex.instanceId })).statusCode,
      201,
      'a day after the rejection, a new request is a new connection',
    )
    t.match((await signed(relay, acme, 'POST', '/v1/connections', { to: acme.instanceId })).json(), {
      error: { code: 'E_CONNECTION_SELF' },
    })
    t.match(
      (await signed(relay, acme, 'POST', '/v1/connections', { to: 'oc_aaaaaaaaaaaaaaaaaaaaaaaaaa' })).json(),
      { error: { code: 'E_NOT_FOUND' } },
    )
    t.match((await signed(relay, acme, 'POST', '/v1/connections', { to: 'nope', extra: 1 })).json(), {
      error: { code: 'E_INVALID_BODY' },
    })
  },
)

eachDriver(t, 'revoking refuses new envelopes at once and purges the queued ones', async (t, driver) => {
  const relay = await buildRelay(t, driver)
  const acme = buildNode('Acme')
  const globex = buildNode('Globex')
  const id = await connect(relay, acme, globex)
  const queued = await signed(relay, acme, 'POST', '/v1/envelopes', {
    envelopes: [sealFor(acme, globex), sealFor(acme, globex)],
  })
  t.same(
    queued.json().results.map((result: { ok: boolean }) => result.ok),
    [true, true],
  )
  const revoked = await signed(relay, globex, 'POST', `/v1/connections/${id}/decision`, { action: 'revoke' })
  t.equal(revoked.json().purged, 2, 'both queued envelopes purged')
  const after = await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes: [sealFor(acme, globex)] })
  t.match(after.json().results[0], { ok: false, code: 'E_CONNECTION_NOT_ACCEPTED', reason: /^blocked: / })
  const status = await signed(relay, acme, 'GET', `/v1/envelopes/${queued.json().results[0].id}`)
  t.match(status.json().envelope, { status: 'purged', reason: /revoked/ })
  const read = signReceipt(
    {
      v: 1,
      id: newId(),
      kind: 'read',
      from: globex.instanceId,
      to: acme.instanceId,
      envelopeIds: [queued.json().results[0].id],
      at: relay.clock.now(),
    },
    globex.identity.secretKey,
  )
  const refused = await signed(relay, globex, 'POST', '/v1/receipts', { receipts: [read] })
  t.match(
    refused.json().results[0],
    { ok: false, code: 'E_CONNECTION_NOT_ACCEPTED', reason: /^blocked: no accepted connection/ },
    'receipts stop too',
  )
})
