import { type Clock, refusal, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import { eq } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import { principalOf } from '../auth/plugin.ts'
import type { Db, Tx } from '../db/client.ts'
import { mailSettings } from '../db/schema.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import { MailError } from './errors.ts'
import {
  MailSettingsViewSchema,
  presentMailSettings,
  presentTestOutcome,
  TestEmailResultSchema,
} from './settings-presenter.ts'
import { type MailSettingsUpdate, MailSettingsUpdateSchema, TestEmailBodySchema } from './settings-schema.ts'
import { effectiveMailSettings, type MailEnvSettings, type MailSettingsView } from './smtp-settings.ts'
import { sendTestEmail } from './transport.ts'

/** The one row of admin settings. */
const ROW_ID = 1
/** Test emails: at most this many per window, for the whole node (each one opens an SMTP session). */
const TESTS_PER_WINDOW = 5
const TEST_WINDOW_MS = 60_000

/** Which body fields each source governs: a field the environment sets cannot be saved here. */
const FIELDS_OF = {
  server: ['host', 'port', 'security', 'user', 'password'],
  from: ['from'],
  mailDomain: ['mailDomain'],
} as const satisfies Record<keyof MailSettingsView['sources'], (keyof MailSettingsUpdate)[]>

const admin = { access: 'user', scope: 'admin', admin: true } as const

/** Administration → Mail: the outgoing mail server, From address and mail domain, and a test email. */
export async function mailSettingsRoutes(
  app: FastifyInstance,
  opts: {
    db: Db
    clock: Clock
    writes: WriteQueue
    /** The environment's mail settings, and the company name the test email is signed with. */
    config: MailEnvSettings & { company: string }
    /** The sender: re-reads the settings after a save. */
    mail: { reconfigure(): void }
  },
) {
  const { db, clock, config } = opts
  const routes = app.withTypeProvider<ZodTypeProvider>()
  const readRow = (tx: Db | Tx) => tx.select().from(mailSettings).where(eq(mailSettings.id, ROW_ID)).get()
  const effective = (row: ReturnType<typeof readRow>) => effectiveMailSettings(config, row)
  const testTimes: number[] = []

  routes.get(
    '/api/v1/mail/settings',
    {
      config: admin,
      schema: {
        summary: 'Outgoing mail settings, where each comes from, and what is missing (administrators)',
        response: { 200: MailSettingsViewSchema },
      },
    },
    async () => {
      const row = readRow(db)
      return presentMailSettings(effective(row), row, config)
    },
  )

  routes.put(
    '/api/v1/mail/settings',
    {
      config: admin,
      schema: {
        summary:
          'Change the outgoing mail settings (administrators): a field left out is kept, null clears it; the password is write-only',
        body: MailSettingsUpdateSchema,
        response: {
          200: MailSettingsViewSchema,
          409: refusal(
            'A field given is set by the environment and can only change there (E_MAIL_SETTING_FROM_ENVIRONMENT)',
          ),
        },
      },
    },
    async (request) => {
      const { userId } = principalOf(request)
      const row = await opts.writes.run((tx) =>
        saveMailSettings(tx, { update: request.body, env: config, userId, now: clock.now() }),
      )
      opts.mail.reconfigure()
      return presentMailSettings(effective(row), row, config)
    },
  )

  routes.post(
    '/api/v1/mail/settings/test',
    {
      config: admin,
      schema: {
        summary:
          "Send a test email with the saved settings (administrators): the server's answer, or why it failed and what to check",
        body: TestEmailBodySchema,
        response: {
          200: TestEmailResultSchema,
          409: refusal(
            'Mail is not set up enough to try (E_MAIL_NOT_CONFIGURED); the reason lists what is missing',
          ),
          429: refusal(`More than ${TESTS_PER_WINDOW} test emails in a minute (E_MAIL_TEST_RATE_LIMITED)`),
        },
      },
    },
    async (request) => {
      const now = clock.now()
      while (testTimes.length > 0 && (testTimes[0] as number) <= now - TEST_WINDOW_MS) testTimes.shift()
      if (testTimes.length >= TESTS_PER_WINDOW) {
        const seconds = Math.max(1, Math.ceil(((testTimes[0] as number) + TEST_WINDOW_MS - now) / 1000))
        throw new MailError('E_MAIL_TEST_RATE_LIMITED', `try again in ${seconds} s`, {
          headers: { 'retry-after': String(seconds) },
        })
      }
      const view = effective(readRow(db))
      if (!view.settings)
        throw new MailError(
          'E_MAIL_NOT_CONFIGURED',
          `missing: ${view.missing.join('; ') || 'the mail server'}`,
        )
      testTimes.push(now)
      const outcome = await sendTestEmail(view.settings, { to: request.body.to, company: config.company })
      return presentTestOutcome(outcome)
    },
  )
}

/**
 * Saves the admin's mail settings: each field given replaces the saved one, the rest stay. A field the
 * environment sets is refused rather than saved unseen: the admin would see no effect.
 */
export function saveMailSettings(
  tx: Tx,
  input: {
    update: MailSettingsUpdate
    env: MailEnvSettings
    /** The administrator saving, kept on the row. */
    userId: number
    now: number
  },
): typeof mailSettings.$inferSelect {
  const { update } = input
  const current = tx.select().from(mailSettings).where(eq(mailSettings.id, ROW_ID)).get()
  const { sources } = effectiveMailSettings(input.env, current)
  const locked = Object.entries(FIELDS_OF)
    .filter(([source]) => sources[source as keyof typeof FIELDS_OF] === 'environment')
    .flatMap(([, fields]) => fields.filter((field) => update[field] !== undefined))
  if (locked.length > 0)
    throw new MailError('E_MAIL_SETTING_FROM_ENVIRONMENT', `set by the environment: ${locked.join(', ')}`)
  const keep = <T>(given: T | undefined, saved: T | null | undefined): T | null =>
    given === undefined ? (saved ?? null) : given
  const server = {
    smtpHost: keep(update.host, current?.smtpHost),
    smtpPort: keep(update.port, current?.smtpPort),
    smtpSecurity: update.security ?? current?.smtpSecurity ?? 'starttls',
    smtpUser: keep(update.user === '' ? null : update.user, current?.smtpUser),
  }
  // The saved password goes only to the server it was saved for: a new host, port, login or
  // security clears it unless a password comes with the change (an admin's typo, or a stolen admin
  // key, must not send it elsewhere).
  const moved =
    current !== undefined &&
    (server.smtpHost !== current.smtpHost ||
      server.smtpPort !== current.smtpPort ||
      server.smtpSecurity !== current.smtpSecurity ||
      server.smtpUser !== current.smtpUser)
  const smtpPassword =
    update.password !== undefined ? update.password : moved ? null : (current?.smtpPassword ?? null)
  if (smtpPassword && server.smtpSecurity === 'none' && !isLoopback(server.smtpHost))
    throw new MailError('E_MAIL_PASSWORD_IN_CLEAR')
  const values = {
    ...server,
    smtpPassword,
    fromAddress: keep(update.from, current?.fromAddress),
    mailDomain: keep(update.mailDomain, current?.mailDomain),
    updatedAt: input.now,
    updatedBy: input.userId,
  }
  return tx
    .insert(mailSettings)
    .values({ id: ROW_ID, ...values })
    .onConflictDoUpdate({ target: mailSettings.id, set: values })
    .returning()
    .get()
}

/** A server on this machine, where an unencrypted connection never crosses a network. */
function isLoopback(host: string | null): boolean {
  return host === 'localhost' || host === '::1' || (host !== null && /^127\.\d+\.\d+\.\d+$/.test(host))
}
