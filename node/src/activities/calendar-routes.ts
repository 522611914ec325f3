import { rawBody, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import type { FastifyInstance } from 'fastify'
import { principalOf } from '../auth/plugin.ts'
import { randomToken } from '../auth/tokens.ts'
import type { Db } from '../db/client.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import { NodeError } from '../errors.ts'
import { icalTokenOf, setIcalToken, userByIcalToken } from '../people/repository.ts'
import type { SiteSettings } from '../settings.ts'
import { icalFeed } from './ical.ts'
import { CalendarViewSchema, presentCalendar } from './presenter.ts'
import { openEventsOf } from './repository.ts'
import { IcalParams } from './schema.ts'

/**
 * Each user's calls and meetings as an iCal feed. Calendar apps cannot log in, so the secret token
 * in the URL is the credential: the user reads their URL, and rotates the token if it leaked (the old
 * URL stops working at once).
 */
export async function calendarRoutes(
  app: FastifyInstance,
  opts: { db: Db; config: SiteSettings; writes: WriteQueue },
) {
  const { db } = opts
  const routes = app.withTypeProvider<ZodTypeProvider>()

  routes.get(
    '/api/v1/my/calendar',
    {
      config: { access: 'user', scope: 'activities:read' },
      schema: {
        summary: 'The URL of your iCal feed of calls and meetings (the URL is the secret)',
        response: { 200: CalendarViewSchema },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const token = icalTokenOf(db, principal.userId)
      if (token === undefined) throw new NodeError('E_NOT_FOUND')
      return presentCalendar(opts.config.publicUrl, token)
    },
  )

  routes.post(
    '/api/v1/my/calendar/rotate',
    {
      config: { access: 'user', scope: 'activities:write' },
      schema: {
        summary: 'A new iCal feed URL; the old one stops working',
        response: { 200: CalendarViewSchema },
      },
    },
    async (request) => {
      const principal = principalOf(request)
      const token = randomToken(24)
      await opts.writes.run((tx) => setIcalToken(tx, principal.userId, token))
      return presentCalendar(opts.config.publicUrl, token)
    },
  )

  routes.get(
    '/ical/:token.ics',
    {
      config: { access: 'public' },
      schema: {
        summary: "A user's calls and meetings as an iCal feed (the token is the secret)",
        params: IcalParams,
        response: { 200: rawBody('text/calendar', 'The feed (RFC 5545)') },
      },
    },
    async (request, reply) => {
      const { token } = request.params
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
    },
  )
}
