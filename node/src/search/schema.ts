import { z } from 'zod'

/** What a search can find: records (name and text fields), chatter messages, O'Chat messages. */
export const SEARCH_KINDS = ['record', 'message', 'ochat'] as const
export const SearchKindSchema = z.enum(SEARCH_KINDS)
export type SearchKind = z.infer<typeof SearchKindSchema>

export const SearchQuerySchema = z.object({
  /** Words to find, as typed: each is matched as a word (the last one as a word start), all must match. */
  q: z.string().max(200),
  /** One kind only (to page through it); every kind the caller may read otherwise. */
  kind: SearchKindSchema.optional(),
  /** Archived records, and the chatter of archived records, only when asked for (like the lists). */
  archived: z.enum(['false', 'true', 'all']).default('false'),
  /** Hits per kind. */
  limit: z.coerce.number().int().min(1).max(50).default(10),
  /** From a group's `nextCursor`; needs `kind`. */
  cursor: z.string().max(100).optional(),
})
export type SearchQuery = z.infer<typeof SearchQuerySchema>
