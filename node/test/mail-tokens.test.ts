import { randomBytes } from 'node:crypto'
import t from 'tap'
import { MailTokens } from '../src/mail/tokens.ts'
import { buildNode } from './helpers.ts'

const tokens = MailTokens.withKey(randomBytes(32))
const now = Date.parse('2026-11-25T10:00:00Z')

/** The same token with one character changed, as a forger or a mangled copy would give it. */
function tamper(token: string, at: number): string {
  const index = (at + token.length) % token.length
  const char = token[index] as string
  const other = char === '0' ? '1' : char === 'a' ? 'b' : char === 'A' ? 'B' : /\d/.test(char) ? '0' : 'a'
  return token.slice(0, index) + other + token.slice(index + 1)
}

t.test('each token reads back as what it was made for', async (t) => {
  const reply = { recordId: 42, messageId: 1_000_003, partnerId: 7 }
  t.same(tokens.readReplyToken(tokens.replyToken(reply)), reply)
  t.same(tokens.readBounceToken(tokens.bounceToken({ source: 'record', notificationId: 99 })), {
    source: 'record',
    notificationId: 99,
  })
  t.same(tokens.readBounceToken(tokens.bounceToken({ source: 'ochat', messageId: 5, userId: 12 })), {
    source: 'ochat',
    messageId: 5,
    userId: 12,
  })
  t.same(tokens.readUnfollowToken(tokens.unfollowToken({ recordId: 3, partnerId: 4 })), {
    recordId: 3,
    partnerId: 4,
  })
  const file = { attachmentId: 8, expiresAt: now + 14 * 24 * 3600 * 1000 }
  t.same(tokens.readFileLinkToken(tokens.fileLinkToken(file), now), file)
})

t.test('address tokens fit an address and survive a mail system changing their case', async (t) => {
  const reply = tokens.replyToken({ recordId: 2 ** 40, messageId: 2 ** 45, partnerId: 2 ** 40 })
  const bounce = tokens.bounceToken({ source: 'ochat', messageId: 2 ** 45, userId: 2 ** 40 })
  t.ok(`reply+${reply}`.length <= 64, 'the reply local part fits 64 characters')
  t.ok(`bounce+${bounce}`.length <= 64, 'the bounce local part fits 64 characters')
  t.same(tokens.readReplyToken(reply.toUpperCase()), {
    recordId: 2 ** 40,
    messageId: 2 ** 45,
    partnerId: 2 ** 40,
  })
  t.same(tokens.readBounceToken(bounce.toUpperCase()), {
    source: 'ochat',
    messageId: 2 ** 45,
    userId: 2 ** 40,
  })
})

t.test('a changed character anywhere, another key, or a cut token is refused', async (t) => {
  const reply = tokens.replyToken({ recordId: 42, messageId: 43, partnerId: 44 })
  const unfollow = tokens.unfollowToken({ recordId: 42, partnerId: 44 })
  for (let at = 0; at < reply.length; at++)
    if (reply[at] !== '-') t.equal(tokens.readReplyToken(tamper(reply, at)), null, `reply, character ${at}`)
  // The last character of the base64url MAC carries 2 bits and 4 padding bits: every bit is checked.
  for (let at = 0; at < unfollow.length - 1; at++)
    if (unfollow[at] !== '.')
      t.equal(tokens.readUnfollowToken(tamper(unfollow, at)), null, `unfollow, character ${at}`)
  const last = unfollow.at(-1) as string
  const sameBits = String.fromCharCode(last.charCodeAt(0) ^ 1)
  t.equal(
    tokens.readUnfollowToken(`${unfollow.slice(0, -1)}${sameBits}`),
    null,
    'a different spelling of the same MAC',
  )
  const stranger = MailTokens.withKey(randomBytes(32))
  t.equal(stranger.readReplyToken(reply), null, "another node's key")
  t.equal(stranger.readUnfollowToken(unfollow), null, "another node's key")
  t.equal(tokens.readReplyToken(reply.slice(0, -1)), null, 'cut short')
  t.equal(tokens.readUnfollowToken(unfollow.slice(0, -2)), null, 'cut short')
  t.equal(tokens.readReplyToken(`1-${reply}`), null, 'an id added in front')
  t.equal(tokens.readBounceToken(''), null, 'empty')
  t.equal(tokens.readUnfollowToken('a'.repeat(500)), null, 'oversized')
})

t.test('a token made for one purpose never verifies for another', async (t) => {
  const reply = tokens.replyToken({ recordId: 1, messageId: 2, partnerId: 3 })
  const bounce = tokens.bounceToken({ source: 'ochat', messageId: 1, userId: 2 })
  const unfollow = tokens.unfollowToken({ recordId: 1, partnerId: 2 })
  const file = tokens.fileLinkToken({ attachmentId: 1, expiresAt: 2 })
  t.equal(tokens.readBounceToken(`o${reply.split('-').slice(1).join('-')}`), null, 'reply as bounce')
  t.equal(tokens.readReplyToken(`1-${bounce.slice(1)}`), null, 'bounce as reply')
  t.equal(tokens.readFileLinkToken(unfollow, 0), null, 'unfollow as file link')
  t.equal(tokens.readUnfollowToken(file), null, 'file link as unfollow')
})

t.test('a download link stops working when it expires', async (t) => {
  const expiresAt = now + 1000
  const token = tokens.fileLinkToken({ attachmentId: 8, expiresAt })
  t.ok(tokens.readFileLinkToken(token, expiresAt - 1), 'works until then')
  t.equal(tokens.readFileLinkToken(token, expiresAt), null, 'not at the expiry')
  t.equal(tokens.readFileLinkToken(token, expiresAt + 86_400_000), null, 'nor after')
  const later = tokens.fileLinkToken({ attachmentId: 8, expiresAt: expiresAt + 86_400_000 })
  const [id, , mac] = token.split('.')
  const [, laterExpiry] = later.split('.')
  t.equal(
    tokens.readFileLinkToken(`${id}.${laterExpiry}.${mac}`, expiresAt),
    null,
    'a link cannot be given a later expiry',
  )
})

t.test('a node keeps its key across restarts: links in sent emails keep working', async (t) => {
  const node = await buildNode(t)
  const first = MailTokens.load(node.database.db, node.clock.now())
  const token = first.unfollowToken({ recordId: 5, partnerId: 6 })
  const again = MailTokens.load(node.database.db, node.clock.now())
  t.same(again.readUnfollowToken(token), { recordId: 5, partnerId: 6 })
  const other = await buildNode(t)
  t.equal(
    MailTokens.load(other.database.db, other.clock.now()).readUnfollowToken(token),
    null,
    'another node refuses it',
  )
})
