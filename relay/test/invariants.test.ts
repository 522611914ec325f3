// The relay's security rules, end to end through its logs and answers: it never logs content or keys,
// nothing flows without an accepted connection (PROTOCOL.md §3.1), and what a caller may not see
// answers as if it did not exist (§9).
import t from 'tap'
import { createInvite } from '../src/instances/invites.ts'
import {
  buildNode,
  buildRelay,
  capturedLogs,
  connect,
  eachDriver,
  register,
  sealFor,
  signed,
} from './helpers.ts'
import { openSocket } from './ws-client.ts'

eachDriver(
  t,
  'the logs hold no message content and no key material, even at trace level',
  async (t, driver) => {
    const logs = capturedLogs()
    const relay = await buildRelay(t, driver, {
      listen: true,
      logStream: logs.stream,
      env: { RELAY_LOG_LEVEL: 'trace', RELAY_REGISTRATION: 'invite' },
    })
    const acme = buildNode('Acme')
    const globex = buildNode('Globex')
    const secret = 'Quarterly price list: 4,200 EUR per unit'
    const invites = await Promise.all(
      [1, 2].map(() => createInvite(relay.database.db, { nowMs: relay.clock.now() })),
    )
    await register(relay, acme, { inviteToken: invites[0]?.token ?? '' })
    await register(relay, globex, { inviteToken: invites[1]?.token ?? '' })
    const requested = await signed(relay, acme, 'POST', '/v1/connections', { to: globex.instanceId })
    await signed(relay, globex, 'POST', `/v1/connections/${requested.json().connection.id}/decision`, {
      action: 'accept',
    })
    const envelope = sealFor(acme, globex, { html: `<p>${secret}</p>` })
    await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes: [envelope] })
    const socket = await openSocket(relay, globex)
    socket.ackWithReceipts((await socket.next('deliver')).items)
    await socket.close()
    // A failure path too: an id owned by another sender, and a malformed body.
    await signed(relay, globex, 'POST', '/v1/envelopes', {
      envelopes: [
        { ...sealFor(globex, acme), header: { ...sealFor(globex, acme).header, id: envelope.header.id } },
      ],
    })
    await signed(relay, acme, 'POST', '/v1/envelopes', {
      envelopes: [{ ...envelope, ciphertext: `${envelope.ciphertext}!` }],
    })

    const text = logs.text()
    t.ok(text.length > 1000, 'the relay did log')
    const forbidden = {
      plaintext: secret,
      ciphertext: envelope.ciphertext.slice(0, 40),
      'envelope signature': envelope.signature,
      'identity key': acme.keys.identityKey,
      'encryption key': globex.keys.encryptionKey,
      'invite token': invites[0]?.token ?? '',
      'relay secret key': relay.relayKeys.signingKeys[0]?.slice(5, 45) ?? '',
    }
    for (const [what, value] of Object.entries(forbidden))
      t.notOk(text.includes(value), `no ${what} in the logs`)
  },
)

eachDriver(
  t,
  'things the caller may not see answer exactly like things that do not exist',
  async (t, driver) => {
    const relay = await buildRelay(t, driver)
    const [acme, globex, initech] = [buildNode('Acme'), buildNode('Globex'), buildNode('Initech')]
    await connect(relay, acme, globex)
    await register(relay, initech)
    const envelope = sealFor(acme, globex)
    await signed(relay, acme, 'POST', '/v1/envelopes', { envelopes: [envelope] })
    const connectionId = (await signed(relay, acme, 'GET', '/v1/connections')).json().connections[0].id
    const pairs: [string, string][] = [
      [`/v1/envelopes/${envelope.header.id}`, '/v1/envelopes/019a9a2c-6c00-7000-8000-0000000000ff'],
      [`/v1/connections/${connectionId}`, '/v1/connections/019a9a2c-6c00-7000-8000-0000000000ff'],
      [`/v1/instances/${acme.instanceId}`, '/v1/instances/oc_aaaaaaaaaaaaaaaaaaaaaaaaaa'],
    ]
    for (const [hidden, missing] of pairs) {
      const a = await signed(relay, initech, 'GET', hidden)
      const b = await signed(relay, initech, 'GET', missing)
      t.equal(a.statusCode, 404, hidden)
      t.same(a.json(), b.json(), `${hidden} looks missing to a stranger`)
    }
    t.equal(
      (await signed(relay, globex, 'GET', `/v1/envelopes/${envelope.header.id}`)).statusCode,
      404,
      'even the recipient cannot read the sender’s status',
    )
  },
)
