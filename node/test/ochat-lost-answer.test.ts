// A submit whose answer was lost while the recipient already got the message: the sender sees it
// Delivered, and learns its sequence number (PROTOCOL.md §4.4) as soon as the relay is reachable again,
// not at the next retry time of the failed resubmit.
import t, { type Test } from 'tap'
import { until } from './helpers.ts'
import {
  acceptedChannel,
  buildOchatNode,
  buildPeer,
  deliver,
  receiptFrom,
  startFakeRelay,
} from './ochat-helpers.ts'
import { outboxRow } from './ochat-pacing-helpers.ts'

type Row = { id: number; envelopeId: string; status: string; seq: number | null }

type Scene = {
  node: Awaited<ReturnType<typeof buildOchatNode>>['node']
  relay: Awaited<ReturnType<typeof startFakeRelay>>
  message: () => Promise<Row | undefined>
}

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

/** A message Delivered to the peer while the relay answered its submit 503, and its resubmit too. */
async function deliveredWithoutSeq(
  t: Test,
  resubmit: (scene: Scene) => ReturnType<typeof unavailable>,
): Promise<Scene> {
  const relay = await startFakeRelay(t)
  const { node, admin } = await buildOchatNode(t, relay)
  const peer = buildPeer('Globex')
  const { channelId } = await acceptedChannel(node, admin, relay, peer)
  const message = async (): Promise<Row | undefined> =>
    (await admin.call('GET', `/api/v1/ochat/channels/${channelId}/messages`)).body.items[0]
  const scene = { node, relay, message }
  relay.handlers.set('POST /v1/envelopes', () =>
    (relay.hits.get('POST /v1/envelopes') ?? 0) >= 2 ? resubmit(scene) : unavailable(),
  )

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
  // at once to learn the sequence number.
  const received = await deliver(node, relay, [
    receiptFrom(peer, node, { kind: 'delivered', envelopeIds: [retrying.envelopeId] }),
  ])
  t.equal(received.status, 200)
  return scene
}

async function numbered(t: Test, message: Scene['message']): Promise<void> {
  const row = await until(
    'the sequence number',
    async () => {
      const row = await message()
      return row?.seq !== null && row
    },
    5_000,
  )
  t.equal(row?.seq, 1, 'the relay’s answer to the resubmit gives it')
  t.equal(row?.status, 'delivered', 'and it stays Delivered')
}

t.test(
  'a Delivered message whose submit answer was lost gets its sequence number once the relay is back',
  async (t) => {
    // The relay is still unavailable to the resubmit.
    const { node, relay, message } = await deliveredWithoutSeq(t, unavailable)
    // Its failure written: the second attempt counted, with a retry time ahead of the frozen clock.
    await until(
      'the failed resubmit',
      async () => {
        const row = await message()
        return row !== undefined && outboxRow(node, row.id).outboxAttempts === 2
      },
      5_000,
    )
    const delivered = await message()
    t.equal(delivered?.status, 'delivered', 'the user sees it Delivered')
    t.equal(delivered?.seq, null, 'without a sequence number yet')

    // The clock is frozen: only the relay being back can make it due again.
    relay.handlers.delete('POST /v1/envelopes')
    node.ochat.relayIsBack()
    await numbered(t, message)
  },
)

t.test(
  'the relay coming back while the resubmit is on its way does not leave it to its retry time',
  async (t) => {
    // The relay's socket authenticates between the resubmit going out and its 503 coming back: the
    // message was in a submit, so being back could not make it due, and the clock is frozen.
    const { message } = await deliveredWithoutSeq(t, ({ node, relay }) => {
      relay.handlers.delete('POST /v1/envelopes')
      node.ochat.relayIsBack()
      return unavailable()
    })
    await numbered(t, message)
  },
)
