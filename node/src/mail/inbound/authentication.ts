import type { InboundMail } from './parse.ts'
import type { RelayClients } from './relay-clients.ts'

/**
 * Whether the From address of a mail is proven, as a mail server the operator trusts found it
 * (RFC 8601 Authentication-Results). A From header is text anyone can write: only a DMARC pass, or a
 * DKIM or SPF pass aligned with the From domain (RFC 7489 section 3.1, relaxed), proves it.
 */
export type SenderAuthentication = {
  authenticated: boolean
  /** As an administrator reads it: which result proved it, or why nothing did. */
  detail: string
}

type MethodResult = { method: string; result: string; props: Map<string, string> }

/**
 * Reads the Authentication-Results headers our own MTA added. Headers are prepended hop by hop, so
 * ours are the topmost; those the sender wrote sit below. Counted: the run of headers at the top
 * whose authserv-id is trusted. It ends at the first header of another server (everything below it
 * crossed a boundary we do not control) and at a Received line (a hop: what is below came from
 * before it). Within the run, the topmost result of each method wins. The MTA must remove, as RFC
 * 8601 section 5 asks, headers from outside that claim its own authserv-id.
 */
export function authenticateSender(
  mail: InboundMail,
  input: {
    trusted: readonly string[]
    /** The SMTP client's address, for mail the node's own listener took; null for HTTP and the CLI. */
    smtpClient: string | null
    /** The MTAs that hand the node its mail (NODE_SMTP_RELAY_CLIENTS). */
    relays: RelayClients
  },
): SenderAuthentication {
  const { trusted } = input
  const domain = mail.from?.address.split('@').pop()?.toLowerCase() ?? ''
  if (trusted.length === 0)
    return { authenticated: false, detail: 'sender not authenticated: no trusted mail server is set' }
  // Only our MTA adds our results and strips forged ones. Any other client talks to the listener
  // directly, past it: the headers on top are then its own, whatever id they claim. Being on this
  // machine or its network proves nothing (another container, a user's process, a VPN peer), so the
  // operator names the MTAs; by default only one on this machine's loopback.
  if (input.smtpClient !== null && !input.relays.has(input.smtpClient))
    return {
      authenticated: false,
      detail: `sender not authenticated: ${input.smtpClient} is not one of the mail servers in NODE_SMTP_RELAY_CLIENTS`,
    }
  const trustedIds = new Set(trusted.map((id) => id.toLowerCase()))
  const results = new Map<string, MethodResult & { by: string }>()
  const signatures: (MethodResult & { by: string })[] = []
  let counting = false
  for (const line of mail.headerLines) {
    if (line.key === 'received') {
      if (counting) break
      continue
    }
    if (line.key !== 'authentication-results') continue
    const parsed = parseAuthenticationResults(line.value)
    if (!parsed || !trustedIds.has(parsed.authservId)) break
    counting = true
    for (const entry of parsed.results) {
      if (!results.has(entry.method)) results.set(entry.method, { ...entry, by: parsed.authservId })
      if (entry.method === 'dkim') signatures.push({ ...entry, by: parsed.authservId })
    }
  }
  if (!counting)
    return { authenticated: false, detail: 'sender not authenticated: no result from a trusted mail server' }
  const dmarc = results.get('dmarc')
  if (dmarc?.result === 'pass' && aligned(dmarc.props.get('header.from') ?? domain, domain))
    return passed(dmarc)
  // DMARC weighs DKIM and SPF together with the domain's policy: its fail is final.
  if (dmarc?.result === 'fail') return failed(dmarc)
  // A mail may carry several signatures (its domain's, its mailing service's): one aligned pass will do.
  const dkim = signatures.find(
    (entry) =>
      entry.result === 'pass' &&
      aligned(entry.props.get('header.d') ?? entry.props.get('header.i')?.split('@').pop() ?? '', domain),
  )
  if (dkim) return passed(dkim)
  const spf = results.get('spf')
  const envelope = spf?.props.get('smtp.mailfrom')?.split('@').pop() ?? ''
  if (spf?.result === 'pass' && aligned(envelope, domain)) return passed(spf)
  const seen = [...results.values()].map((entry) => `${entry.method}=${entry.result}`).join(', ')
  return {
    authenticated: false,
    detail: `sender not authenticated: ${seen || 'no result'} does not prove ${domain || 'the From address'}`,
  }
}

function passed(entry: MethodResult & { by: string }): SenderAuthentication {
  return { authenticated: true, detail: `sender authenticated: ${entry.method}=pass by ${entry.by}` }
}

function failed(entry: MethodResult & { by: string }): SenderAuthentication {
  return {
    authenticated: false,
    detail: `sender not authenticated: ${entry.method}=${entry.result} by ${entry.by}`,
  }
}

/**
 * Relaxed alignment: the same domain, or one a subdomain of the other. Without the public suffix
 * list, a bare top-level domain never aligns (nobody can sign for all of `.com`).
 */
function aligned(found: string, fromDomain: string): boolean {
  const a = found.toLowerCase().replace(/\.$/, '')
  const b = fromDomain.toLowerCase()
  if (!a || !b || !a.includes('.') || !b.includes('.')) return false
  return a === b || b.endsWith(`.${a}`) || a.endsWith(`.${b}`)
}

/**
 * `authserv-id [version]; method=result [reason=…] ptype.property=value …; …` (RFC 8601 section
 * 2.2), comments in parentheses removed. Null when it cannot be read. Property values such as
 * `smtp.mailfrom` are the sender's own words: a `;` or `(` inside a quoted one is text, never the
 * start of another result.
 */
export function parseAuthenticationResults(
  value: string,
): { authservId: string; results: MethodResult[] } | null {
  const [head = '', ...rest] = resultParts(value.replace(/\r?\n[ \t]+/g, ' '))
  const authservId = head.trim().split(/\s+/)[0]?.toLowerCase() ?? ''
  if (!authservId) return null
  const results: MethodResult[] = []
  for (const part of rest) {
    const match = /^\s*([a-z0-9_-]+)(?:\/\d+)?\s*=\s*([a-z]+)/i.exec(part)
    if (!match) continue
    const props = new Map<string, string>()
    for (const prop of part
      .slice(match[0].length)
      .matchAll(/([a-z]+\.[a-z0-9_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s;]+)/gi))
      props.set((prop[1] as string).toLowerCase(), (prop[2] as string).replace(/^"|"$/g, '').toLowerCase())
    results.push({
      method: (match[1] as string).toLowerCase(),
      result: (match[2] as string).toLowerCase(),
      props,
    })
  }
  return { authservId, results }
}

/**
 * The header split at each `;` that is neither in a quoted string nor in a comment, comments (nested
 * ones too) removed: `(dmarc=pass)` in a comment is never read as a result. Quoted strings are kept
 * whole, escapes and all.
 */
function resultParts(text: string): string[] {
  const parts: string[] = []
  let part = ''
  let depth = 0
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const char = text[i] as string
    if (char === '\\' && (quoted || depth > 0)) {
      if (quoted) part += char + (text[i + 1] ?? '')
      i++
    } else if (quoted) {
      part += char
      if (char === '"') quoted = false
    } else if (depth > 0) {
      if (char === '(') depth++
      else if (char === ')') depth--
    } else if (char === '(') depth++
    else if (char === '"') {
      quoted = true
      part += char
    } else if (char === ';') {
      parts.push(part)
      part = ''
    } else part += char
  }
  parts.push(part)
  return parts
}
