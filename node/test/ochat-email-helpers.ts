import type { Test } from 'tap'
import { receiveMail } from '../src/mail/inbound/receive.ts'
import { type Actor, buildPartner, buildUser, type TestNode } from './helpers.ts'
import { buildOchatNode, type FakeRelay, startFakeRelay } from './ochat-helpers.ts'
import { startSmtpSink } from './smtp-sink.ts'

export const MAIL_DOMAIN = 'mail.acme.test'

/**
 * An O'Chat node (registered with a fake relay, no PostgreSQL) that sends mail to a real SMTP sink,
 * with an admin, a member and the contact partner companies are filed under.
 */
export async function emailPartnerNode(t: Test, env: Record<string, string> = {}) {
  const sink = await startSmtpSink(t)
  const relay: FakeRelay = await startFakeRelay(t)
  const { node, admin } = await buildOchatNode(t, relay, {
    env: {
      NODE_SMTP_URL: sink.url,
      NODE_MAIL_FROM: 'ochat@acme.test',
      NODE_MAIL_DOMAIN: MAIL_DOMAIN,
      NODE_PUBLIC_URL: 'https://crm.acme.test',
      ...env,
    },
  })
  const member = await buildUser(node, { name: 'Mia Member' })
  const contact = buildPartner(node, {
    name: 'Gina Globex',
    companyName: 'Globex',
    email: 'gina@globex.test',
  })
  return { sink, relay, node, admin, member, contact }
}

/** Adds Globex, reached at `email`, and answers its connection and channel. */
export async function addGlobex(admin: Actor, contactPartnerId: number, email = 'Orders@Globex.test') {
  const added = await admin.call('POST', '/api/v1/ochat/connections/email', {
    name: 'Globex',
    email,
    contactPartnerId,
  })
  if (added.status !== 201) throw new Error(`not added: ${added.status} ${JSON.stringify(added.body)}`)
  return {
    connectionId: added.body.id as string,
    channelId: added.body.channelId as number,
    view: added.body,
  }
}

export async function send(actor: Actor, channelId: number, body: string, attachmentIds: number[] = []) {
  const sent = await actor.call('POST', `/api/v1/ochat/channels/${channelId}/messages`, {
    body,
    attachmentIds,
  })
  if (sent.status !== 201) throw new Error(`not sent: ${sent.status} ${JSON.stringify(sent.body)}`)
  return sent.body as { id: number; status: string; transport: string }
}

// biome-ignore lint/suspicious/noExplicitAny: message views are asserted field by field
export async function messageView(actor: Actor, channelId: number, id: number): Promise<any> {
  const page = await actor.call('GET', `/api/v1/ochat/channels/${channelId}/messages`)
  // biome-ignore lint/suspicious/noExplicitAny: as above
  return page.body.items.find((item: any) => item.id === id)
}

/** Sends what is due now and waits until the sender is done. */
export async function drain(node: TestNode): Promise<void> {
  node.mail.kick()
  await node.mail.idle()
}

/** A mail taken in by the node's intake, as its SMTP listener hands one over (with the envelope's recipients). */
export async function takeIn(node: TestNode, raw: string, envelopeTo: string[] = []) {
  return receiveMail(node.inbound.deps, {
    raw: Buffer.from(raw),
    via: 'smtp',
    envelope: { from: null, to: envelopeTo },
  })
}
