import type { Test } from 'tap'
import { newEffects } from '../src/live/events.ts'
import { emailBody } from '../src/mail/inbound/body.ts'
import { applyBounce, readReport } from '../src/mail/inbound/bounce.ts'
import { discardPending, type StoredFile, syncPlaced, writePending } from '../src/mail/inbound/files.ts'
import { parseMail } from '../src/mail/inbound/parse.ts'
import { MailTokens } from '../src/mail/tokens.ts'
import { applyPartnerBounce } from '../src/ochat/email/bounce.ts'
import { ChannelTokens } from '../src/ochat/email/channel-token.ts'
import { findPartnerReply, receivePartnerReply } from '../src/ochat/email/receive-reply.ts'
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

/**
 * A mail taken in the way the intake dispatches one for an email channel (mail/inbound/receive.ts):
 * parsed and its body read by the intake's own code, then a bounce goes to applyPartnerBounce (before
 * the record emails' applyBounce), anything else to findPartnerReply and receivePartnerReply, in one
 * transaction whose live events are published after the commit.
 */
export async function takeIn(node: TestNode, raw: string, envelopeTo: string[] = []) {
  const parsed = await parseMail(Buffer.from(raw))
  if (!parsed.ok) throw new Error(parsed.reason)
  const mail = parsed.mail
  const tokens = ChannelTokens.of(node.database.db, node.clock.now())
  const recipients = [...new Set([...mail.recipients, ...envelopeTo.map((to) => to.toLowerCase())])]
  const bounceTokens = recipients.flatMap((address) =>
    address.startsWith('bounce+') && address.endsWith(`@${MAIL_DOMAIN}`)
      ? [address.slice('bounce+'.length, -MAIL_DOMAIN.length - 1)]
      : [],
  )
  const effects = newEffects()
  const stored: StoredFile[] = []
  const directories = new Set<string>()
  const pending = await writePending(node.config.attachmentDir, mail.attachments)
  const outcome = await node.inbound.deps.writes.run((tx) => {
    if (bounceTokens.length > 0 || mail.contentType === 'multipart/report') {
      const report = readReport(Buffer.from(raw), mail)
      const args = { bounceTokens, report, mailDomain: MAIL_DOMAIN }
      return (
        applyPartnerBounce(tx, { ...args, tokens, now: node.clock.now(), effects }) ??
        applyBounce(tx, { ...args, tokens: MailTokens.load(node.database.db, node.clock.now()) })
      )
    }
    const target = findPartnerReply(tx, {
      recipients,
      mailDomain: MAIL_DOMAIN,
      threadIds: mail.threadIds,
      tokens,
    })
    if (!target) return { outcome: 'refused', reason: 'no address here takes mail' }
    return receivePartnerReply(tx, {
      target,
      mail,
      html: emailBody(mail),
      pending,
      stored,
      directories,
      attachmentDir: node.config.attachmentDir,
      now: node.clock.now(),
      effects,
    })
  })
  await syncPlaced(directories)
  await discardPending(pending)
  node.inbound.deps.live.publish(effects)
  return outcome as { outcome?: string; reason: string | null; messageId?: number }
}
