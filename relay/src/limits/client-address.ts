import { isIP, isIPv4 } from 'node:net'
import type { FastifyRequest } from 'fastify'

/**
 * The client's address, as the per-address limits and the operator see it. Behind a TLS proxy this is
 * the proxy's own address unless RELAY_TRUST_PROXY names the proxy: then Fastify takes the client's
 * from X-Forwarded-For.
 */
export function clientAddress(request: FastifyRequest, trustProxy: TrustProxy): string {
  if (trustProxy === false && request.headers['x-forwarded-for'] !== undefined) warnOnce(request)
  // An IPv4 client of a dual-stack socket shows as ::ffff:a.b.c.d: the same client as a.b.c.d.
  const address = request.ip.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '')
  // A forwarded value is whatever the proxy passed on; it is stored, so it stays short.
  return address.slice(0, 100)
}

/** Fastify's `trustProxy`: off, every hop, or the proxies' addresses and ranges, comma-separated. */
export type TrustProxy = boolean | string

const NAMED_RANGES = ['loopback', 'linklocal', 'uniquelocal']

/**
 * RELAY_TRUST_PROXY in the forms Fastify accepts: `false`, `true` (every hop: only when the proxy
 * replaces X-Forwarded-For, since a client can write its own first entry), or addresses, CIDR ranges
 * and proxy-addr's named ranges (`loopback`, `linklocal`, `uniquelocal`), comma-separated. A number of
 * hops is refused: Fastify 5 trusts nobody for it, which would silently leave the limits as they were.
 */
export function parseTrustProxy(
  value: string,
): { ok: true; value: TrustProxy } | { ok: false; bad: string[] } {
  const trimmed = value.trim()
  if (trimmed === 'false') return { ok: true, value: false }
  if (trimmed === 'true') return { ok: true, value: true }
  const entries = trimmed.split(',').map((entry) => entry.trim())
  const bad = entries.filter((entry) => !isProxyEntry(entry))
  return bad.length > 0 ? { ok: false, bad } : { ok: true, value: entries.join(',') }
}

function isProxyEntry(entry: string): boolean {
  if (NAMED_RANGES.includes(entry) || isIP(entry)) return true
  const [address = '', range, ...rest] = entry.split('/')
  if (range === undefined || rest.length > 0 || !isIP(address)) return false
  if (isIPv4(range)) return isIPv4(address)
  const bits = /^\d{1,3}$/.test(range) ? Number(range) : -1
  return bits >= 0 && bits <= (isIPv4(address) ? 32 : 128)
}

const warned = new WeakSet<object>()

/** Once per server: X-Forwarded-For arrived but is not trusted, so every client may share one address. */
function warnOnce(request: FastifyRequest): void {
  if (warned.has(request.server.server)) return
  warned.add(request.server.server)
  request.log.warn(
    'a request carries X-Forwarded-For but RELAY_TRUST_PROXY is off: behind a proxy, every client counts as the proxy for the per-address limits; set RELAY_TRUST_PROXY to the proxy address',
  )
}
