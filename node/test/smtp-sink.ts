import type { AddressInfo } from 'node:net'
import { type ParsedMail, simpleParser } from 'mailparser'
import { SMTPServer } from 'smtp-server'
import type { Test } from 'tap'

export type ReceivedMail = { from: string; to: string[]; raw: Buffer; parsed: ParsedMail }
/** null accepts the mail (250); anything else refuses it with that code and message. */
export type SinkAnswer = { code: number; message: string } | null
export type SmtpSink = {
  port: number
  /** Usable as NODE_SMTP_URL: plain SMTP, no TLS, no auth. */
  url: string
  /** Accepted mails, in the order the server accepted them. */
  mails: ReceivedMail[]
  /** The next accepted mail not yet returned by next(), waiting for it if none is there yet. */
  next(): Promise<ReceivedMail>
  answerWith(fn: (envelope: { from: string; to: string[] }) => SinkAnswer): void
  /** Refuses MAIL FROM itself with this answer (a sender the login may not use); null accepts again. */
  refuseSender(answer: SinkAnswer): void
}

/**
 * A real SMTP server in the test process, so mail goes through the same client code and the same wire
 * protocol as in production. The answer is given after the whole message arrived (end of DATA), where
 * real servers give most content and quota refusals, so the sender sees a refusal only after sending.
 */
export async function startSmtpSink(t: Test): Promise<SmtpSink> {
  const mails: ReceivedMail[] = []
  let read = 0
  const waiting: Array<(mail: ReceivedMail) => void> = []
  let answer: (envelope: { from: string; to: string[] }) => SinkAnswer = () => null
  let senderRefusal: SinkAnswer = null

  const server = new SMTPServer({
    secure: false,
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    // A pooled client keeps its connections open; closing must not wait the default 30 s for them.
    closeTimeout: 200,
    // Big enough for the attachment tests; the node decides what to attach, not the sink.
    size: 64 * 1024 * 1024,
    onMailFrom(_address, _session, callback) {
      if (!senderRefusal) return callback()
      callback(Object.assign(new Error(senderRefusal.message), { responseCode: senderRefusal.code }))
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (chunk: Buffer) => chunks.push(chunk))
      stream.on('error', (error) => callback(error))
      stream.on('end', () => {
        const raw = Buffer.concat(chunks)
        const envelope = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
        }
        const refusal = answer(envelope)
        if (refusal) {
          callback(Object.assign(new Error(refusal.message), { responseCode: refusal.code }))
          return
        }
        simpleParser(raw).then(
          (parsed) => {
            const mail: ReceivedMail = { ...envelope, raw, parsed }
            mails.push(mail)
            const waiter = waiting.shift()
            if (waiter) {
              read++
              waiter(mail)
            }
            callback(null)
          },
          (error: Error) => callback(error),
        )
      })
    },
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  // A client dropping its pooled connection mid-session is not a test failure.
  server.on('error', () => {})
  const port = ((server as unknown as { server: { address(): AddressInfo } }).server.address() as AddressInfo)
    .port
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))

  return {
    port,
    url: `smtp://127.0.0.1:${port}?security=none`,
    mails,
    next() {
      if (read < mails.length) return Promise.resolve(mails[read++] as ReceivedMail)
      return new Promise((resolve) => waiting.push(resolve))
    },
    answerWith(fn) {
      answer = fn
    },
    refuseSender(refusal) {
      senderRefusal = refusal
    },
  }
}
