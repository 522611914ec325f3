import { eq } from 'drizzle-orm'
import t from 'tap'
import { partners } from '../src/db/schema.ts'
import { parseAuthenticationResults } from '../src/mail/inbound/authentication.ts'
import {
  chatter,
  DOMAIN,
  dmarcPass,
  leadWithEmailedMessage,
  mail,
  OUR_MX,
  setPolicy,
  setup,
} from './fixtures/mail/inbound.ts'
import { buildUser } from './helpers.ts'

/**
 * What a From header alone cannot do: a stranger who holds one of our reply tokens, or who writes
 * one of our users' addresses, is still a stranger.
 */

t.test('a reply token made for one of our users does not make a forged From that user', async (t) => {
  const { node, deps, receive, sarah } = await setup(t)
  const { lead } = await leadWithEmailedMessage(node, sarah)
  const bob = await buildUser(node, { name: 'Bob', email: 'bob@acme.test' })
  const asked = await bob.call('POST', `/api/v1/records/${lead.id}/messages`, {
    kind: 'message',
    body: 'Sarah, please confirm the price',
    format: 'markdown',
  })
  // The token on Sarah's copy of Bob's message, as a forwarded notification would carry it.
  const token = deps.tokens.replyToken({
    recordId: lead.id,
    messageId: asked.body.id,
    partnerId: sarah.partnerId,
  })
  const forged = await receive(
    mail({ from: 'Sarah Sales <sarah@acme.test>', to: `reply+${token}@${DOMAIN}`, body: 'Approve 40% off' }),
  )
  t.equal(forged.outcome, 'refused', 'unauthenticated, a user address is nobody')
  t.notOk(
    chatter(node, lead.id).some((row) => row.authorPartnerId === sarah.partnerId && row.body.includes('40%')),
    'nothing was posted as Sarah',
  )

  const real = await receive(
    mail({
      from: 'Sarah Sales <sarah@acme.test>',
      to: `reply+${token}@${DOMAIN}`,
      body: 'Confirmed at list price',
      authResults: [dmarcPass('acme.test')],
    }),
  )
  t.equal(real.outcome, 'posted', 'vouched for by our mail server, it is Sarah')
  const posted = chatter(node, lead.id).find((row) => row.id === real.messageId)
  t.equal(posted?.authorPartnerId, sarah.partnerId)
})

t.test('an open alias takes a forged user address as a marked stranger, not a look-alike', async (t) => {
  const { node, receive, sarah } = await setup(t)
  setPolicy(node, 'sales', 'everyone')
  const result = await receive(mail({ from: 'Sarah Sales <sarah@acme.test>', to: `sales@${DOMAIN}` }))
  t.equal(result.outcome, 'created')
  const author = chatter(node, result.recordId as number).find((row) => row.id === result.messageId)
  t.not(author?.authorPartnerId, sarah.partnerId)
  const contact = node.database.db
    .select()
    .from(partners)
    .where(eq(partners.id, author?.authorPartnerId ?? 0))
    .get()
  t.equal(contact?.name, 'sarah@acme.test (not verified)', 'named so nobody takes it for Sarah')
  t.equal(contact?.internal, false)
})

t.test('only mail that shows its address is really the sender’s clears that address’s bounces', async (t) => {
  const { node, receive } = await setup(t)
  setPolicy(node, 'support', 'internal')
  setPolicy(node, 'sales', 'everyone')
  const gone = node.database.db
    .insert(partners)
    .values({ name: 'Gone', email: 'gone@client.example', emailBounces: 5, createdAt: 0 })
    .returning()
    .get()
  const bounces = () =>
    node.database.db.select().from(partners).where(eq(partners.id, gone.id)).get()?.emailBounces
  t.equal((await receive(mail({ from: 'gone@client.example', to: `support@${DOMAIN}` }))).outcome, 'refused')
  t.equal(bounces(), 5, 'a refused mail changes nothing')
  t.equal((await receive(mail({ from: 'gone@client.example', to: `sales@${DOMAIN}` }))).outcome, 'created')
  t.equal(bounces(), 5, 'nor does an unauthenticated From an open alias let in')
  const vouched = await receive(
    mail({ from: 'gone@client.example', to: `sales@${DOMAIN}`, authResults: [dmarcPass('client.example')] }),
  )
  t.equal(vouched.outcome, 'created')
  t.equal(bounces(), 0, 'an authenticated mail from the address does')
})

t.test('a ";" or "(" inside a quoted value is text, never another result', async (t) => {
  const parsed = parseAuthenticationResults(
    `${OUR_MX}; spf=pass smtp.mailfrom="x;dmarc=pass header.from=acme.test (x"@evil.example; dmarc=fail header.from=acme.test`,
  )
  t.same(
    parsed?.results.map((result) => [result.method, result.result]),
    [
      ['spf', 'pass'],
      ['dmarc', 'fail'],
    ],
  )
  const { node, receive } = await setup(t)
  setPolicy(node, 'support', 'internal')
  const result = await receive(
    mail({
      from: 'sarah@acme.test',
      to: `support@${DOMAIN}`,
      authResults: [
        `${OUR_MX}; spf=pass smtp.mailfrom="x;dmarc=pass header.from=acme.test x"@evil.example; dmarc=fail header.from=acme.test`,
      ],
    }),
  )
  t.equal(result.outcome, 'refused', 'DMARC failed, whatever the envelope sender wrote')
})
