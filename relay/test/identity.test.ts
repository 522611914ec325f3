// PROTOCOL.md §1: relay info, registration, invites, suspension, key rotation.
import {
  generateIdentityKeyPair,
  signKeyRotation,
  toBase64Url,
  verifyKeySetUpdate,
} from '@ochat/shared-protocol'
import t from 'tap'
import { loadConfig } from '../src/config.ts'
import { createInvite } from '../src/instances/invites.ts'
import { updateInstance } from '../src/instances/repository.ts'
import { buildNode, buildRelay, eachDriver, register, signed } from './helpers.ts'

eachDriver(t, 'info is public and its key set verifies on first use', async (t, driver) => {
  const relay = await buildRelay(t, driver)
  const response = await relay.app.inject({ method: 'GET', url: '/v1/info' })
  t.equal(response.statusCode, 200)
  const info = response.json()
  t.equal(info.relayId, relay.relayKeys.relayId)
  t.equal(info.registration, 'open')
  t.match(verifyKeySetUpdate(info.keySet, { relayId: info.relayId, pinned: undefined }), { ok: true })
  t.equal((await relay.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
  t.equal((await relay.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)
})

eachDriver(t, 'registration is by public key, idempotent, and proves the key', async (t, driver) => {
  const relay = await buildRelay(t, driver)
  const acme = buildNode('Acme')
  const first = await register(relay, acme)
  t.equal(first.statusCode, 201)
  t.equal(first.json().instance.instanceId, acme.instanceId)
  t.equal((await register(relay, acme)).statusCode, 200, 'registering again is idempotent')
  const renamed = await register(relay, { ...acme, name: 'Acme Corp' })
  t.equal(renamed.json().instance.name, 'Acme Corp', 'and may change the name')
  const otherEncryption = { ...acme, keys: { ...acme.keys, encryptionKey: buildNode().keys.encryptionKey } }
  t.match((await register(relay, otherEncryption)).json(), { error: { code: 'E_REGISTRATION_CONFLICT' } })

  const forged = await relay.app.inject({
    method: 'POST',
    url: '/v1/instances',
    payload: {
      registration: {
        v: 1,
        relayId: relay.relayKeys.relayId,
        name: 'X',
        keys: buildNode().keys,
        at: relay.clock.now(),
      },
      signature: 'A'.repeat(86),
    },
  })
  t.equal(forged.statusCode, 400)
  t.match(forged.json(), { error: { code: 'E_REGISTRATION_BAD_SIGNATURE', reason: /^invalid: / } })
  const garbage = await relay.app.inject({
    method: 'POST',
    url: '/v1/instances',
    headers: { 'content-type': 'application/json' },
    payload: '{"nope',
  })
  t.match(garbage, { statusCode: 400 })
  t.match(garbage.json(), { error: { code: 'E_INVALID_BODY' } })
  const malformed = await relay.app.inject({
    method: 'POST',
    url: '/v1/instances',
    payload: { registration: { v: 1 }, signature: 'A'.repeat(86) },
  })
  t.equal(malformed.statusCode, 400)
  t.match(
    malformed.json(),
    { error: { code: 'E_REGISTRATION_MALFORMED', reason: /^invalid: registration registration\.relayId: / } },
    'JSON that is not a registration says so with its own code',
  )
})

eachDriver(t, 'invite-only registration takes each token once', async (t, driver) => {
  const relay = await buildRelay(t, driver, { env: { RELAY_REGISTRATION: 'invite' } })
  t.match((await register(relay, buildNode())).json(), {
    error: { code: 'E_REGISTRATION_INVITE_REQUIRED', reason: /^blocked: / },
  })
  const { token } = await createInvite(relay.database.db, { nowMs: relay.clock.now() })
  t.equal((await register(relay, buildNode(), { inviteToken: token })).statusCode, 201)
  t.match(
    (await register(relay, buildNode(), { inviteToken: token })).json(),
    { error: { code: 'E_REGISTRATION_INVITE_INVALID' } },
    'used',
  )
  const expired = await createInvite(relay.database.db, { nowMs: relay.clock.now() - 8 * 24 * 3600 * 1000 })
  t.match(
    (await register(relay, buildNode(), { inviteToken: expired.token })).json(),
    { error: { code: 'E_REGISTRATION_INVITE_INVALID' } },
    'expired',
  )
})

eachDriver(t, 'a suspended instance gets a clear 403, only after proving who it is', async (t, driver) => {
  const relay = await buildRelay(t, driver)
  const acme = buildNode()
  await register(relay, acme)
  t.equal((await signed(relay, acme, 'GET', '/v1/instances/me')).statusCode, 200)
  await updateInstance(relay.database.db, acme.instanceId, { status: 'suspended' })
  const refused = await signed(relay, acme, 'GET', '/v1/instances/me')
  t.equal(refused.statusCode, 403)
  t.match(refused.json(), { error: { code: 'E_SUSPENDED', message: /Contact the operator/ } })
  const impostor = { ...buildNode(), instanceId: acme.instanceId }
  t.equal(
    (await signed(relay, impostor, 'GET', '/v1/instances/me')).statusCode,
    401,
    'unsigned callers learn nothing',
  )
})

eachDriver(t, 'key rotation is signed by the old key and the new one; the id stays', async (t, driver) => {
  const relay = await buildRelay(t, driver)
  const acme = buildNode()
  await register(relay, acme)
  const next = generateIdentityKeyPair()
  const rotation = {
    v: 1 as const,
    relayId: relay.relayKeys.relayId,
    instanceId: acme.instanceId,
    previousIdentityKey: acme.keys.identityKey,
    keys: { identityKey: toBase64Url(next.publicKey), encryptionKey: buildNode().keys.encryptionKey },
    at: relay.clock.now(),
  }
  const onlyNew = signKeyRotation(rotation, {
    previousSecretKey: next.secretKey,
    newSecretKey: next.secretKey,
  })
  t.equal((await signed(relay, acme, 'POST', '/v1/instances/me/keys', onlyNew)).statusCode, 400)
  t.match(
    (await signed(relay, acme, 'POST', '/v1/instances/me/keys', { rotation: rotation })).json(),
    { error: { code: 'E_ROTATION_MALFORMED', reason: /^invalid: key rotation signature: / } },
    'a rotation without its signatures is malformed',
  )
  const body = signKeyRotation(rotation, {
    previousSecretKey: acme.identity.secretKey,
    newSecretKey: next.secretKey,
  })
  const rotated = await signed(relay, acme, 'POST', '/v1/instances/me/keys', body)
  t.equal(rotated.statusCode, 200)
  t.equal(rotated.json().instance.instanceId, acme.instanceId)
  t.equal(
    (await signed(relay, acme, 'GET', '/v1/instances/me')).statusCode,
    401,
    'the old key no longer signs',
  )
  const renewed = { ...acme, identity: next }
  t.equal((await signed(relay, renewed, 'GET', '/v1/instances/me')).statusCode, 200, 'the new key does')
})

eachDriver(
  t,
  "a peer's details: to either side of a connection in any state, 404 for any other id",
  async (t, driver) => {
    const relay = await buildRelay(t, driver)
    const [acme, globex, initech, hooli] = ['Acme', 'Globex', 'Initech', 'Hooli'].map((name) =>
      buildNode(name),
    )
    if (!acme || !globex || !initech || !hooli) throw new Error('four nodes')
    for (const node of [acme, globex, initech, hooli]) await register(relay, node)
    const ask = async (from: typeof acme, to: typeof acme) =>
      (await signed(relay, from, 'POST', '/v1/connections', { to: to.instanceId })).json().connection.id
    const decide = (by: typeof acme, id: string, action: string) =>
      signed(relay, by, 'POST', `/v1/connections/${id}/decision`, { action })
    const peer = async (viewer: typeof acme, id: string) => {
      const response = await signed(relay, viewer, 'GET', `/v1/instances/${id}`)
      return { status: response.statusCode, body: response.json() }
    }

    // Pending: the addressee must see who asks before it decides.
    const pending = await ask(acme, globex)
    t.match(await peer(globex, acme.instanceId), { status: 200, body: { instance: { name: 'Acme' } } })
    t.match(await peer(acme, globex.instanceId), { status: 200, body: { instance: { name: 'Globex' } } })
    // Rejected and revoked: the connection still shows its peer (PROTOCOL.md §3.2), so the details do too.
    await decide(globex, pending, 'reject')
    t.equal((await peer(acme, globex.instanceId)).status, 200, 'after a rejection')
    const withdrawn = await ask(initech, hooli)
    await decide(initech, withdrawn, 'revoke')
    t.equal((await peer(hooli, initech.instanceId)).status, 200, 'after a revocation')

    const stranger = await peer(initech, acme.instanceId)
    t.equal(stranger.status, 404, 'no connection: not found')
    for (const id of ['oc_aaaaaaaaaaaaaaaaaaaaaaaaaa', 'x'.repeat(41), `oc_${'a'.repeat(97)}`, 'not an id']) {
      const other = await peer(initech, encodeURIComponent(id))
      t.same(other, stranger, `${id.length} characters: the same 404 as an instance one may not see`)
    }
  },
)

t.test('a RELAY_NAME that /v1/info could not carry stops the relay at boot, named', async (t) => {
  t.equal(loadConfig({ RELAY_NAME: '  Acme relay ' }).name, 'Acme relay', 'surrounding spaces are trimmed')
  t.throws(() => loadConfig({ RELAY_NAME: 'Acme\u0007relay' }), {
    message: /RELAY_NAME: a name cannot hold control characters/,
  })
  t.throws(() => loadConfig({ RELAY_NAME: 'x'.repeat(201) }), { message: /RELAY_NAME: / })
})
