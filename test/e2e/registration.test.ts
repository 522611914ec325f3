import t from 'tap'
import { announceInstanceChange } from '../../relay/src/delivery/lease-repository.ts'
import { createInvite } from '../../relay/src/instances/invites.ts'
import { updateInstance } from '../../relay/src/instances/repository.ts'
import { OCHAT_SECRET, register, startTestNode, startTestRelay, until } from './harness.ts'

t.test('registration on an invite-only relay: refused without a token, done with one', async (t) => {
  const relay = await startTestRelay(t, { env: { RELAY_REGISTRATION: 'invite' } })
  const acme = await startTestNode(t, { company: 'Acme' })
  const before = await acme.admin.call('GET', '/api/v1/ochat/registration')
  t.equal(before.body.state, 'unregistered', 'a new node says it is not registered')

  const refused = await acme.admin.call('POST', '/api/v1/ochat/registration', { relayUrl: relay.baseUrl })
  t.equal(refused.status, 422)
  t.equal(refused.body.error.code, 'E_OCHAT_INVITE_REQUIRED', 'the admin is told an invitation is needed')

  const wrong = await acme.admin.call('POST', '/api/v1/ochat/registration', {
    relayUrl: relay.baseUrl,
    inviteToken: 'inv_not-a-token-the-relay-made',
  })
  t.equal(wrong.body.error.code, 'E_OCHAT_RELAY_REFUSED')
  t.match(wrong.body.error.reason, /E_REGISTRATION_INVITE_INVALID/, "the relay's own reason is passed on")

  const { token } = await createInvite(relay.database.db, { nowMs: Date.now() })
  const done = await acme.admin.call('POST', '/api/v1/ochat/registration', {
    relayUrl: relay.baseUrl,
    inviteToken: token,
  })
  t.equal(done.status, 201)
  t.match(done.body, { state: 'registered', status: 'valid', relayId: relay.relayKeys.relayId, name: 'Acme' })
  t.match(done.body.instanceId, /^oc_[a-z2-7]{26}$/)
  const again = await acme.admin.call('POST', '/api/v1/ochat/registration', {
    relayUrl: relay.baseUrl,
    inviteToken: token,
  })
  t.equal(again.body.error.code, 'E_OCHAT_ALREADY_REGISTERED', 'a node registers once')
  await until(
    'the socket to the relay',
    async () => (await acme.admin.call('GET', '/api/v1/ochat/registration')).body.socket === 'ready',
  )
})

t.test('secret keys are sealed at rest; another secret cannot open them and says so', async (t) => {
  const relay = await startTestRelay(t)
  let acme = await startTestNode(t, { company: 'Acme' })
  await register(acme, relay)
  const row = acme.node.database.sqlite.prepare('select * from ochat_identity').get() as Record<
    string,
    string
  >
  t.match(row.sealed_secret_keys, /^v1\.[\w-]+\.[\w-]+\.[\w-]+$/, 'the secret keys are stored sealed')
  t.notMatch(JSON.stringify(row), new RegExp(OCHAT_SECRET), 'the operator secret is not stored')

  await acme.stop()
  const locked = await startTestNode(t, {
    company: 'Acme',
    dataDir: acme.dataDir,
    port: acme.port,
    admin: acme.admin,
    env: { NODE_OCHAT_SECRET: 'another secret, not the one used' },
  })
  const status = await locked.admin.call('GET', '/api/v1/ochat/registration')
  t.equal(status.body.state, 'locked')
  t.match(status.body.reason, /NODE_OCHAT_SECRET is not the one/, 'the reason names the setting to fix')
  const channels = await locked.admin.call('GET', '/api/v1/ochat/channels')
  t.equal(channels.status, 409)
  t.equal(channels.body.error.code, 'E_OCHAT_OFF')
  await locked.stop()

  const off = await startTestNode(t, {
    company: 'Acme',
    dataDir: acme.dataDir,
    port: acme.port,
    admin: acme.admin,
    env: { NODE_OCHAT_SECRET: '' },
  })
  const offStatus = await off.admin.call('GET', '/api/v1/ochat/registration')
  t.equal(offStatus.body.state, 'off')
  t.match(offStatus.body.reason, /NODE_OCHAT_SECRET is not set/)
  await off.stop()

  acme = await startTestNode(t, {
    company: 'Acme',
    dataDir: acme.dataDir,
    port: acme.port,
    admin: acme.admin,
  })
  const back = await acme.admin.call('GET', '/api/v1/ochat/registration')
  t.equal(back.body.state, 'registered', 'the right secret opens the keys again')
})

t.test(
  'the registration status follows the relay: suspended, unreachable with the last error, valid again',
  async (t) => {
    const relay = await startTestRelay(t)
    const acme = await startTestNode(t, { company: 'Acme' })
    const { instanceId } = await register(acme, relay)
    await until(
      'ready',
      async () => (await acme.admin.call('GET', '/api/v1/ochat/registration')).body.socket === 'ready',
    )

    await updateInstance(relay.database.db, instanceId, { status: 'suspended' })
    await announceInstanceChange(relay.database.db, instanceId)
    // The relay closes the socket (4401); the node reconnects and is refused as suspended (4403).
    const suspended = await until('suspended', async () => {
      const status = await acme.admin.call('GET', '/api/v1/ochat/registration')
      return status.body.socket === 'suspended' && status.body
    })
    t.equal(suspended.status, 'suspended', 'the admin sees the registration is suspended')
    t.match(suspended.lastError, /suspend/)
    const checked = await acme.admin.call('POST', '/api/v1/ochat/registration/check')
    t.equal(checked.body.status, 'suspended', 'asking the relay again says the same')

    await updateInstance(relay.database.db, instanceId, { status: 'active' })
    const valid = await acme.admin.call('POST', '/api/v1/ochat/registration/check')
    t.equal(valid.body.status, 'valid')
    t.equal(valid.body.lastError, null)

    await relay.app.close()
    const unreachable = await acme.admin.call('POST', '/api/v1/ochat/registration/check')
    t.equal(unreachable.body.status, 'unreachable')
    t.match(
      unreachable.body.lastError,
      /cannot reach the relay at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/,
      'the last error says what failed',
    )
  },
)
