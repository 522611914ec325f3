// PROTOCOL.md §10: versions, unknown fields and sizes are refused with a clear error.
import fc from 'fast-check'
import t from 'tap'
import { newId } from '../src/crypto/ids.ts'
import { ErrorBodySchema, REASON_PREFIXES, ReasonSchema } from '../src/errors.ts'
import { LIMITS } from '../src/limits.ts'
import { ConnectionRequestSchema } from '../src/schemas/connection.ts'
import { DeliveryItemSchema, StatusEventSchema, WebhookBodySchema } from '../src/schemas/delivery.ts'
import { EnvelopeSchema, SubmitRequestSchema } from '../src/schemas/envelope.ts'
import { NodeFrameSchema, RelayFrameSchema } from '../src/schemas/frames.ts'
import { AttachmentRefSchema, MessagePayloadSchema, ReceiptSchema } from '../src/schemas/payload.ts'
import { buildEnvelope, buildInstance, buildPayload } from './factories.ts'

const alice = buildInstance()
const bob = buildInstance()

function firstMessage(result: { success: boolean; error?: { issues: { message: string }[] } }) {
  return result.success ? undefined : result.error?.issues[0]?.message
}

t.test('an unknown version is refused and says which version this side speaks', async (t) => {
  const envelope = buildEnvelope(alice, bob)
  const result = EnvelopeSchema.safeParse({ ...envelope, header: { ...envelope.header, v: 2 } })
  t.equal(firstMessage(result), 'unsupported protocol version 2; this side speaks v1')
  t.equal(
    firstMessage(MessagePayloadSchema.safeParse({ ...buildPayload(), v: '1' })),
    'unsupported protocol version "1"; this side speaks v1',
  )
})

t.test('unknown fields in signed structures are refused, at any depth', async (t) => {
  const envelope = buildEnvelope(alice, bob)
  t.notOk(EnvelopeSchema.safeParse({ ...envelope, priority: 'high' }).success)
  t.notOk(
    EnvelopeSchema.safeParse({ ...envelope, header: { ...envelope.header, cc: bob.instanceId } }).success,
  )
  t.notOk(
    MessagePayloadSchema.safeParse({ ...buildPayload(), sender: { name: 'A', company: 'B', admin: true } })
      .success,
  )
  const receipt = {
    v: 1,
    id: newId(),
    kind: 'read',
    from: bob.instanceId,
    to: alice.instanceId,
    envelopeIds: [newId()],
    at: 1,
  }
  t.ok(ReceiptSchema.safeParse(receipt).success)
  t.notOk(ReceiptSchema.safeParse({ ...receipt, extra: 1 }).success)
})

t.test('oversize fields are refused before anything is stored', async (t) => {
  const envelope = buildEnvelope(alice, bob)
  const huge = 'A'.repeat(Math.ceil((LIMITS.envelopeCiphertextBytes * 4) / 3) + 4)
  t.match(
    firstMessage(EnvelopeSchema.safeParse({ ...envelope, ciphertext: huge })),
    /larger than 262144 bytes/,
  )
  t.notOk(
    SubmitRequestSchema.safeParse({ envelopes: Array.from({ length: 1001 }, () => envelope) }).success,
    '1,001 recipients',
  )
  t.match(firstMessage(SubmitRequestSchema.safeParse({ envelopes: [envelope, envelope] })), /unique/)
  const file = {
    blobId: newId(),
    name: 'po.pdf',
    type: 'application/pdf',
    size: 100_000_000,
    key: 'A'.repeat(43),
    sha256: 'A'.repeat(43),
  }
  t.ok(AttachmentRefSchema.safeParse(file).success, 'a 100 MB file')
  t.match(
    firstMessage(AttachmentRefSchema.safeParse({ ...file, size: 100_000_001 })),
    /at most 100,000,000 bytes/,
    '100 MB + 1',
  )
  const sixFiles = Array.from({ length: 6 }, () => ({
    ...file,
    size: 1,
    key: 'A'.repeat(43),
    sha256: 'A'.repeat(43),
  }))
  t.notOk(MessagePayloadSchema.safeParse(buildPayload({ attachments: sixFiles })).success, 'six files')
  const fiveBig = Array.from({ length: 5 }, () => ({
    ...file,
    size: 100_000_000,
    key: 'A'.repeat(43),
    sha256: 'A'.repeat(43),
  }))
  t.ok(
    MessagePayloadSchema.safeParse(buildPayload({ attachments: fiveBig })).success,
    '5 × 100 MB = 500 MB is allowed',
  )
  t.notOk(ConnectionRequestSchema.safeParse({ to: bob.instanceId, message: 'x'.repeat(2001) }).success)
  t.match(
    firstMessage(
      AttachmentRefSchema.safeParse({
        ...file,
        size: 1,
        key: 'A'.repeat(43),
        sha256: 'A'.repeat(43),
        name: '../etc/passwd',
      }),
    ),
    /slashes/,
  )
})

t.test('base64url fields take exactly their byte length, and no other alphabet', async (t) => {
  const envelope = buildEnvelope(alice, bob)
  t.notOk(EnvelopeSchema.safeParse({ ...envelope, signature: `${envelope.signature.slice(0, -1)}=` }).success)
  t.notOk(
    EnvelopeSchema.safeParse({
      ...envelope,
      header: { ...envelope.header, nonce: envelope.header.nonce.slice(1) },
    }).success,
  )
  t.notOk(EnvelopeSchema.safeParse({ ...envelope, ciphertext: `${envelope.ciphertext}+/` }).success)
})

