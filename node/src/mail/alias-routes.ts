import { type Clock, noBody, refusal, type ZodTypeProvider } from '@ochat/shared-protocol/server'
import { asc, eq } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import { itemsOf } from '../api/pagination.ts'
import { principalOf } from '../auth/plugin.ts'
import type { Db } from '../db/client.ts'
import { mailAliases, mailSettings } from '../db/schema.ts'
import type { WriteQueue } from '../db/write-queue.ts'
import { NodeError } from '../errors.ts'
import type { ModelRegistry } from '../models/registry.ts'
import { AliasViewSchema, presentAlias } from './alias-presenter.ts'
import { AliasCreateSchema, AliasParams, AliasUpdateSchema } from './alias-schema.ts'
import { findAlias, saveAlias } from './save-alias.ts'
import { effectiveMailSettings, type MailEnvSettings } from './smtp-settings.ts'

const admin = { access: 'user', scope: 'admin', admin: true } as const

/**
 * Administration → Mail aliases: the addresses mail comes in at (`sales@`, `support@`), each creating
 * records of a model or posting into one record, with who may write to it.
 */
export async function mailAliasRoutes(
  app: FastifyInstance,
  opts: { db: Db; writes: WriteQueue; clock: Clock; registry: ModelRegistry; config: MailEnvSettings },
) {
  const { db, writes, clock, registry } = opts
  const routes = app.withTypeProvider<ZodTypeProvider>()
  // Read at each answer: the administrator may set the mail domain at any time.
  const context = () => ({ registry, mailDomain: mailDomainOf(db, opts.config) })

  routes.get(
    '/api/v1/mail/aliases',
    {
      config: admin,
      schema: {
        summary: 'Mail aliases, by name (administrators)',
        response: { 200: itemsOf(AliasViewSchema) },
      },
    },
    async () => {
      const shown = context()
      const rows = db.select().from(mailAliases).orderBy(asc(mailAliases.name)).all()
      return { items: rows.map((row) => presentAlias(row, shown)) }
    },
  )

  routes.post(
    '/api/v1/mail/aliases',
    {
      config: admin,
      schema: {
        summary: 'Create a mail alias (administrators)',
        body: AliasCreateSchema,
        response: {
          201: AliasViewSchema,
          409: refusal('Another alias has this name (E_MAIL_ALIAS_TAKEN)'),
        },
      },
    },
    async (request, reply) => {
      const { userId } = principalOf(request)
      const row = await writes.run((tx) =>
        saveAlias(tx, { registry, now: clock.now(), userId, create: request.body }),
      )
      return reply.status(201).send(presentAlias(row, context()))
    },
  )

  routes.patch(
    '/api/v1/mail/aliases/:id',
    {
      config: admin,
      schema: {
        summary: 'Change a mail alias (administrators): a field left out is kept',
        params: AliasParams,
        body: AliasUpdateSchema,
        response: {
          200: AliasViewSchema,
          404: refusal('No such alias (E_NOT_FOUND)'),
          409: refusal('Another alias has this name (E_MAIL_ALIAS_TAKEN)'),
        },
      },
    },
    async (request) => {
      const { userId } = principalOf(request)
      const row = await writes.run((tx) =>
        saveAlias(tx, { registry, now: clock.now(), userId, id: request.params.id, update: request.body }),
      )
      return presentAlias(row, context())
    },
  )

  routes.delete(
    '/api/v1/mail/aliases/:id',
    {
      config: admin,
      schema: {
        summary: 'Delete a mail alias (administrators): its address takes no more mail',
        params: AliasParams,
        response: { 204: noBody('Deleted'), 404: refusal('No such alias (E_NOT_FOUND)') },
      },
    },
    async (request, reply) => {
      const { id } = request.params
      await writes.run((tx) => {
        if (!findAlias(tx, id)) throw new NodeError('E_NOT_FOUND', `no mail alias ${id}`)
        tx.delete(mailAliases).where(eq(mailAliases.id, id)).run()
      })
      return reply.status(204).send()
    },
  )
}

/** The domain aliases receive at: the mail settings' (or the environment's); null while none is set. */
function mailDomainOf(db: Db, config: MailEnvSettings): string | null {
  const row = db.select().from(mailSettings).where(eq(mailSettings.id, 1)).get()
  const view = effectiveMailSettings(config, row)
  if (view.settings) return view.settings.mailDomain
  return (
    config.mailDomain ?? (row?.mailDomain || null) ?? domainOfAddress(config.mailFrom ?? row?.fromAddress)
  )
}

function domainOfAddress(address: string | null | undefined): string | null {
  const at = address?.lastIndexOf('@') ?? -1
  return address && at > 0 ? address.slice(at + 1).toLowerCase() : null
}
