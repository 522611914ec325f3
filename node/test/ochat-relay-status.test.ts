// The registration status a company's admin reads: a relay that answers 5xx is
// not serving, and shows as unreachable with what it answered; a refusal keeps the status and says why.
import t from 'tap'
import { buildOchatNode, startFakeRelay } from './ochat-helpers.ts'

t.test(
  'a relay answering 503 is unreachable, with what it answered; valid again once it serves',
  async (t) => {
    const relay = await startFakeRelay(t)
    const { admin } = await buildOchatNode(t, relay)
    relay.handlers.set('GET /v1/instances/me', () => ({
      status: 503,
      body: {
        error: { code: 'E_UNAVAILABLE', message: 'Restarting.', reason: 'error: the relay is restarting' },
      },
    }))
    const down = await admin.call('POST', '/api/v1/ochat/registration/check')
    t.equal(down.status, 200)
    t.equal(down.body.status, 'unreachable')
    t.equal(down.body.lastError, 'the relay is unavailable (error: the relay is restarting)')

    relay.handlers.set('GET /v1/instances/me', () => ({
      status: 403,
      body: { error: { code: 'E_FORBIDDEN', message: 'No.', reason: 'blocked: not allowed' } },
    }))
    const refused = await admin.call('POST', '/api/v1/ochat/registration/check')
    t.equal(refused.body.status, 'unreachable', 'a refusal does not claim the relay is back')
    t.equal(refused.body.lastError, 'E_FORBIDDEN: blocked: not allowed', 'but says why it refused')

    relay.handlers.delete('GET /v1/instances/me')
    const back = await admin.call('POST', '/api/v1/ochat/registration/check')
    t.equal(back.body.status, 'valid')
    t.equal(back.body.lastError, null)
  },
)
