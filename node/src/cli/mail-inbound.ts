import { systemClock } from '@ochat/shared-protocol/server'
import { createLogger } from '../app.ts'
import type { Config } from '../config.ts'
import { openDatabase } from '../db/client.ts'
import { WriteQueue } from '../db/write-queue.ts'
import { LiveHub } from '../live/hub.ts'
import { intakeOf } from '../mail/inbound/smtp-listener.ts'
import { MailSender } from '../mail/sender.ts'
import { MailTokens } from '../mail/tokens.ts'
import { ModelRegistry } from '../models/registry.ts'
import { ensureBaseData } from '../models/seed.ts'
import type { Io } from './io.ts'

/** sysexits(3): what an MTA's pipe understands. */
const EX_DATAERR = 65
const EX_NOUSER = 67
const EX_TEMPFAIL = 75

/**
 * One received email from stdin, filed as the SMTP listener files it. The exit code is the MTA's
 * answer: 0 delivered (or dropped on purpose), 67 bounce it, 65 unreadable, 75 try again later.
 */
export async function mailInbound(config: Config, io: Io): Promise<number> {
  const raw = await readStdin(io.stdin ?? process.stdin, config.inboundMaxBytes)
  if (raw === null) {
    io.err(`mail-inbound: the message is larger than NODE_SMTP_MAX_BYTES (${config.inboundMaxBytes} bytes)\n`)
    return EX_DATAERR
  }
  if (raw.length === 0) {
    io.err('mail-inbound: no message on stdin (usage: ochat-node mail-inbound < message.eml)\n')
    return EX_DATAERR
  }
  let database: ReturnType<typeof openDatabase> | undefined
  let mail: MailSender | undefined
  try {
    database = openDatabase(config.databaseFile)
    const registry = new ModelRegistry()
    ensureBaseData({ db: database.db, registry, now: systemClock.now() })
    const log = createLogger(config, { write: (line: string) => io.err(line) } as NodeJS.WritableStream)
    const writes = new WriteQueue(database)
    const tokens = MailTokens.load(database.db, systemClock.now())
    // Emails this mail queues are the running node's to send (its poll finds them): nothing is kicked here.
    mail = new MailSender({
      database,
      writes,
      clock: systemClock,
      config,
      tokens,
      log,
      publish: () => undefined,
    })
    const live = new LiveHub()
    const intake = intakeOf({
      database,
      writes,
      clock: systemClock,
      registry,
      live,
      config,
      mail,
      tokens,
      log,
    })
    const result = await intake.receive({ raw, via: 'cli' })
    const line = `${result.outcome}${result.reason ? `: ${result.reason}` : ''} (incoming mail ${result.incomingId}${result.recordId ? `, record ${result.recordId}` : ''})\n`
    if (result.smtp.code >= 400 && result.smtp.code < 500) {
      io.err(`mail-inbound: ${line}`)
      return EX_TEMPFAIL
    }
    if (result.outcome === 'refused') {
      io.err(`mail-inbound: ${line}`)
      return EX_NOUSER
    }
    if (result.outcome === 'error') {
      io.err(`mail-inbound: ${line}`)
      return EX_DATAERR
    }
    io.out(line)
    return 0
  } catch (error) {
    // Whatever kept it from being stored (a busy or locked database, a full disk): the MTA keeps the
    // message and tries again, rather than bouncing mail the node never looked at.
    const code = (error as { code?: string }).code
    const busy = typeof code === 'string' && code.startsWith('SQLITE_BUSY')
    io.err(
      `mail-inbound: ${busy ? 'the database is busy' : 'cannot store the message now'}: ${(error as Error).message}\n`,
    )
    return EX_TEMPFAIL
  } finally {
    await mail?.close()
    database?.close()
  }
}

/** stdin whole, or null once past `maxBytes` (the rest is read and dropped, so the writer is not blocked). */
async function readStdin(input: AsyncIterable<Buffer | string>, maxBytes: number): Promise<Buffer | null> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of input) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
    size += bytes.length
    if (size <= maxBytes) chunks.push(bytes)
    else chunks.length = 0
  }
  return size > maxBytes ? null : Buffer.concat(chunks, size)
}