t.test('error bodies and reasons carry one of the known prefixes', async (t) => {
  for (const prefix of REASON_PREFIXES) t.ok(ReasonSchema.safeParse(`${prefix}: because`).success, prefix)
  t.notOk(ReasonSchema.safeParse('nope: because').success)
  t.ok(
    ErrorBodySchema.safeParse({
      error: {
        code: 'E_CONNECTION_NOT_ACCEPTED',
        message: 'No accepted connection.',
        reason: 'blocked: no accepted connection',
      },
    }).success,
  )
  t.notOk(
    ErrorBodySchema.safeParse({ error: { code: 'not-a-code', message: 'x', reason: 'invalid: x' } }).success,
  )
})

t.test('frames and webhook bodies parse only their own shapes', async (t) => {
  const envelope = buildEnvelope(alice, bob)
  const item = {
    type: 'envelope',
    id: envelope.header.id,
    connectionId: newId(),
    seq: 1,
    receivedAt: 1,
    envelope,
  }
  t.ok(DeliveryItemSchema.safeParse(item).success)
  t.ok(WebhookBodySchema.safeParse({ v: 1, items: [item] }).success)
  t.notOk(WebhookBodySchema.safeParse({ v: 1, items: [] }).success, 'an empty webhook')
  t.ok(RelayFrameSchema.safeParse({ type: 'deliver', items: [item] }).success)
  t.notOk(
    RelayFrameSchema.safeParse({ type: 'deliver', items: Array.from({ length: 257 }, () => item) }).success,
    'window is 256',
  )
  t.notOk(
    NodeFrameSchema.safeParse({ type: 'deliver', items: [item] }).success,
    'a node cannot send relay frames',
  )
  t.ok(NodeFrameSchema.safeParse({ type: 'ack', results: [{ ok: true, id: item.id }] }).success)
  const submit = { type: 'submit', requestId: newId(), envelopes: [envelope] }
  t.ok(NodeFrameSchema.safeParse(submit).success)
  t.notOk(
    NodeFrameSchema.safeParse({ ...submit, envelopes: [envelope, envelope] }).success,
    'repeated ids in a submit frame',
  )
  t.notOk(
    DeliveryItemSchema.safeParse({ ...item, id: newId() }).success,
    "an envelope item's id is its envelope's",
  )
  const retrying = {
    v: 1,
    status: 'retrying',
    envelopeId: newId(),
    to: bob.instanceId,
    attempt: 2,
    nextAttemptAt: 5,
    reason: 'error: webhook answered 503',
    at: 1,
  }
  t.ok(StatusEventSchema.safeParse(retrying).success)
  t.notOk(
    StatusEventSchema.safeParse({ ...retrying, nextAttemptAt: undefined }).success,
    'retrying says when',
  )
  t.notOk(
    StatusEventSchema.safeParse({ ...retrying, status: 'delivered' }).success,
    'the relay cannot report Delivered',
  )
})

t.test('any one change to a valid envelope (a member dropped, added or retyped) is refused', async (t) => {
  const envelope = buildEnvelope(alice, bob)
  const paths = [
    ['header', 'v'],
    ['header', 'id'],
    ['header', 'from'],
    ['header', 'to'],
    ['header', 'createdAt'],
    ['header', 'nonce'],
    ['ciphertext'],
    ['signature'],
  ]
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('drop' as const), path: fc.constantFrom(...paths) }),
    fc.record({
      kind: fc.constant('retype' as const),
      path: fc.constantFrom(...paths),
      // A retype changes the kind of value: a whole number ≥ 0 is still a valid `createdAt` (and 1 a valid
      // `v`), so doubles that are such numbers are left out (fast-check found 0 for createdAt).
      value: fc.oneof(
        fc.constant(null),
        fc.boolean(),
        fc.double().filter((x) => !(Number.isSafeInteger(x) && x >= 0)),
        fc.object(),
        fc.array(fc.nat()),
      ),
    }),
    fc.record({
      kind: fc.constant('add' as const),
      path: fc.constantFrom([], ['header']),
      key: fc.string({ minLength: 1, maxLength: 10 }),
      value: fc.jsonValue(),
    }),
  )
  fc.assert(
    fc.property(mutation, (change) => {
      const copy = structuredClone(envelope) as unknown as Record<string, Record<string, unknown>>
      if (change.kind === 'add') {
        const target = change.path.length === 0 ? copy : (copy.header as Record<string, unknown>)
        if (change.key in target) return true
        ;(target as Record<string, unknown>)[change.key] = change.value
      } else {
        const [first, second] = change.path as [string, string | undefined]
        const parent = second === undefined ? copy : (copy[first] as Record<string, unknown>)
        const key = second ?? first
        if (change.kind === 'drop') delete parent[key]
        else parent[key] = change.value
      }
      return !EnvelopeSchema.safeParse(copy).success
    }),
    { numRuns: 500 },
  )
  t.pass('property held')
})

t.test('valid envelopes survive a JSON round-trip unchanged', async (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 2000 }), fc.nat(), (html, sentAt) => {
      const envelope = buildEnvelope(alice, bob, { html, sentAt })
      const again = EnvelopeSchema.parse(JSON.parse(JSON.stringify(envelope)))
      return JSON.stringify(again) === JSON.stringify(envelope)
    }),
    { numRuns: 100 },
  )
  t.pass('property held')
})

t.test(
  'regression: ids are lower-case UUIDs only (a capitalised twin once failed a whole relay batch)',
  async (t) => {
    const envelope = buildEnvelope(alice, bob)
    const upper = { ...envelope, header: { ...envelope.header, id: envelope.header.id.toUpperCase() } }
    t.match(firstMessage(EnvelopeSchema.safeParse(upper)), /lower case/)
    t.match(
      firstMessage(ConnectionRequestSchema.safeParse({ to: bob.instanceId, message: 'a\u0000b' })),
      /control characters/,
    )
  },
)
