import { NodeError } from '../errors.ts'

/** More words than this say nothing more and cost a phrase each. */
const MAX_TERMS = 12

/**
 * The user's words as an FTS5 query that cannot be a syntax error: each word becomes a quoted phrase
 * (FTS5 operators, parentheses and column filters typed by the user are plain text), all must match,
 * and the last one matches as a prefix while it is still being typed. Punctuation alone finds
 * nothing the tokenizer would keep, so a query without a letter or digit is refused.
 */
export function ftsQuery(text: string): string {
  const terms = text
    .split(/\s+/)
    .filter((term) => /[\p{L}\p{N}]/u.test(term))
    .slice(0, MAX_TERMS)
  if (terms.length === 0) throw new NodeError('E_INVALID_PARAMS', 'q: type at least one word to search for')
  const typing = !/\s$/.test(text)
  return terms
    .map((term, index) => {
      const phrase = `"${term.replace(/"/g, '""')}"`
      return typing && index === terms.length - 1 ? `${phrase}*` : phrase
    })
    .join(' ')
}
