// A submit whose answer was lost while the recipient already got the message: the sender sees it
// Delivered, and learns its sequence number (PROTOCOL.md §4.4) as soon as the relay is reachable again,
// not at the next retry time of the failed resubmit.
import t from 'tap'
import { until } from './helpers.ts'
import {
  acceptedChannel,
  buildOchatNode,
  buildPeer,
  deliver,
  receiptFrom,
  startFakeRelay,
} from './ochat-helpers.ts'

type Row = { id: number; envelopeId: string; status: string; seq: number | null }

t.test(
  'a Delivered message whose submit answer was lost gets its sequence number once the relay is back',
  async (t) => {
    const relay = await startFakeRelay(t)
    const { node, admin } = await buildOchatNode(t, relay)
    const peer = buildPeer('Globex')
    const { channelId } = await acceptedChannel(node, admin, relay, peer)
    const unavailable = () => ({
      status: 503,
      body: {
        error: {
          code: 'E_UNAVAILABLE',
          message: 'Down for maintenance.',
          reason: 'unavailable: maintenance',
        },
      },
    })
    relay.handlers.set('POST /v1/envelopes', unavailable)
    const message = async (): Promise<Row | undefined> =>
      (await admin.call('GET', `/api/v1/ochat/channels/${channelId}/messages`)).body.items[0]

    const sent = await admin.call('POST', `/api/v1/ochat/channels/${channelId}/messages`, { body: 'Hi' })
    t.equal(sent.status, 201)
    const retrying = await until(
      'Retrying',
      async () => {
        const row = await message()
        return row?.status === 'retrying' && row
      },
      5_000,
    )
    // The relay had stored it after all: the recipient's Delivered receipt comes back. The node resubmits
    // at once to learn the sequence number, and the relay is still unavailable to that resubmit.
    const received = await deliver(node, relay, [
      receiptFrom(peer, node, { kind: 'delivered', envelopeIds: [retrying.envelopeId] }),
    ])
    t.equal(received.status, 200)
    await until('the resubmit', () => (relay.hits.get('POST /v1/envelopes') ?? 0) >= 2, 5_000)
    const delivered = await message()
    t.equal(delivered?.status, 'delivered', 'the user sees it Delivered')
    t.equal(delivered?.seq, null, 'without a sequence number yet')

    // The clock is frozen: only the relay being back can make it due again.
    relay.handlers.delete('POST /v1/envelopes')
    node.ochat.relayIsBack()
    const numbered = await until(
      'the sequence number',
      async () => {
        const row = await message()
        return row?.seq !== null && row
      },
      5_000,
    )
    t.equal(numbered?.seq, 1, 'the relay’s answer to the resubmit gives it')
    t.equal(numbered?.status, 'delivered', 'and it stays Delivered')
  },
)
