// The database `pnpm bench ui` starts the node on: a registered O'Chat identity, a salesperson, and
// channels with other companies, one of them 10,000 messages long. Written straight into SQLite before
// the node starts, as if the node had run for a year: no relay is needed to read what is stored.
import {
  deriveInstanceId,
  deriveRelayId,
  generateEncryptionKeyPair,
  generateIdentityKeyPair,
  identityKeyPairFromSeed,
  newId,
  signKeySet,
  toBase64,
  toBase64Url,
} from '@ochat/shared-protocol'
import { hashPassword } from '../src/auth/passwords.ts'
import { openDatabase } from '../src/db/client.ts'
import {
  ochatChannelMembers,
  ochatChannels,
  ochatConnections,
  ochatIdentity,
  ochatMessages,
  partners,
} from '../src/db/schema.ts'
import { ModelRegistry } from '../src/models/registry.ts'
import { ensureBaseData } from '../src/models/seed.ts'
import { newInstanceKeys, sealSecretKeys } from '../src/ochat/identity/instance.ts'
import { Keystore } from '../src/ochat/identity/keystore.ts'
import { createUser } from '../src/people/create-user.ts'

export const UI_LOGIN = 'sarah'
export const UI_PASSWORD = 'bench password, not a secret'
/** What the node is started with (NODE_OCHAT_SECRET): it opens the identity's keys sealed here. */
export const UI_OCHAT_SECRET = 'bench operator secret, 32 chars!'

/** Partner companies besides the busy one, each with a short channel: the list looks like a real one. */
const OTHER_COMPANIES = ['Initech', 'Umbrella', 'Hooli', 'Vandelay Industries', 'Soylent', 'Wonka']

const OPENINGS = [
  'Thanks for the quick answer.',
  'Following up on our call this morning:',
  'Quick question about order',
  'Good news from the warehouse:',
  'Sorry for the delay, we were waiting on the carrier.',
  'As discussed with your colleague,',
]
const MIDDLES = [
  'the pallets of walnut desks leave Rotterdam on Friday and should reach Hamburg by Tuesday',
  'the price list for next year is attached to the record, with the volume discount we agreed',
  'could you confirm the delivery address for the Lyon office, second floor, loading bay B',
  'the invoice was paid yesterday; the payment terms stay at thirty days for the next orders',
  'we can hold the current price until the end of the quarter if the order is signed this month',
  'two chairs arrived damaged; photos are in the claim and the carrier has been told',
]
const CLOSINGS = ['Best regards.', 'Talk soon.', 'Let me know.', '', 'Thanks!', 'Have a good weekend.']

let seed = 7
/** A fixed sequence, so every run reads the same thread. */
function pick<T>(items: readonly T[]): T {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
  return items[Math.floor((seed / 2 ** 31) * items.length)] as T
}

/** A message as the node stores it: sanitized HTML of one to three short paragraphs. */
function body(i: number): string {
  const first = `<p>${pick(OPENINGS)} ${pick(MIDDLES)} (ref. SO-${10_000 + i}).</p>`
  const second = i % 3 === 0 ? `<p><strong>Note:</strong> ${pick(MIDDLES)}.</p>` : ''
  const closing = pick(CLOSINGS)
  return first + second + (closing ? `<p>${closing}</p>` : '')
}

export type UiSeed = { channelId: number; messages: number; channels: number }

/**
 * Seeds `databaseFile`: the identity (relay at `relayUrl`, which need not answer), the user
 * UI_LOGIN (not an administrator, so the access rules apply), and a channel with Globex holding
 * `messages` messages, half sent and half received, every one already read.
 */
