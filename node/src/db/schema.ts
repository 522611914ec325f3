/**
 * The node's one SQLite schema, in three parts: the core (contacts, records, chatter, activities),
 * email, and O'Chat. Migrations are generated from this file by drizzle-kit and committed
 * (`node/drizzle/`), so there is one migration history.
 */
export * from './core-schema.ts'
export * from './mail-schema.ts'
export * from './ochat-schema.ts'
