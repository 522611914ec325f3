import { eq } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { principalOf } from '../auth/plugin.ts'
import { randomToken } from '../auth/tokens.ts'
import type { Config } from '../config.ts'
import type { Db } from '../db/client.ts'
import { users } from '../db/schema.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import { NodeError, parseWith } from '../errors.ts'
import { icalFeed } from './ical.ts'
import { openEventsOf, userByIcalToken } from './repository.ts'

const IcalParams = z.object({ token: z.string().min(1).max(200) })
export const CalendarViewSchema = z.object({
  /** Subscribe to it in a calendar app; anyone with the URL sees your calls and meetings. */
  url: z.string(),
})

/**
 * Each user's calls and meetings as an iCal feed. Calendar apps cannot log in, so the secret token
 * in the URL is the credential: the user reads their URL, and rotates the token if it leaked (the old
 * URL stops working at once).
 */
export async function calendarRoutes(
  app: FastifyInstance,
  opts: { db: Db; config: Config; writes: WriteQueue },
) {
  const { db } = opts
  const urlOf = (token: string) => ({ url: `${opts.config.publicUrl}/ical/${token}.ics` })

  app.get(
    '/api/v1/my/calendar',
    { config: { access: 'user', scope: 'activities:read' } },
    async (request) => {
      const principal = principalOf(request)
      const row = db
        .select({ token: users.icalToken })
        .from(users)
        .where(eq(users.id, principal.userId))
        .get()
      if (!row) throw new NodeError('E_NOT_FOUND')
      return urlOf(row.token)
    },
  )

  app.post(
    '/api/v1/my/calendar/rotate',
    { config: { access: 'user', scope: 'activities:write' } },
    async (request) => {
      const principal = principalOf(request)
      const token = randomToken(24)
      await opts.writes.run((tx) =>
        tx.update(users).set({ icalToken: token }).where(eq(users.id, principal.userId)).run(),
      )
      return urlOf(token)
    },
  )

  app.get('/ical/:token.ics', { config: { access: 'public' } }, async (request, reply) => {
    const { token } = parseWith(IcalParams, request.params, 'E_INVALID_PARAMS')
    const feed = db.transaction((tx) => {
      const user = userByIcalToken(tx, token)
      if (!user) throw new NodeError('E_NOT_FOUND')
      return icalFeed({
        events: openEventsOf(tx, user.id),
        name: `${opts.config.company} activities`,
        publicUrl: opts.config.publicUrl,
      })
    })
    return reply
      .header('content-type', 'text/calendar; charset=utf-8')
      .header('cache-control', 'private, no-store')
      .send(feed)
  })
}
