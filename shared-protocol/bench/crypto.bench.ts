// Crypto figures for PROTOCOL.md §12. Run with `pnpm bench` at the root.
import { createCipheriv, randomBytes } from 'node:crypto'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import nacl from 'tweetnacl'
import {
  AttachmentDecryptor,
  AttachmentEncryptor,
  deriveInstanceId,
  generateAttachmentKey,
  generateEncryptionKeyPair,
  generateIdentityKeyPair,
  newId,
  openEnvelope,
  PeerBoxKeys,
  sealEnvelope,
  signDetached,
  verifyDetached,
} from '../src/index.ts'
import { asyncRuns, opsPerSecond, report } from './measure.ts'

const instance = () => {
  const identity = generateIdentityKeyPair()
  const encryption = generateEncryptionKeyPair()
  return {
    id: deriveInstanceId(identity.publicKey),
    identity,
    encryption,
    boxKeys: new PeerBoxKeys(encryption.secretKey),
  }
}
const alice = instance()
const bob = instance()
const html = `<p>${'x'.repeat(1024 - 7)}</p>` // a 1 KiB message body

function seal() {
  const id = newId()
  return sealEnvelope({
    header: { id, from: alice.id, to: bob.id, createdAt: Date.now() },
    payload: {
      v: 1,
      type: 'message',
      envelopeId: id,
      sentAt: Date.now(),
      sender: { name: 'Alice', company: 'Acme' },
      html,
      attachments: [],
    },
    senderIdentitySecretKey: alice.identity.secretKey,
    boxKeys: alice.boxKeys,
    recipientEncryptionKey: bob.encryption.publicKey,
  })
}

console.log('shared-protocol: envelopes (1 KiB message), signatures, attachment stream')
report({ name: 'seal + sign 1 KiB envelope (shared key cached)', unit: 'ops/s', runs: opsPerSecond(seal) })
const sealed = Array.from({ length: 512 }, seal)
let next = 0
report({
  name: 'verify + open 1 KiB envelope (shared key cached)',
  unit: 'ops/s',
  runs: opsPerSecond(() => {
    const result = openEnvelope({
      envelope: sealed[next++ % sealed.length],
      recipientInstanceId: bob.id,
      senderInstanceId: alice.id,
      senderIdentityKey: alice.identity.publicKey,
      senderEncryptionKey: alice.encryption.publicKey,
      boxKeys: bob.boxKeys,
    })
    if (!result.ok) throw new Error(result.reason)
  }),
})

// Baselines that justify the choices in PROTOCOL.md, measured in the same run.
const kib = randomBytes(1024)
const nonce = randomBytes(24)
report({
  name: 'baseline: nacl.box 1 KiB without the cached shared key',
  unit: 'ops/s',
  runs: opsPerSecond(() => nacl.box(kib, nonce, bob.encryption.publicKey, alice.encryption.secretKey), {
    seconds: 0.5,
  }),
})
const shared = nacl.box.before(bob.encryption.publicKey, alice.encryption.secretKey)
report({
  name: 'baseline: nacl.box 1 KiB with the cached shared key',
  unit: 'ops/s',
  runs: opsPerSecond(() => nacl.box.after(kib, nonce, shared)),
})
const signatureOfKib = signDetached(kib, alice.identity.secretKey)
report({
  name: 'ed25519 sign 1 KiB, node:crypto',
  unit: 'ops/s',
  runs: opsPerSecond(() => signDetached(kib, alice.identity.secretKey)),
})
report({
  name: 'ed25519 verify 1 KiB, node:crypto',
  unit: 'ops/s',
  runs: opsPerSecond(() => verifyDetached(kib, signatureOfKib, alice.identity.publicKey)),
})
report({
  name: 'baseline: ed25519 sign 1 KiB, tweetnacl',
  unit: 'ops/s',
  runs: opsPerSecond(() => nacl.sign.detached(kib, alice.identity.secretKey), { seconds: 0.5, runs: 3 }),
})
report({
  name: 'baseline: ed25519 verify 1 KiB, tweetnacl',
  unit: 'ops/s',
  runs: opsPerSecond(() => nacl.sign.detached.verify(kib, signatureOfKib, alice.identity.publicKey), {
    seconds: 0.5,
    runs: 3,
  }),
})

const STREAM_BYTES = 64 * 1024 * 1024
const block = randomBytes(1024 * 1024)
function source(): Readable {
  let sent = 0
  return new Readable({
    read() {
      if (sent >= STREAM_BYTES) return void this.push(null)
      sent += block.byteLength
      this.push(block)
    },
  })
}
const sink = () => new Writable({ write: (_chunk, _encoding, done) => done() })
async function megabytesPerSecond(...stages: NodeJS.ReadWriteStream[]): Promise<number> {
  const start = performance.now()
  await pipeline(source(), ...(stages as [NodeJS.ReadWriteStream]), sink())
  return STREAM_BYTES / 1e6 / ((performance.now() - start) / 1000)
}
const key = generateAttachmentKey()
report({
  name: 'attachment stream encrypt (ChaCha20-Poly1305, 64 KiB chunks)',
  unit: 'MB/s',
  runs: await asyncRuns(() => megabytesPerSecond(new AttachmentEncryptor({ key, maxBytes: STREAM_BYTES }))),
})
report({
  name: 'attachment stream encrypt + decrypt',
  unit: 'MB/s',
  runs: await asyncRuns(() =>
    megabytesPerSecond(
      new AttachmentEncryptor({ key, maxBytes: STREAM_BYTES }),
      new AttachmentDecryptor({ key, maxBytes: STREAM_BYTES }),
    ),
  ),
})
report({
  name: 'baseline: the same stream with tweetnacl secretbox',
  unit: 'MB/s',
  runs: await asyncRuns(async () => {
    const start = performance.now()
    const chunkNonce = new Uint8Array(24)
    for (let offset = 0; offset < STREAM_BYTES; offset += 64 * 1024) {
      chunkNonce[0] = offset & 0xff
      nacl.secretbox(
        block.subarray(offset % block.byteLength, (offset % block.byteLength) + 64 * 1024),
        chunkNonce,
        key,
      )
    }
    return STREAM_BYTES / 1e6 / ((performance.now() - start) / 1000)
  }, 3),
})
report({
  name: 'baseline: raw ChaCha20-Poly1305 over the same bytes, one call',
  unit: 'MB/s',
  runs: await asyncRuns(async () => {
    const start = performance.now()
    const cipher = createCipheriv('chacha20-poly1305', key, randomBytes(12), { authTagLength: 16 })
    for (let offset = 0; offset < STREAM_BYTES; offset += block.byteLength) cipher.update(block)
    cipher.final()
    return STREAM_BYTES / 1e6 / ((performance.now() - start) / 1000)
  }),
})
