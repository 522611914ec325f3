import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { and, eq } from 'drizzle-orm'
import t from 'tap'
import { plainText } from '../src/chatter/body.ts'
import { attachments, mailAliases, messages, notifications, partners, records } from '../src/db/schema.ts'
import { type InboundResult, receiveMail } from '../src/mail/inbound/receive.ts'
import { ensureThreadIds } from '../src/mail/thread-ids.ts'
import { type CorpusExpect, type CorpusThread, loadManifest, readMessage } from './fixtures/mail/corpus.ts'
import { GENERATORS } from './fixtures/mail/generated.ts'
import { buildNode, buildPartner, buildRecord, buildUser } from './helpers.ts'
import { startSmtpSink } from './smtp-sink.ts'

/**
 * Every message of the incoming-mail corpus (fixtures/mail/) delivered to a real node, in order, each
 * landing where its manifest entry says: a new lead or ticket, a post on the record it answers (as a
 * note when it answers a note), a bounce applied to the email it reports, or dropped, refused or
 * filed as unreadable. The aliases take mail from everyone here, so that who may write is not what
 * decides (mail-in.test.ts covers the policies).
 */

const DOMAIN = 'acme.example'
const manifest = loadManifest()

t.test('every corpus message lands where the manifest says, and none throws', async (t) => {
  const sink = await startSmtpSink(t)
  const node = await buildNode(t, {
    env: { NODE_SMTP_URL: sink.url, NODE_MAIL_DOMAIN: DOMAIN, NODE_MAIL_FROM: `notifications@${DOMAIN}` },
  })
  const deps = node.inbound.deps
  node.database.db.update(mailAliases).set({ contactPolicy: 'everyone' }).run()
  const sarah = await buildUser(node, { name: 'Sarah Sales' })
  const db = node.database.db

  /** A record of the model with a customer following it, and a message of the subtype emailed to them. */
  async function thread(spec: CorpusThread, customerEmail: string) {
    const customer = buildPartner(node, { name: `Customer ${customerEmail}`, email: customerEmail })
    const record = await buildRecord(sarah, spec.model)
    await sarah.call('POST', `/api/v1/records/${record.id}/followers`, { partnerId: customer.id })
    const posted = await sarah.call('POST', `/api/v1/records/${record.id}/messages`, {
      kind: spec.subtype === 'note' ? 'note' : 'message',
      body: 'Our message',
      format: 'markdown',
    })
    const messageId = posted.body.id as number
    const ids = await deps.writes.run((tx) =>
      ensureThreadIds(tx, { mail: { id: 0, messageId, recordId: record.id }, mailDomain: DOMAIN }),
    )
    const notification = db
      .select()
      .from(notifications)
      .where(and(eq(notifications.messageId, messageId), eq(notifications.partnerId, customer.id)))
      .get()
    const tokenPartner = spec.subtype === 'note' ? sarah.partnerId : customer.id
    return {
      customer,
      record,
      messageId,
      notificationId: notification?.id ?? null,
      values: {
        replyToken: deps.tokens.replyToken({ recordId: record.id, messageId, partnerId: tokenPartner }),
        bounceToken: deps.tokens.bounceToken({ source: 'record', notificationId: notification?.id ?? 0 }),
        messageId: ids.own,
      },
    }
  }

  const noThread = {
    replyToken: deps.tokens.replyToken({ recordId: 999_999, messageId: 1, partnerId: 1 }),
    bounceToken: deps.tokens.bounceToken({ source: 'record', notificationId: 999_999 }),
    messageId: `nothing-of-ours@${DOMAIN}`,
  }

  const modelOf = (recordId: number | null) =>
    recordId === null
      ? null
      : node.registry.byId(db.select().from(records).where(eq(records.id, recordId)).get()?.modelId ?? 0)
          ?.name
  const results = new Map<string, InboundResult>()

  for (const entry of manifest.messages) {
    const isBounce = entry.expect === 'bounce-notification'
    const original = readMessage(entry.file, noThread).toString('latin1')
    const made = entry.thread
      ? await thread(entry.thread, `reader-${entry.file.slice(0, 2)}@example.com`)
      : isBounce
        ? await thread({ model: 'lead', subtype: 'comment' }, bouncedAddress(original))
        : null
    const raw = readMessage(entry.file, made?.values ?? noThread)
    const result = await receiveMail(deps, { raw, via: 'http' }).catch((error: Error) => {
      t.fail(`${entry.file}: threw ${error.message}`)
      return null
    })
    if (!result) continue
    results.set(entry.file.slice(0, 2), result)
    t.equal(
      outcomeOf(entry.expect),
      result.outcome,
      `${entry.file}: ${entry.expect} (${result.reason ?? 'ok'})`,
    )
    if (entry.expect === 'create-lead') t.equal(modelOf(result.recordId), 'lead', `${entry.file}: a lead`)
    if (entry.expect === 'create-ticket')
      t.equal(modelOf(result.recordId), 'ticket', `${entry.file}: a ticket`)
    if (entry.expect === 'post-to-record' || entry.expect === 'post-internal') {
      t.equal(result.recordId, made?.record.id, `${entry.file}: on the record it answers`)
      const posted = db
        .select()
        .from(messages)
        .where(eq(messages.id, result.messageId ?? 0))
        .get()
      t.equal(
        posted?.internal,
        entry.expect === 'post-internal',
        `${entry.file}: internal only when answering a note`,
      )
    }
    if (isBounce && made?.notificationId) {
      const row = db.select().from(notifications).where(eq(notifications.id, made.notificationId)).get()
      const delayed = entry.file.startsWith('44-')
      t.equal(
        row?.emailStatus === 'bounced',
        !delayed,
        `${entry.file}: ${delayed ? 'not ' : ''}marked bounced`,
      )
      const counted = db.select().from(partners).where(eq(partners.id, made.customer.id)).get()?.emailBounces
      t.equal(counted, delayed ? 0 : 1, `${entry.file}: counted on the address`)
    }
  }

  const bodyOf = (prefix: string) =>
    db
      .select()
      .from(messages)
      .where(eq(messages.id, results.get(prefix)?.messageId ?? 0))
      .get()?.body ?? ''
  const filesOf = (prefix: string) =>
    db
      .select()
      .from(attachments)
      .where(eq(attachments.messageId, results.get(prefix)?.messageId ?? 0))
      .all()
  t.notMatch(bodyOf('17'), /<script|onerror|javascript:|<form|<iframe/i, 'hostile html is inert')
  t.match(
    plainText(bodyOf('17')),
    'Dear customer, your support contract expires today.',
    'and its words stay',
  )
  t.match(bodyOf('02'), '“Heavy duty”', 'windows-1252 text reads as written')
  t.notMatch(bodyOf('20'), /gmail_quote|wrote:/, 'a Gmail quote is left out')
  t.notMatch(bodyOf('21'), /Original Message|From:.*Sent:/s, 'an Outlook quote is left out')
  t.notMatch(bodyOf('23'), /^&gt;/m, 'quoted > lines are left out')
  t.notMatch(bodyOf('23'), /a écrit|chaises de réunion empilables/, 'with the line above them')
  t.match(
    plainText(bodyOf('31')),
    'We need 12 of the same desks in Paris',
    'a forward keeps what it forwards',
  )
  t.same(
    filesOf('13').map((file) => file.fileName),
    ['Gwarancja – paragon zakupu nr 2026-07-14 żółta szafa.pdf', 'zdjęcie stare.png'],
    'attachment names as the sender wrote them',
  )
  t.ok(
    filesOf('03').some((file) => file.mimeType === 'image/png'),
    'a cid: image is an attachment of the message',
  )
  const same = filesOf('37')
  t.equal(same.length, 3, 'the same file attached three times is listed three times')
  t.equal(new Set(same.map((file) => file.sha256)).size, 1, 'with one content')
  const sha = same[0]?.sha256 ?? ''
  t.same(
    readdirSync(join(node.config.attachmentDir, sha.slice(0, 2))).filter((name) => name === sha),
    [sha],
    'stored once',
  )
  t.same(
    filesOf('36').map((file) => [file.fileName, file.size]),
    [
      ['device.log', 0],
      ['empty.bin', 0],
    ],
    'empty attachments are kept',
  )
  const bjorn = db.select().from(partners).where(eq(partners.email, 'bjorn@example.net')).get()
  t.equal(
    bjorn?.name.includes('\uFFFD'),
    false,
    `raw latin-1 header bytes read as windows-1252 (${bjorn?.name})`,
  )
  t.same(
    db.select().from(notifications).where(eq(notifications.emailTo, 'jane.doe@example.org')).all(),
    [],
    'a contact in Cc of a reply to a note is told nothing',
  )
  t.equal(
    sink.mails.filter((mail) => mail.to.includes('mailer-daemon@legacy.example.net')).length,
    0,
    'no answer to a daemon',
  )
})

