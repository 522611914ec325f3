import { and, asc, desc, eq, gt, inArray, ne, or, sql } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { apiKeys, partners, sessions, users } from '../db/schema.ts'

export type UserRow = typeof users.$inferSelect
export type PartnerRow = typeof partners.$inferSelect
export type ApiKeyRow = typeof apiKeys.$inferSelect
export type UserWithPartner = { user: UserRow; partner: PartnerRow }

// Users

export function listUsers(tx: Tx, input: { after: number | undefined; limit: number }): UserWithPartner[] {
  return tx
    .select({ user: users, partner: partners })
    .from(users)
    .innerJoin(partners, eq(partners.id, users.partnerId))
    .where(input.after ? gt(users.id, input.after) : undefined)
    .orderBy(asc(users.id))
    .limit(input.limit)
    .all()
}

export function findUserWithPartner(tx: Tx, userId: number): UserWithPartner | undefined {
  return tx
    .select({ user: users, partner: partners })
    .from(users)
    .innerJoin(partners, eq(partners.id, users.partnerId))
    .where(eq(users.id, userId))
    .get()
}

export function findUser(tx: Tx, userId: number): UserRow | undefined {
  return tx.select().from(users).where(eq(users.id, userId)).get()
}

/** The partner of each user id given. */
export function partnerIdsOfUsers(tx: Tx, userIds: number[]): Map<number, number> {
  if (userIds.length === 0) return new Map()
  const rows = tx
    .select({ id: users.id, partnerId: users.partnerId })
    .from(users)
    .where(inArray(users.id, userIds))
    .all()
  return new Map(rows.map((row) => [row.id, row.partnerId]))
}

export function findUserByLogin(tx: Tx, login: string): UserRow | undefined {
  return tx.select().from(users).where(eq(users.login, login)).get()
}

export function loginTaken(tx: Tx, login: string): boolean {
  return tx.select({ id: users.id }).from(users).where(eq(users.login, login)).get() !== undefined
}

export function insertUser(tx: Tx, row: typeof users.$inferInsert): UserRow {
  return tx.insert(users).values(row).returning().get()
}

export function updateUserRow(tx: Tx, userId: number, changes: Partial<typeof users.$inferInsert>): void {
  tx.update(users).set(changes).where(eq(users.id, userId)).run()
}

// Sessions

export function insertSession(tx: Tx, row: typeof sessions.$inferInsert): void {
  tx.insert(sessions).values(row).run()
}

/** Ends a user's sessions, except the one whose token hash is given (the one making the change). */
export function deleteSessionsOfUser(tx: Tx, input: { userId: number; exceptTokenHash: string | undefined }) {
  tx.delete(sessions)
    .where(
      and(
        eq(sessions.userId, input.userId),
        input.exceptTokenHash ? ne(sessions.tokenHash, input.exceptTokenHash) : undefined,
      ),
    )
    .run()
}

// Partners

/** Active partners, by id, whose name or email contains `search` (any case, SQLite's LIKE). */
export function listPartners(
  tx: Tx,
  input: { after: number | undefined; limit: number; search: string | undefined },
): PartnerRow[] {
  const pattern = input.search ? `%${input.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : undefined
  return tx
    .select()
    .from(partners)
    .where(
      and(
        eq(partners.active, true),
        input.after ? gt(partners.id, input.after) : undefined,
        // SQLite's LIKE has no escape character unless one is named: without it "100%" matched nothing.
        pattern
          ? or(
              sql`${partners.name} like ${pattern} escape '\\'`,
              sql`${partners.email} like ${pattern} escape '\\'`,
            )
          : undefined,
      ),
    )
    .orderBy(asc(partners.id))
    .limit(input.limit)
    .all()
}

export function findPartner(tx: Tx, partnerId: number): PartnerRow | undefined {
  return tx.select().from(partners).where(eq(partners.id, partnerId)).get()
}

export function insertPartner(tx: Tx, row: typeof partners.$inferInsert): PartnerRow {
  return tx.insert(partners).values(row).returning().get()
}

export function updatePartnerRow(
  tx: Tx,
  partnerId: number,
  changes: Partial<typeof partners.$inferInsert>,
): PartnerRow | undefined {
  return tx.update(partners).set(changes).where(eq(partners.id, partnerId)).returning().get()
}

// API keys

export function listApiKeysOfUser(tx: Tx, userId: number): ApiKeyRow[] {
  return tx.select().from(apiKeys).where(eq(apiKeys.userId, userId)).orderBy(desc(apiKeys.id)).all()
}

export function findApiKeyById(tx: Tx, id: number): ApiKeyRow | undefined {
  return tx.select().from(apiKeys).where(eq(apiKeys.id, id)).get()
}

export function insertApiKey(tx: Tx, row: typeof apiKeys.$inferInsert): ApiKeyRow {
  return tx.insert(apiKeys).values(row).returning().get()
}

export function revokeApiKey(tx: Tx, input: { id: number; now: number }): void {
  tx.update(apiKeys).set({ revokedAt: input.now }).where(eq(apiKeys.id, input.id)).run()
}

// The iCal feed's secret token (activities/calendar-routes.ts)

/** The token in a user's iCal feed URL. */
export function icalTokenOf(tx: Tx, userId: number): string | undefined {
  return tx.select({ token: users.icalToken }).from(users).where(eq(users.id, userId)).get()?.token
}

/** A new token for a user's iCal feed: the old URL stops working at once. */
export function setIcalToken(tx: Tx, userId: number, token: string): void {
  tx.update(users).set({ icalToken: token }).where(eq(users.id, userId)).run()
}

/** The user of an iCal feed token (active users only). */
export function userByIcalToken(tx: Tx, token: string) {
  return tx
    .select({ id: users.id, timeZone: users.timeZone })
    .from(users)
    .where(and(eq(users.icalToken, token), eq(users.active, true)))
    .get()
}
