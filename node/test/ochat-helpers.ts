import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  AttachmentEncryptor,
  type ConnectionView,
  type DeliveryItem,
  deriveInstanceId,
  deriveRelayId,
  generateEncryptionKeyPair,
  generateIdentityKeyPair,
  identityKeyPairFromSeed,
  type MessagePayload,
  newId,
  PeerBoxKeys,
  type SignedReceipt,
  sealEnvelope,
  signKeySet,
  signReceipt,
  signWebhook,
  toBase64,
  toBase64Url,
} from '@ochat/shared-protocol'
import type { Test } from 'tap'
import { type Actor, buildNode, buildPartner, buildUser, type TestNode } from './helpers.ts'

/**
 * O'Chat on one node, against a relay the test controls: a real HTTP server that answers the relay
 * API the way a compromised relay might (its connection views, decisions and uploads are whatever the
 * test says), and peers whose keys the test holds, so it can seal, sign or forge their envelopes and
 * receipts. Deliveries reach the node through its real POST /ochat/webhook, signed with the relay's
 * pinned key. No PostgreSQL is needed, so these tests run at node level.
 */

export const OCHAT_SECRET = 'node test operator secret, 32 chars'

type Handler = (
  request: IncomingMessage,
  body: string,
) =>
  | {
      status: number
      body: unknown
      /** Extra response headers (a Buffer body's content-range, say). */
      headers?: Record<string, string>
      /** A Buffer body: the connection is cut after this many of its bytes (a network drop). */
      cutAfter?: number
    }
  | undefined

export type FakeRelay = {
  url: string
  relayId: string
  /** "whsk_…": what the relay signs webhooks with; the node pins its public half at registration. */
  webhookSecretKey: string
  /** What GET /v1/connections answers. */
  connections: ConnectionView[]
  /** Requests by "METHOD /path", counted. */
  hits: Map<string, number>
  /** Overrides for one "METHOD /path" (or a prefix ending in *), tried before the defaults. */
  handlers: Map<string, Handler>
  close(): Promise<void>
}

export async function startFakeRelay(t: Test): Promise<FakeRelay> {
  const seed = randomBytes(32)
  const signing = identityKeyPairFromSeed(seed)
  const relayId = deriveRelayId(signing.publicKey)
  const keySet = {
    v: 1 as const,
    relayId,
    serial: 1,
    issuedAt: Date.parse('2026-11-01T00:00:00Z'),
    keys: [{ kid: 'k1', publicKey: `whpk_${toBase64(signing.publicKey)}`, status: 'active' as const }],
  }
  const signedKeySet = signKeySet(keySet, [{ kid: 'k1', secretKey: signing.secretKey }])
  const relay: Omit<FakeRelay, 'url' | 'close'> = {
    relayId,
    webhookSecretKey: `whsk_${toBase64(signing.secretKey)}`,
    connections: [],
    hits: new Map(),
    handlers: new Map(),
  }
  let seq = 0
  let instanceId = ''
  const defaults: Handler = (request, body) => {
    const route = `${request.method} ${request.url}`
    if (route === 'GET /v1/info')
      return {
        status: 200,
        body: {
          v: 1,
          relayId,
          name: 'Test relay',
          registration: 'open',
          keySet: signedKeySet,
          limits: {
            envelopeBytes: 262144,
            bulkRecipients: 1000,
            attachmentBytes: 100_000_000,
            attachmentsPerMessage: 5,
            messageAttachmentBytes: 500_000_000,
            clockSkewSeconds: 300,
          },
        },
      }
    if (route === 'POST /v1/instances') {
      const { registration } = JSON.parse(body)
      instanceId = deriveInstanceId(Buffer.from(registration.keys.identityKey, 'base64url'))
      return { status: 201, body: { instance: { instanceId, status: 'active' } } }
    }
    if (route === 'GET /v1/instances/me')
      return { status: 200, body: { instance: { instanceId, status: 'active' } } }
    if (route === 'GET /v1/connections') return { status: 200, body: { connections: relay.connections } }
    if (route === 'POST /v1/envelopes') {
      const { envelopes } = JSON.parse(body) as { envelopes: { header: { id: string } }[] }
      return {
        status: 200,
        body: {
          results: envelopes.map((envelope) => ({
            ok: true,
            id: envelope.header.id,
            seq: ++seq,
            acceptedAt: Date.parse('2026-11-25T10:00:00Z'),
          })),
        },
      }
    }
    if (route === 'POST /v1/receipts') return { status: 200, body: {} }
    return undefined
  }
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const route = `${request.method} ${request.url}`
      relay.hits.set(route, (relay.hits.get(route) ?? 0) + 1)
      const body = Buffer.concat(chunks).toString('utf8')
      const handler =
        relay.handlers.get(route) ??
        [...relay.handlers].find(([key]) => key.endsWith('*') && route.startsWith(key.slice(0, -1)))?.[1]
      const answer = handler?.(request, body) ?? defaults(request, body)
      const status = answer?.status ?? 404
      if (Buffer.isBuffer(answer?.body)) {
        response.writeHead(status, {
          'content-type': 'application/octet-stream',
          'content-length': String(answer.body.byteLength),
          ...answer.headers,
        })
        if (answer.cutAfter === undefined) response.end(answer.body)
        else response.write(answer.body.subarray(0, answer.cutAfter), () => response.socket?.destroy())
        return
      }
      response.writeHead(status, { 'content-type': 'application/json', ...answer?.headers })
      response.end(
        JSON.stringify(
          answer?.body ?? {
            error: { code: 'E_NOT_FOUND', message: 'Not found.', reason: `invalid: no ${route}` },
          },
        ),
      )
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  t.teardown(close)
  return Object.assign(relay, { url, close })
}

