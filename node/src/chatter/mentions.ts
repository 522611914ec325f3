import { and, eq, or, sql } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { partners } from '../db/schema.ts'
import { escapeHtml } from './body.ts'

export type Mentionable = { id: number; name: string; internal: boolean }

/**
 * Distinct `@words` looked up per body. Each costs a query inside the write transaction: a 200 kB body
 * of 30,000 different `@words` held every other write for 2 s. Past this many, `@words` stay text
 * (a message naming more people than this is a mailing, not a mention).
 */
const MAX_LOOKUPS = 100

/** An `@` that starts a word, and the first word after it. */
const AT = /(?<![\p{L}\p{N}@._-])@([\p{L}\p{N}][\p{L}\p{N}._-]*)/gu

/**
 * Finds `@Name` in a sanitized body and turns each into a highlighted link to the partner. The
 * longest active partner name that follows the `@` wins ("@Ann Lee" over "@Ann"), compared without
 * case; text inside links and code is left alone. Returns the new body and who was mentioned.
 */
export function resolveMentions(tx: Tx, html: string): { html: string; mentioned: Mentionable[] } {
  const mentioned = new Map<number, Mentionable>()
  const byFirstWord = new Map<string, Mentionable[]>()
  const candidates = (word: string): Mentionable[] => {
    // "@Mia." ends a sentence: the word stops before trailing dots, dashes and underscores.
    const key = word.replace(/[._-]+$/, '').toLowerCase()
    let list = byFirstWord.get(key)
    if (!list && byFirstWord.size >= MAX_LOOKUPS) return []
    if (!list) {
      // SQLite's LIKE ignores case for ASCII letters only: "@élodie" must also find "Élodie" and
      // "ÉLODIE", so the usual spellings are asked for; the exact comparison below ignores case fully.
      const spellings = new Set([key, key.charAt(0).toUpperCase() + key.slice(1), key.toUpperCase()])
      const like = (spelling: string) =>
        sql`${partners.name} like ${`${spelling.replace(/[\\%_]/g, (c) => `\\${c}`)}%`} escape '\\'`
      // No row limit: with a cap, a common first name (60 "John …") hid the partner actually named.
      list = tx
        .select({ id: partners.id, name: partners.name, internal: partners.internal })
        .from(partners)
        .where(and(eq(partners.active, true), or(...[...spellings].map(like))))
        .all()
        // Between equal names a colleague wins over a contact: anyone may add a contact, and one named
        // like a newcomer must not receive the messages that mention them.
        .sort((a, b) => b.name.length - a.name.length || Number(b.internal) - Number(a.internal))
      byFirstWord.set(key, list)
    }
    return list
  }
  let skipDepth = 0
  const parts = html.split(/(<[^>]*>)/).map((part) => {
    if (part.startsWith('<')) {
      const tag = /^<\/?\s*([a-z0-9]+)/i.exec(part)?.[1]?.toLowerCase()
      if (tag === 'a' || tag === 'code' || tag === 'pre') skipDepth += part.startsWith('</') ? -1 : 1
      return part
    }
    if (skipDepth > 0 || !part.includes('@')) return part
    let out = ''
    let from = 0
    for (const match of part.matchAll(AT)) {
      if (match.index < from) continue
      const rest = part.slice(match.index + 1)
      const partner = candidates(match[1] ?? '').find((candidate) => {
        const name = escapeHtml(candidate.name)
        return (
          rest.slice(0, name.length).toLowerCase() === name.toLowerCase() &&
          !/^[\p{L}\p{N}]/u.test(rest.slice(name.length))
        )
      })
      if (!partner) continue
      mentioned.set(partner.id, partner)
      const name = escapeHtml(partner.name)
      out += `${part.slice(from, match.index)}<a class="o-mention" data-partner-id="${partner.id}" href="#/partners/${partner.id}">@${name}</a>`
      from = match.index + 1 + name.length
    }
    return out + part.slice(from)
  })
  return { html: parts.join(''), mentioned: [...mentioned.values()] }
}
