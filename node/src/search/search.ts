import { eq, type SQL } from 'drizzle-orm'
import { decodeCursor, page } from '../api/pagination.ts'
import type { Principal } from '../auth/principal.ts'
import type { Scope } from '../auth/scopes.ts'
import type { Tx } from '../db/client.ts'
import { messages, ochatMessages, partners } from '../db/schema.ts'
import { NodeError } from '../errors.ts'
import {
  reachesPartner,
  readableAnyModelCondition,
  readableChannelCondition,
  scopeAllows,
} from '../policies/index.ts'
import {
  presentMessageHit,
  presentOchatHit,
  presentRecordHit,
  type SearchHit,
  type SearchResult,
} from './presenter.ts'
import { ftsQuery } from './query.ts'
import {
  COUNT_LIMIT,
  countMessages,
  countOchat,
  countRecords,
  type Match,
  messageHits,
  ochatHits,
  type Page,
  recordHits,
} from './repository.ts'
import { SEARCH_KINDS, type SearchKind, type SearchQuery } from './schema.ts'

/** What a key needs to see each kind, on top of the route's `records:read`. */
const KIND_SCOPES: Record<SearchKind, Scope> = {
  record: 'records:read',
  message: 'chatter:read',
  ochat: 'ochat:read',
}

/**
 * One search: the matching records, chatter messages and O'Chat messages the caller may see, grouped
 * by kind, with counts. Every kind is filtered by the same rules as its own lists (`policies/`), in
 * the query itself, before anything is counted or shown. The index must be caught up first
 * (indexer.ts).
 */
export function search(tx: Tx, input: { principal: Principal; query: SearchQuery }): SearchResult {
  const { principal, query } = input
  if (query.cursor !== undefined && query.kind === undefined)
    throw new NodeError('E_INVALID_PARAMS', 'cursor: page through one kind at a time (give kind too)')
  if (query.kind && !scopeAllows(principal, KIND_SCOPES[query.kind]))
    throw new NodeError(
      'E_SCOPE',
      `searching ${query.kind} hits needs the "${KIND_SCOPES[query.kind]}" scope`,
    )
  const match: Match = { fts: ftsQuery(query.q), archived: query.archived }
  const allowed = SEARCH_KINDS.filter((kind) => scopeAllows(principal, KIND_SCOPES[kind]))
  const readable = readableAnyModelCondition(principal)
  const messageAccess = { readable, visible: visibleMessages(tx, principal) }
  const channels = readableChannelCondition(principal, ochatMessages.channelId)
  const before = decodeCursor(query.cursor)

  const kinds: Record<SearchKind, { hits: (page: Page) => SearchHit[]; count: () => number }> = {
    record: {
      hits: (page) => recordHits(tx, match, readable, page).map(presentRecordHit),
      count: () => countRecords(tx, match, readable),
    },
    message: {
      hits: (page) => messageHits(tx, match, messageAccess, page).map(presentMessageHit),
      count: () => countMessages(tx, match, messageAccess),
    },
    ochat: {
      hits: (page) => ochatHits(tx, match.fts, channels, page).map(presentOchatHit),
      count: () => countOchat(tx, match.fts, channels),
    },
  }

  const counts = { record: 0, message: 0, ochat: 0 }
  const groups: SearchResult['groups'] = []
  for (const kind of allowed) {
    if (query.kind !== undefined && query.kind !== kind) {
      counts[kind] = kinds[kind].count()
      continue
    }
    const hits = kinds[kind].hits({ before, limit: query.limit + 1 })
    // A first page that holds every hit is the count: no second walk through the index.
    counts[kind] = before === undefined && hits.length <= query.limit ? hits.length : kinds[kind].count()
    const result = page(hits, query.limit)
    groups.push({ kind, items: result.items, nextCursor: result.nextCursor })
  }
  return { counts, countLimit: COUNT_LIMIT, groups }
}

/**
 * Internal messages (logged notes, activities) reach internal partners only (policies' reachesPartner):
 * the caller's contact decides, as it does for the follower fan-out.
 */
function visibleMessages(tx: Tx, principal: Principal): SQL | undefined {
  const partner = tx
    .select({ internal: partners.internal })
    .from(partners)
    .where(eq(partners.id, principal.partnerId))
    .get()
  const seesInternal = reachesPartner({ internal: true }, { internal: partner?.internal ?? false })
  return seesInternal ? undefined : eq(messages.internal, false)
}