t.test('the generated giants and bombs are taken in or filed, never thrown', async (t) => {
  const node = await buildNode(t, {
    env: { NODE_MAIL_DOMAIN: DOMAIN, NODE_MAIL_FROM: `notifications@${DOMAIN}` },
  })
  const deps = node.inbound.deps
  node.database.db.update(mailAliases).set({ contactPolicy: 'everyone' }).run()
  for (const entry of manifest.generated) {
    const generate = GENERATORS[entry.name]
    if (!generate) continue
    const started = performance.now()
    // They share one Message-ID; each is delivered as a mail of its own.
    const raw = Buffer.from(
      generate().replace('Message-ID: <big@example.com>', `Message-ID: <big-${entry.name}@example.com>`),
    )
    const result = await receiveMail(deps, { raw, via: 'smtp' })
    t.equal(
      result.outcome,
      outcomeOf(entry.expect),
      `${entry.name}: ${entry.expect} (${result.reason ?? 'ok'})`,
    )
    t.ok(
      performance.now() - started < 10_000,
      `${entry.name}: in ${Math.round(performance.now() - started)} ms`,
    )
    if (entry.expect === 'error') t.equal(result.smtp.code, 554, `${entry.name}: answered 554`)
  }
})

function outcomeOf(expect: CorpusExpect): InboundResult['outcome'] {
  const outcomes: Record<CorpusExpect, InboundResult['outcome']> = {
    'create-lead': 'created',
    'create-ticket': 'created',
    'post-to-record': 'posted',
    'post-internal': 'posted',
    'bounce-notification': 'bounce',
    'drop-duplicate': 'duplicate',
    'drop-auto': 'auto',
    'drop-loop': 'loop',
    refuse: 'refused',
    error: 'error',
  }
  return outcomes[expect]
}

/** The address a report says could not be reached: its Final-Recipient, else the first <address> of its text. */
function bouncedAddress(raw: string): string {
  const final = /^Final-Recipient:\s*rfc822;\s*(\S+)/im.exec(raw)?.[1]
  if (final) return final.toLowerCase()
  const body = raw.slice(raw.search(/\r?\n\r?\n/))
  return /<([^<>\s@]+@[^<>\s]+)>/.exec(body)?.[1]?.toLowerCase() ?? 'someone@example.com'
}
