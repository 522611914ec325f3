import { randomBytes } from 'node:crypto'
import {
  type DeliveryItem,
  generateIdentityKeyPair,
  newId,
  sealEnvelope,
  signWebhook,
  webhookKeyPairFromSeed,
} from '@ochat/shared-protocol'
import t from 'tap'
import { buildUser } from '../../node/test/helpers.ts'
import { envelopes, queue } from '../../relay/src/db/schema.ts'
import type { TestRelay } from '../../relay/test/helpers.ts'
import { connectNodes, type E2eNode, startTestNode, startTestRelay, until } from './harness.ts'

/**
 * Tampering, each refused with nothing stored: what an attacker
 * on the network, a compromised relay or a peer with stolen keys could try. Webhooks are POSTed over
 * real HTTP to the node's public /ochat/webhook; envelopes are built with the sender node's real keys,
 * read from its process, so only the one thing under test is wrong.
 */

// biome-ignore lint/suspicious/noExplicitAny: API bodies are asserted field by field
type Json = any

/** An envelope from `sender` to `recipient` on `connectionId`, sealed and signed as its node would. */
function envelopeItem(
  sender: E2eNode,
  recipient: E2eNode,
  input: { connectionId: string; html: string; seq: number; signWith?: Uint8Array },
): DeliveryItem {
  const from = sender.node.ochat.instance()
  const to = recipient.node.ochat.instance()
  const now = Date.now()
  const id = newId(now)
  const envelope = sealEnvelope({
    header: { id, from: from.instanceId, to: to.instanceId, createdAt: now },
    payload: {
      v: 1,
      type: 'message',
      envelopeId: id,
      sentAt: now,
      sender: { name: 'Mallory', company: from.name },
      html: input.html,
      attachments: [],
    },
    senderIdentitySecretKey: input.signWith ?? from.identity.secretKey,
    boxKeys: from.boxKeys,
    recipientEncryptionKey: to.encryption.publicKey,
  })
  return { type: 'envelope', id, connectionId: input.connectionId, seq: input.seq, receivedAt: now, envelope }
}

/** A webhook body and its Standard Webhooks headers, signed with the given `whsk_` keys. */
function signedWebhook(items: DeliveryItem[], secretKeys: readonly string[]) {
  const body = JSON.stringify({ v: 1, items })
  const headers = signWebhook({
    id: `msg_${newId(Date.now()).replaceAll('-', '')}`,
    timestamp: Math.floor(Date.now() / 1000),
    body,
    secretKeys,
  })
  return { body, headers }
}

async function postWebhook(node: E2eNode, webhook: { body: string; headers: Record<string, string> }) {
  const response = await fetch(`${node.url}/ochat/webhook`, {
    method: 'POST',
    headers: { ...webhook.headers, 'content-type': 'application/json' },
    body: webhook.body,
  })
  return { status: response.status, body: (await response.json()) as Json }
}

/** What the recipient's SQLite holds: O'Chat messages (one envelope, or all incoming) and notifications. */
function stored(node: E2eNode, envelopeId?: string) {
  const sqlite = node.node.database.sqlite
  const count = (sql: string, ...args: unknown[]) => (sqlite.prepare(sql).get(...args) as { n: number }).n
  return {
    messages:
      envelopeId === undefined
        ? count(`select count(*) as n from ochat_messages where direction = 'in'`)
        : count('select count(*) as n from ochat_messages where envelope_id = ?', envelopeId),
    notifications: count('select count(*) as n from ochat_notifications'),
  }
}

async function incoming(node: E2eNode, channelId: number): Promise<Json[]> {
  const page = await node.admin.call('GET', `/api/v1/ochat/channels/${channelId}/messages?limit=200`)
  if (page.status !== 200) throw new Error(`GET messages: ${page.status} ${JSON.stringify(page.body)}`)
  return (page.body.items as Json[]).filter((item) => item.direction === 'in')
}

function relaySigningKeys(relay: TestRelay): readonly string[] {
  return relay.relayKeys.signingKeys
}

