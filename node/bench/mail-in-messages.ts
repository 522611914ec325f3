// The mail the incoming-mail bench sends: what customers write to a company, built before the clock
// starts. Plain text with an HTML alternative; every fourth carries a small PDF.
import { randomBytes } from 'node:crypto'
import MailComposer from 'nodemailer/lib/mail-composer'
import type { Prepared } from './smtp-load.ts'

/** An email the node sent to a customer, as the customer's mail program answers it. */
export type ReplyTarget = { customer: string; replyTo: string; messageId: string; subject: string }

const PARAGRAPHS = [
  'Thank you for the quick answer. We would like to go ahead with the forty standing desks in oak, delivered to our Lyon office.',
  'Could you confirm that the price includes assembly, and tell us how long the delivery takes once the order is signed?',
  'Our accounts department needs the invoice with our VAT number on it; I have put it in my signature below.',
]
const SIGNATURE = 'Best regards,\nCarla Customer\nPurchasing, Client Industries\nVAT FR 12 345678901'
/** A 40 KiB PDF, different in each mail: equal content is stored once, and customers' files differ. */
const pdf = () => randomBytes(40 * 1024)

let serial = 0
function messageId(): string {
  return `<${Date.now().toString(36)}.${++serial}@mail.client.example>`
}

function html(paragraphs: string[], quoted?: string): string {
  const body = paragraphs.map((text) => `<p>${text}</p>`).join('')
  const signature = `<p>${SIGNATURE.replaceAll('\n', '<br>')}</p>`
  const original = quoted ? `<blockquote type="cite"><p>${quoted}</p></blockquote>` : ''
  return `<html><body><div dir="ltr">${body}${signature}</div>${original}</body></html>`
}

async function build(mail: ConstructorParameters<typeof MailComposer>[0]): Promise<Buffer> {
  return new MailComposer(mail).compile().build()
}

/** A new customer's first mail to sales@: the node makes a lead of it. */
export async function newLead(input: { from: string; to: string; n: number }): Promise<Prepared> {
  const raw = await build({
    from: `Prospect ${input.n} <${input.from}>`,
    to: input.to,
    subject: `Quote for 40 standing desks (${input.n})`,
    messageId: messageId(),
    text: `${PARAGRAPHS.join('\n\n')}\n\n${SIGNATURE}`,
    html: html(PARAGRAPHS),
    ...(input.n % 4 === 0 ? { attachments: [{ filename: 'floor-plan.pdf', content: pdf() }] } : {}),
  })
  return { from: input.from, to: input.to, raw }
}

/** A customer's answer to one of the node's emails: the node posts it on the record. */
export async function reply(target: ReplyTarget, n: number): Promise<Prepared> {
  const said = PARAGRAPHS.slice(0, 2)
  const raw = await build({
    from: `Customer <${target.customer}>`,
    to: target.replyTo,
    subject: `Re: ${target.subject}`,
    messageId: messageId(),
    inReplyTo: target.messageId,
    references: [target.messageId],
    text: `${said.join('\n\n')}\n\n${SIGNATURE}\n\nOn Monday, Acme wrote:\n> Here is our offer for the desks.\n`,
    html: html(said, 'Here is our offer for the desks.'),
    ...(n % 4 === 1 ? { attachments: [{ filename: 'signed-order.pdf', content: pdf() }] } : {}),
  })
  return { from: target.customer, to: target.replyTo, raw }
}

/** About `bytes` of message: a short reply carrying one large attachment (base64 adds about 37%). */
export async function largeReply(target: ReplyTarget, bytes: number): Promise<Prepared> {
  const raw = await build({
    from: `Customer <${target.customer}>`,
    to: target.replyTo,
    subject: `Re: ${target.subject}`,
    messageId: messageId(),
    inReplyTo: target.messageId,
    references: [target.messageId],
    text: 'The scanned plans are attached.',
    html: html(['The scanned plans are attached.']),
    attachments: [{ filename: 'plans.pdf', content: randomBytes(Math.floor(bytes / 1.3685)) }],
  })
  return { from: target.customer, to: target.replyTo, raw }
}
