/**
 * The node's one SQLite schema, in four parts: the core (contacts, records, chatter, activities),
 * email, O'Chat, and outbound webhooks. Migrations are generated from this file by drizzle-kit and committed
 * (`node/drizzle/`), so there is one migration history.
 */
export * from './core-schema.ts'
export * from './mail-schema.ts'
export * from './ochat-schema.ts'
export * from './webhook-schema.ts'
