import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { type Clock, rawBody, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import { eq } from 'drizzle-orm'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { contentDisposition } from '../attachments/http.ts'
import { findAttachment } from '../attachments/repository.ts'
import { contentPath } from '../attachments/storage.ts'
import { escapeHtml } from '../chatter/body.ts'
import type { Db } from '../db/client.ts'
import { messages } from '../db/schema.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import { isFollower, unfollow } from '../followers/repository.ts'
import type { LiveHub } from '../live/hub.ts'
import { findRecord } from '../records/repository.ts'
import { LinkTokenParams } from './settings-schema.ts'
import { MailTokens } from './tokens.ts'

/**
 * A page of our own with nothing that runs: no script at all, no style from elsewhere, and the only
 * form posts back here. Not framed, so a click cannot be hijacked into unfollowing.
 */
const PAGE_CSP = "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
/** A one-click unfollow (RFC 8058) posts this small form, or nothing; anything larger is not one. */
const FORM_LIMIT_BYTES = 4096

/**
 * The links the node puts in the emails it sends: unfollow a record (a page with a button, and the
 * one-click POST mail clients send for List-Unsubscribe), and download a file left out of an email.
 * No login: the signed token is the authority, and any token that does not verify is the same 404.
 */
export async function mailLinkRoutes(
  app: FastifyInstance,
  opts: {
    db: Db
    clock: Clock
    writes: WriteQueue
    live: LiveHub
    config: { attachmentDir: string }
  },
) {
  const { db, clock } = opts
  const tokens = MailTokens.load(db, clock.now())
  const routes = app.withTypeProvider<ZodTypeProvider>()

  /** Who the token names and the record, or undefined: tampered, another purpose, or the record is gone. */
  const unfollowTarget = (token: string) => {
    const target = tokens.readUnfollowToken(token)
    const record = target ? findRecord(db, target.recordId) : undefined
    return target && record ? { ...target, record } : undefined
  }

  routes.get(
    '/mail/unfollow/:token',
    {
      config: { access: 'public' },
      schema: {
        summary: 'The unfollow link of an email: a page asking to confirm (following it changes nothing)',
        params: LinkTokenParams,
        response: {
          200: rawBody('text/html', 'The page with the Unfollow button'),
          404: rawBody('text/html', 'The link is not valid'),
        },
      },
    },
    async (request, reply) => {
      const { token } = request.params
      const target = unfollowTarget(token)
      if (!target) return sendPage(reply, 404, badLinkPage())
      if (!isFollower(db, target.recordId, target.partnerId))
        return sendPage(reply, 200, unfollowedPage(target.record.name))
      const name = escapeHtml(target.record.name)
      // A GET never unfollows: mail scanners and link previews open every link of an email. The form
      // posts to this same URL, relative, so a node served under a path prefix works too.
      return sendPage(reply, 200, {
        title: `Stop following ${target.record.name}?`,
        body: `<h1>Stop following ${name}?</h1>
<p>You will no longer get emails about ${name}.</p>
<form method="post" action="${encodeURIComponent(token)}">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unfollow</button>
</form>`,
      })
    },
  )

  // Mail clients send the one-click POST as a form, urlencoded or multipart; its content is fixed by
  // RFC 8058 and tells nothing the token does not, so any small body is taken and left unread.
  await routes.register(async (scope) => {
    const post = scope.withTypeProvider<ZodTypeProvider>()
    post.removeAllContentTypeParsers()
    post.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: FORM_LIMIT_BYTES },
      (_request, _body, done) => done(null, undefined),
    )
    post.post(
      '/mail/unfollow/:token',
      {
        config: { access: 'public' },
        schema: {
          summary:
            "Unfollow from an email: the page's button, or a one-click List-Unsubscribe POST (RFC 8058)",
          params: LinkTokenParams,
          response: {
            200: rawBody('text/html', 'Unfollowed (or no longer following already)'),
            404: rawBody('text/html', 'The link is not valid'),
          },
        },
      },
      async (request, reply) => {
        const target = unfollowTarget(request.params.token)
        if (!target) return sendPage(reply, 404, badLinkPage())
        const removed = await opts.writes.run((tx) => unfollow(tx, target.recordId, target.partnerId))
        if (removed)
          opts.live.publish({
            events: [{ scope: 'record', recordId: target.recordId, type: 'followers.changed' }],
          })
        return sendPage(reply, 200, unfollowedPage(target.record.name))
      },
    )
  })

  routes.get(
    '/mail/files/:token',
    {
      config: { access: 'public' },
      schema: {
        summary: 'Download a file an email linked to instead of attaching it (until the link expires)',
        params: LinkTokenParams,
        response: {
          200: rawBody('application/octet-stream', 'The file, with the type it was uploaded with'),
          404: rawBody('text/html', 'The link is not valid or has expired'),
        },
      },
    },
    async (request, reply) => {
      const target = tokens.readFileLinkToken(request.params.token, clock.now())
      const row = target ? findAttachment(db, target.attachmentId) : undefined
      // A file no longer on a message or activity, or on a deleted message, was deleted with it: its
      // old links die too.
      if (
        !row ||
        (row.messageId === null && row.activityId === null) ||
        (row.messageId !== null && messageDeleted(db, row.messageId))
      )
        return sendPage(reply, 404, badLinkPage('This download link has expired or is not valid.'))
      const path = contentPath(opts.config.attachmentDir, row.sha256)
      // A row without its file is the node's fault (lost data), not the caller's: a logged 500.
      await stat(path)
      void reply
        .header('content-type', row.mimeType)
        .header('content-disposition', contentDisposition(row.fileName))
        // Never let a browser guess the type or run an uploaded page as ours.
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "default-src 'none'; sandbox")
        .header('cache-control', 'private, no-store')
        .header('content-length', row.size)
      return reply.send(row.size === 0 ? '' : createReadStream(path))
    },
  )
}

type Page = { title: string; body: string }

function unfollowedPage(recordName: string): Page {
  const name = escapeHtml(recordName)
  return {
    title: `You no longer follow ${recordName}`,
    body: `<h1>You no longer follow ${name}</h1>
<p>No more emails about it will be sent to you. To follow it again, open it and choose Follow.</p>`,
  }
}

function badLinkPage(text = 'This link is not valid.'): Page {
  return {
    title: 'Link not valid',
    body: `<h1>Link not valid</h1>\n<p>${escapeHtml(text)} Links in emails work only as they were sent.</p>`,
  }
}

/** `page.title` is plain text, `page.body` HTML whose every variable the caller escaped. */
function sendPage(reply: FastifyReply, status: number, page: Page): FastifyReply {
  return reply
    .status(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('content-security-policy', PAGE_CSP)
    .header('cache-control', 'no-store')
    .header('referrer-policy', 'no-referrer')
    .send(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(page.title)}</title></head>
<body>
${page.body}
</body>
</html>
`)
}

function messageDeleted(db: Db, messageId: number): boolean {
  const row = db
    .select({ deletedAt: messages.deletedAt })
    .from(messages)
    .where(eq(messages.id, messageId))
    .get()
  return !row || row.deletedAt !== null
}
