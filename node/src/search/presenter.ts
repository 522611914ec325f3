import { z } from 'zod'
import { escapeHtml } from '../chatter/body.ts'
import { MARK_END, MARK_START, type MessageHit, type OchatHit, type RecordHit } from './repository.ts'
import { SearchKindSchema } from './schema.ts'

export const SearchHitSchema = z.object({
  kind: SearchKindSchema,
  /** The record's, message's or O'Chat message's id. */
  id: z.int(),
  /** HTML: the matched text, escaped, with each matched word in `<mark>`. */
  snippet: z.string(),
  /** Epoch ms: the record's last change, or when the message was written. */
  at: z.int(),
  /** The record found, or the record a chatter message is on. */
  record: z.object({ id: z.int(), name: z.string(), model: z.string() }).nullable(),
  /** The O'Chat channel a message is in. */
  channel: z.object({ id: z.int(), name: z.string() }).nullable(),
})
export type SearchHit = z.infer<typeof SearchHitSchema>

const CountsSchema = z.object({ record: z.int(), message: z.int(), ochat: z.int() })

export const SearchResultSchema = z.object({
  /** Everything the caller may see that matches, per kind (0 for a kind they may not read), up to `countLimit`. */
  counts: CountsSchema,
  /** A count equal to this means this many or more. */
  countLimit: z.int(),
  /** One group per kind searched, in a fixed order: records, messages, O'Chat. */
  groups: z.array(
    z.object({ kind: SearchKindSchema, items: z.array(SearchHitSchema), nextCursor: z.string().nullable() }),
  ),
})
export type SearchResult = z.infer<typeof SearchResultSchema>

/**
 * FTS5 copies the indexed text into the snippet as it is: the text is escaped here, and only the
 * marks the query asked for become HTML.
 */
export function highlight(snippet: string): string {
  return escapeHtml(snippet).replaceAll(MARK_START, '<mark>').replaceAll(MARK_END, '</mark>')
}

export function presentRecordHit(hit: RecordHit): SearchHit {
  return {
    kind: 'record',
    id: hit.id,
    snippet: highlight(hit.snippet),
    at: hit.at,
    record: { id: hit.id, name: hit.name, model: hit.model },
    channel: null,
  }
}

export function presentMessageHit(hit: MessageHit): SearchHit {
  return {
    kind: 'message',
    id: hit.id,
    snippet: highlight(hit.snippet),
    at: hit.at,
    record: { id: hit.recordId, name: hit.recordName, model: hit.model },
    channel: null,
  }
}

export function presentOchatHit(hit: OchatHit): SearchHit {
  return {
    kind: 'ochat',
    id: hit.id,
    snippet: highlight(hit.snippet),
    at: hit.at,
    record: null,
    channel: { id: hit.channelId, name: hit.channelName },
  }
}