export async function seedUiDatabase(input: {
  databaseFile: string
  relayUrl: string
  messages: number
}): Promise<UiSeed> {
  const database = openDatabase(input.databaseFile)
  const db = database.db
  const now = Date.now()
  ensureBaseData({ db, registry: new ModelRegistry(), now })
  const { user } = await createUser({
    db,
    user: {
      login: UI_LOGIN,
      password: UI_PASSWORD,
      name: 'Sarah Sales',
      email: 'sarah@acme.test',
      role: 'user',
      notification: 'inbox',
      timeZone: 'UTC',
    },
    now,
    // A cheap scrypt cost: the bench logs in once per run, the cost of a login is not measured.
    passwordHash: await hashPassword(UI_PASSWORD, { N: 2 ** 10, r: 8, p: 1 }),
  })

  const relayKey = identityKeyPairFromSeed(Buffer.alloc(32, 'ui bench relay'))
  const relayId = deriveRelayId(relayKey.publicKey)
  const keySet = signKeySet(
    {
      v: 1,
      relayId,
      serial: 1,
      issuedAt: now,
      keys: [{ kid: 'k1', publicKey: `whpk_${toBase64(relayKey.publicKey)}`, status: 'active' }],
    },
    [{ kid: 'k1', secretKey: relayKey.secretKey }],
  )
  const mine = newInstanceKeys()
  const keystore = new Keystore(UI_OCHAT_SECRET)
  await keystore.prepare()
  db.insert(ochatIdentity)
    .values({
      id: 1,
      relayUrl: input.relayUrl,
      relayId,
      relayName: 'Bench relay',
      pinnedKeySet: keySet,
      instanceId: deriveInstanceId(mine.identity.publicKey),
      name: 'Acme',
      identityPublicKey: mine.keys.identityKey,
      encryptionPublicKey: mine.keys.encryptionKey,
      sealedSecretKeys: sealSecretKeys(keystore, mine),
      relayStatus: 'valid',
      lastContactAt: now,
      registeredAt: now - 365 * 86_400_000,
    })
    .run()

  let channelId = 0
  database.sqlite.transaction(() => {
    const companies = ['Globex', ...OTHER_COMPANIES]
    companies.forEach((company, index) => {
      const channel = addChannel(company, now - index * 3_600_000)
      const count = index === 0 ? input.messages : 20
      for (let i = 0; i < count; i++) addMessage(channel, company, i, count)
      if (index === 0) channelId = channel
    })
  })()
  database.close()
  return { channelId, messages: input.messages, channels: 1 + OTHER_COMPANIES.length }

  function addChannel(company: string, lastActivityAt: number): number {
    const peer = { identity: generateIdentityKeyPair(), encryption: generateEncryptionKeyPair() }
    const keys = {
      identityKey: toBase64Url(peer.identity.publicKey),
      encryptionKey: toBase64Url(peer.encryption.publicKey),
    }
    const contact = db
      .insert(partners)
      .values({
        name: `${company} purchasing`,
        email: `purchasing@${company.toLowerCase().replace(/\W+/g, '')}.test`,
        companyName: company,
        internal: false,
        createdAt: now,
      })
      .returning()
      .get()
    const connectionId = newId(lastActivityAt)
    db.insert(ochatConnections)
      .values({
        id: connectionId,
        peerInstanceId: deriveInstanceId(peer.identity.publicKey),
        peerName: company,
        direction: 'outgoing',
        state: 'accepted',
        message: 'Hello',
        history: [],
        contactPartnerId: contact.id,
        peerKeys: keys,
        pinnedKeys: keys,
        createdAt: now,
        updatedAt: now,
        syncedAt: now,
      })
      .run()
    const channel = db
      .insert(ochatChannels)
      .values({ connectionId, lastActivityAt, createdAt: now })
      .returning()
      .get()
    db.insert(ochatChannelMembers).values({ channelId: channel.id, userId: user.id, addedAt: now }).run()
    return channel.id
  }

  /** Every other message each way; the oldest a minute apart per message before now. */
  function addMessage(channel: number, company: string, i: number, count: number) {
    const at = now - (count - i) * 60_000
    const incoming = i % 2 === 1
    db.insert(ochatMessages)
      .values({
        channelId: channel,
        direction: incoming ? 'in' : 'out',
        envelopeId: newId(at),
        authorUserId: incoming ? null : user.id,
        authorName: incoming ? 'Gina Buyer' : 'Sarah Sales',
        authorCompany: incoming ? company : 'Acme',
        html: body(i),
        status: incoming ? 'received' : 'read',
        seq: i + 1,
        createdAt: at,
        sentAt: incoming ? null : at + 200,
        deliveredAt: incoming ? null : at + 900,
        readAt: incoming ? null : at + 30_000,
        openedAt: incoming ? at + 60_000 : null,
        readReceipt: incoming ? 'sent' : null,
      })
      .run()
  }
}