t.test(
  'webhooks and envelopes that are not what they claim are refused, and nothing is stored',
  async (t) => {
    const relay = await startTestRelay(t)
    const acme = await startTestNode(t, { company: 'Acme' })
    const globex = await startTestNode(t, { company: 'Globex' })
    const { connectionId, channelAtA, channelAtB } = await connectNodes(acme, globex, relay)
    const before = stored(acme)

    await t.test('a webhook signed with a key that is not the relay’s: 401', async (t) => {
      const item = envelopeItem(globex, acme, { connectionId, html: '<p>Forged webhook</p>', seq: 901 })
      // A well-formed relay signing key, just not the one Acme pinned at registration.
      const impostor = webhookKeyPairFromSeed(randomBytes(32)).secretKey
      const answer = await postWebhook(acme, signedWebhook([item], [impostor]))
      t.equal(answer.status, 401)
      t.equal(answer.body.error.code, 'E_WEBHOOK_REFUSED')
      t.match(answer.body.error.reason, /no webhook signature matches a pinned relay key/)
      const unsigned = await postWebhook(acme, { body: JSON.stringify({ v: 1, items: [item] }), headers: {} })
      t.equal(unsigned.status, 401, 'an unsigned webhook too')
      t.same(stored(acme, item.id), { messages: 0, notifications: before.notifications }, 'nothing stored')
      const nonces = acme.node.database.sqlite.prepare('select count(*) as n from ochat_webhook_nonces').get()
      t.same(nonces, { n: 0 }, 'not even its webhook id')
      t.same(await incoming(acme, channelAtA), [], 'the channel shows nothing')
    })

    await t.test(
      'a replayed webhook (same id and timestamp, the relay’s own signature): refused',
      async (t) => {
        const item = envelopeItem(globex, acme, { connectionId, html: '<p>Captured once</p>', seq: 902 })
        const webhook = signedWebhook([item], relaySigningKeys(relay))
        const first = await postWebhook(acme, webhook)
        t.equal(first.status, 200, 'the genuine delivery is taken')
        t.same(first.body.results, [{ ok: true, id: item.id }])
        t.equal(first.body.receipts.length, 1, 'and answered with a signed Delivered receipt')
        const counts = stored(acme)
        const replay = await postWebhook(acme, webhook)
        t.equal(replay.status, 401, 'the same POST again is refused')
        t.equal(replay.body.error.code, 'E_WEBHOOK_REFUSED')
        t.match(replay.body.error.reason, /replay/)
        t.same(stored(acme), counts, 'nothing more stored')
        t.equal(stored(acme, item.id).messages, 1, 'the message exists once')
      },
    )

    await t.test('an envelope whose sender signature is forged (right connection, wrong key)', async (t) => {
      const counts = stored(acme)
      const item = envelopeItem(globex, acme, {
        connectionId,
        html: '<p>Pay to this IBAN instead</p>',
        seq: 903,
        signWith: generateIdentityKeyPair().secretKey,
      })
      const answer = await postWebhook(acme, signedWebhook([item], relaySigningKeys(relay)))
      t.equal(answer.status, 200, 'the webhook itself is genuine')
      t.equal(answer.body.results[0].ok, false, 'the envelope is refused')
      t.match(answer.body.results[0].reason, /^invalid: .*signature/)
      t.same(answer.body.receipts, [], 'no Delivered receipt for it')
      t.same(stored(acme), counts, 'nothing stored')
      t.equal(stored(acme, item.id).messages, 0)
    })

    await t.test(
      'foreign HTML with a script, an onclick and a javascript: link arrives sanitized',
      async (t) => {
        const item = envelopeItem(globex, acme, {
          connectionId,
          html: '<p onclick="steal()">Hello <b>there</b><script>alert(document.cookie)</script> <a href="javascript:alert(1)">click</a> <a href="https://globex.example/po">PO</a></p>',
          seq: 904,
        })
        const answer = await postWebhook(acme, signedWebhook([item], relaySigningKeys(relay)))
        t.same(answer.body.results, [{ ok: true, id: item.id }])
        const message = (await incoming(acme, channelAtA)).find((row) => row.envelopeId === item.id)
        t.ok(message, 'the message arrived')
        t.notMatch(message.html, /<script|alert\(document/i, 'no script')
        t.notMatch(message.html, /onclick/i, 'no event handler')
        t.notMatch(message.html, /javascript:/i, 'no javascript: link')
        t.match(message.html, /<b>there<\/b>/, 'formatting is kept')
        t.match(message.html, /<a href="https:\/\/globex\.example\/po"[^>]*>PO<\/a>/, 'and ordinary links')
        const row = acme.node.database.sqlite
          .prepare('select html from ochat_messages where envelope_id = ?')
          .get(item.id) as { html: string }
        t.equal(row.html, message.html, 'it is stored sanitized, not only shown so')
      },
    )

    await t.test('an envelope on a revoked connection, correctly sealed, signed and delivered', async (t) => {
      const revoked = await acme.admin.call('POST', `/api/v1/ochat/connections/${connectionId}/revoke`, {})
      t.equal(revoked.status, 200)
      t.equal(revoked.body.state, 'revoked')
      const counts = stored(acme)
      const item = envelopeItem(globex, acme, { connectionId, html: '<p>Still here?</p>', seq: 905 })
      const answer = await postWebhook(acme, signedWebhook([item], relaySigningKeys(relay)))
      t.equal(answer.status, 200)
      t.equal(answer.body.results[0].ok, false, 'refused')
      t.match(answer.body.results[0].reason, /revoked/)
      t.same(answer.body.receipts, [], 'no Delivered receipt')
      t.same(stored(acme), counts, 'nothing stored')
      await until('Globex learns of the revocation', async () => {
        const view = await globex.admin.call('GET', `/api/v1/ochat/connections/${connectionId}`)
        return view.body.state === 'revoked'
      })
      const send = await globex.admin.call('POST', `/api/v1/ochat/channels/${channelAtB}/messages`, {
        body: 'and through the relay?',
      })
      t.equal(send.status, 409, 'and Globex cannot send on it through the relay')
      t.equal(send.body.error.code, 'E_OCHAT_CONNECTION_STATE')
    })
  },
)

t.test('a message after a peer key change is held until an admin verifies the new safety code', async (t) => {
  const relay = await startTestRelay(t, { env: { RELAY_POLL_INTERVAL_MS: '200' } })
  const acme = await startTestNode(t, { company: 'Acme' })
  const globex = await startTestNode(t, { company: 'Globex' })
  const { connectionId, channelAtA, channelAtB } = await connectNodes(acme, globex, relay)
  const atAcme = async () => (await acme.admin.call('GET', `/api/v1/ochat/connections/${connectionId}`)).body
  const atGlobex = async () =>
    (await globex.admin.call('GET', `/api/v1/ochat/connections/${connectionId}`)).body
  const outgoing = async (node: E2eNode, channelId: number, id: number) =>
    (await node.admin.call('GET', `/api/v1/ochat/channels/${channelId}/messages?limit=200`)).body.items.find(
      (row: Json) => row.id === id,
    )

  // Before the rotation: a message Acme → Globex, delivered, not yet opened.
  const early = await acme.admin.call('POST', `/api/v1/ochat/channels/${channelAtA}/messages`, {
    body: 'Before the key change',
  })
  await until(
    'the early message Delivered',
    async () => (await outgoing(acme, channelAtA, early.body.id)).status === 'delivered',
  )
  const codeBefore = (await atAcme()).safetyCode.display
  t.equal((await atGlobex()).safetyCode.display, codeBefore, 'both admins see the same safety code')

  const registration = await globex.admin.call('GET', '/api/v1/ochat/registration')
  const rotated = await globex.admin.call('POST', '/api/v1/ochat/registration/rotate-keys')
  t.equal(rotated.status, 200, 'Globex rotates its keys')
  t.equal(rotated.body.instanceId, registration.body.instanceId, 'its instance id stays')
  t.not(rotated.body.keys.identityKey, registration.body.keys.identityKey, 'new identity key')
  t.not(rotated.body.keys.encryptionKey, registration.body.keys.encryptionKey, 'new encryption key')
  const clerk = await buildUser(globex.node as never, { role: 'user', scopes: ['ochat:read', 'ochat:write'] })
  const refused = await clerk.call('POST', '/api/v1/ochat/registration/rotate-keys')
  t.equal(refused.status, 403, 'only an administrator rotates keys')
  const atGlobexNow = await atGlobex()
  t.equal(atGlobexNow.paused, false, 'Globex trusts Acme as before')
  const codeAtGlobex = atGlobexNow.safetyCode.display
  t.not(codeAtGlobex, codeBefore, 'Globex’s admin sees the new safety code at once')

  const paused = await until('the channel paused at Acme', async () => {
    const view = await atAcme()
    return view.paused && view
  })
  t.equal(paused.safetyCode.display, codeBefore, 'the code of the keys Acme trusted is still shown')
  t.not(paused.keyChange.newSafetyCode.display, codeBefore, 'the new keys have a new safety code')
  t.equal(paused.keyChange.newSafetyCode.display, codeAtGlobex, 'the one Globex’s admin reads out')
  const channel = await acme.admin.call('GET', `/api/v1/ochat/channels/${channelAtA}`)
  t.equal(channel.body.paused, true, 'the channel says it is paused')

  const held = await globex.admin.call('POST', `/api/v1/ochat/channels/${channelAtB}/messages`, {
    body: 'Signed with the new keys',
  })
  t.equal(held.status, 201)
  const heldEnvelope = held.body.envelopeId as string
  await until('the relay offered it to Acme, which refused it', async () => {
    const queued = await relay.database.db.select().from(queue)
    return queued.find((row) => row.itemId === heldEnvelope)?.lastError === 'refused by the recipient'
  })
  t.equal(stored(acme, heldEnvelope).messages, 0, 'not stored at Acme')
  t.notOk(
    (await incoming(acme, channelAtA)).some((row) => row.envelopeId === heldEnvelope),
    'not shown at Acme',
  )
  const blocked = await acme.admin.call('POST', `/api/v1/ochat/channels/${channelAtA}/messages`, {
    body: 'Can I still write?',
  })
  t.equal(blocked.status, 409, 'Acme cannot send on the paused channel')
  t.equal(blocked.body.error.code, 'E_OCHAT_CHANNEL_PAUSED')

  // Globex opens the early message: its Read receipt, signed with the new key, reaches Acme while
  // Acme still trusts the old one. It must not be lost.
  await globex.admin.call('POST', `/api/v1/ochat/channels/${channelAtB}/read`)
  const acmeId = acme.node.ochat.instance().instanceId
  await until('the Read receipt offered to Acme', async () => {
    const [envelope] = (await relay.database.db.select().from(envelopes)).filter(
      (row) => row.id === early.body.envelopeId,
    )
    const waiting = (await relay.database.db.select().from(queue)).filter(
      (row) => row.destination === acmeId && row.kind === 'receipt' && row.lastError === null,
    )
    return envelope?.readAt != null && waiting.length === 0
  })
  t.equal((await outgoing(acme, channelAtA, early.body.id)).status, 'delivered', 'not Read yet at Acme')

  const wrong = await acme.admin.call('POST', `/api/v1/ochat/connections/${connectionId}/verify`, {
    safetyCode: codeBefore,
  })
  t.equal(wrong.status, 422, 'the old code is not the new one')
  t.equal(wrong.body.error.code, 'E_OCHAT_SAFETY_CODE_MISMATCH')
  t.equal((await atAcme()).paused, true, 'still paused')

  const verified = await acme.admin.call('POST', `/api/v1/ochat/connections/${connectionId}/verify`, {
    safetyCode: paused.keyChange.newSafetyCode.display,
  })
  t.equal(verified.status, 200, 'the code Globex read out is accepted')
  t.equal(verified.body.paused, false, 'the channel resumes')
  t.equal(verified.body.safetyCode.display, codeAtGlobex, 'and shows the new code from now on')

  const arrived = await until(
    'the held message at Acme',
    async () => (await incoming(acme, channelAtA)).find((row) => row.envelopeId === heldEnvelope),
    20_000,
  )
  t.equal(arrived.html, '<p>Signed with the new keys</p>')
  await until(
    'the held message Delivered at Globex',
    async () => (await outgoing(globex, channelAtB, held.body.id)).status === 'delivered',
  )
  await until(
    'the early message Read at Acme',
    async () => (await outgoing(acme, channelAtA, early.body.id)).status === 'read',
    20_000,
  )

  const after = await acme.admin.call('POST', `/api/v1/ochat/channels/${channelAtA}/messages`, {
    body: 'Verified, writing again',
  })
  t.equal(after.status, 201, 'Acme can send again')
  await until(
    'Acme’s new message Delivered, sealed for Globex’s new key',
    async () => (await outgoing(acme, channelAtA, after.body.id)).status === 'delivered',
  )
})