/** A file's bytes encrypted as a peer's node uploads them (PROTOCOL.md §8.2). */
export async function encryptAttachment(plain: Buffer, key: Uint8Array): Promise<Buffer> {
  const encryptor = new AttachmentEncryptor({ key })
  const chunks: Buffer[] = []
  encryptor.on('data', (chunk: Buffer) => chunks.push(chunk))
  encryptor.end(plain)
  await once(encryptor, 'end')
  return Buffer.concat(chunks)
}

/** Another company: its keys are the test's, to seal, sign and forge with. */
export function buildPeer(name = 'Globex') {
  const identity = generateIdentityKeyPair()
  const encryption = generateEncryptionKeyPair()
  return {
    name,
    instanceId: deriveInstanceId(identity.publicKey),
    identity,
    encryption,
    boxKeys: new PeerBoxKeys(encryption.secretKey),
    keys: { identityKey: toBase64Url(identity.publicKey), encryptionKey: toBase64Url(encryption.publicKey) },
  }
}
export type Peer = ReturnType<typeof buildPeer>

/** The relay's view of a connection between the node and `peer`, as the node would see it. */
export function connectionView(
  node: TestNode,
  peer: Peer,
  input: { id?: string; state: ConnectionView['state']; direction?: ConnectionView['direction'] },
): ConnectionView {
  const me = node.ochat.instance().instanceId
  const direction = input.direction ?? 'incoming'
  const at = node.clock.now()
  return {
    id: input.id ?? newId(at),
    requester: direction === 'incoming' ? peer.instanceId : me,
    addressee: direction === 'incoming' ? me : peer.instanceId,
    direction,
    peer: { instanceId: peer.instanceId, name: peer.name, keys: peer.keys },
    state: input.state,
    message: 'Hello',
    history: [],
    createdAt: at,
    updatedAt: at,
  }
}

/** A node registered with the fake relay (webhook only: no socket), and its admin. */
export async function buildOchatNode(
  t: Test,
  relay: FakeRelay,
  options: { listen?: boolean; env?: Record<string, string> } = {},
) {
  const node = await buildNode(t, {
    env: {
      NODE_OCHAT_SECRET: OCHAT_SECRET,
      NODE_OCHAT_WEBSOCKET: 'false',
      NODE_OCHAT_SYNC_MS: '3600000',
      ...options.env,
    },
    listen: options.listen ?? false,
  })
  const admin = await buildUser(node, { role: 'admin', name: 'Acme Admin' })
  const registered = await admin.call('POST', '/api/v1/ochat/registration', { relayUrl: relay.url })
  if (registered.status !== 201) throw new Error(`registration: ${JSON.stringify(registered.body)}`)
  return { node, admin }
}

/**
 * A working channel with `peer`, made the way it is in production: the relay reports the peer's
 * request, this node's admin accepts it. Answers the connection and channel ids.
 */
