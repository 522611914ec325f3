/**
 * The node's one SQLite schema, in parts: the core (contacts, records, chatter, activities),
 * email, O'Chat, contacts' pictures and activity plans, outbound webhooks and automation rules. Migrations are generated from this file by drizzle-kit and committed
 * (`node/drizzle/`), so there is one migration history.
 */

export * from './automation-schema.ts'
export * from './core-schema.ts'
export * from './mail-schema.ts'
export * from './ochat-schema.ts'
export * from './people-extra-schema.ts'
export * from './webhook-schema.ts'