export async function acceptedChannel(node: TestNode, admin: Actor, relay: FakeRelay, peer: Peer) {
  const pending = connectionView(node, peer, { state: 'pending' })
  relay.connections = [...relay.connections.filter((view) => view.id !== pending.id), pending]
  await admin.call('POST', '/api/v1/ochat/connections/sync')
  const accepted = { ...pending, state: 'accepted' as const, updatedAt: pending.updatedAt + 1 }
  relay.handlers.set(`POST /v1/connections/${pending.id}/decision`, () => ({
    status: 200,
    body: { connection: accepted },
  }))
  const contact = buildPartner(node, { name: `${peer.name} contact`, companyName: peer.name })
  const answer = await admin.call('POST', `/api/v1/ochat/connections/${pending.id}/accept`, {
    contactPartnerId: contact.id,
  })
  if (answer.status !== 200) throw new Error(`accept: ${JSON.stringify(answer.body)}`)
  relay.connections = relay.connections.map((view) => (view.id === pending.id ? accepted : view))
  return { connectionId: pending.id, channelId: answer.body.channelId as number }
}

/** An envelope from `peer` to the node, sealed and signed as the peer's node would (or not). */
export function envelopeFrom(
  peer: Peer,
  node: TestNode,
  input: {
    connectionId: string
    seq?: number
    payload?: Partial<MessagePayload>
    /** Signs with another key: a forgery. */
    signWith?: Uint8Array
    /** Seals to another key of the node's than its current one (one it rotated away from). */
    sealTo?: Uint8Array
  },
): Extract<DeliveryItem, { type: 'envelope' }> {
  const me = node.ochat.instance()
  const now = node.clock.now()
  const id = input.payload?.envelopeId ?? newId(now)
  const envelope = sealEnvelope({
    header: { id, from: peer.instanceId, to: me.instanceId, createdAt: now },
    payload: {
      v: 1,
      type: 'message',
      envelopeId: id,
      sentAt: now,
      sender: { name: 'Gina', company: peer.name },
      html: '<p>Hello</p>',
      attachments: [],
      ...input.payload,
    },
    senderIdentitySecretKey: input.signWith ?? peer.identity.secretKey,
    boxKeys: peer.boxKeys,
    recipientEncryptionKey: input.sealTo ?? me.encryption.publicKey,
  })
  return {
    type: 'envelope',
    id,
    connectionId: input.connectionId,
    seq: input.seq ?? 1,
    receivedAt: now,
    envelope,
  }
}

/** A receipt from `peer` about envelopes it got from the node. */
export function receiptFrom(
  peer: Peer,
  node: TestNode,
  input: { kind: 'delivered' | 'read'; envelopeIds: string[]; signWith?: Uint8Array },
): { type: 'receipt'; id: string; receipt: SignedReceipt } {
  const now = node.clock.now()
  return {
    type: 'receipt',
    id: newId(now),
    receipt: signReceipt(
      {
        v: 1,
        id: newId(now),
        kind: input.kind,
        from: peer.instanceId,
        to: node.ochat.instance().instanceId,
        envelopeIds: input.envelopeIds,
        at: now,
      },
      input.signWith ?? peer.identity.secretKey,
    ),
  }
}

/** POSTs items to the node's webhook, signed by the relay (the node's clock decides the window). */
export async function deliver(node: TestNode, relay: FakeRelay, items: DeliveryItem[] | unknown) {
  // JSON.stringify(undefined) is undefined: an empty body, then.
  const body = JSON.stringify(Array.isArray(items) ? { v: 1, items } : items) ?? ''
  const headers = signWebhook({
    id: `msg_${randomBytes(12).toString('hex')}`,
    timestamp: Math.floor(node.clock.now() / 1000),
    body,
    secretKeys: [relay.webhookSecretKey],
  })
  const response = await node.app.inject({
    method: 'POST',
    url: '/ochat/webhook',
    headers: { ...headers, 'content-type': 'application/json' },
    payload: body,
  })
  // biome-ignore lint/suspicious/noExplicitAny: tests read response bodies loosely and assert on them
  return { status: response.statusCode, body: JSON.parse(response.body) as any }
}

/** Rows of a table, for "nothing written" checks. */
export function countRows(node: TestNode, table: string): number {
  return (node.database.sqlite.prepare(`select count(*) as n from "${table}"`).get() as { n: number }).n
}
