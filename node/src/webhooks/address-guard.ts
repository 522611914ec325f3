import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns'
import { lookup as dnsLookupAsync } from 'node:dns/promises'
import { BlockList, isIP, type LookupFunction } from 'node:net'
import { Agent, buildConnector } from 'undici'

/**
 * Webhook URLs are typed in by admins and integrators, so the node must not become a way to reach the
 * networks it sits in (SSRF): every address a webhook connects to is judged here, first when the URL
 * is saved and again for each connection, since a name may resolve elsewhere by then (DNS rebinding).
 */

type Family = 'ipv4' | 'ipv6'

/** Reads "… is <kind>"; the most specific range comes first, as the first match names the reason. */
const REFUSED: ReadonlyArray<{ family: Family; network: string; prefix: number; kind: string }> = [
  { family: 'ipv4', network: '169.254.169.254', prefix: 32, kind: 'the cloud metadata address (link-local)' },
  { family: 'ipv4', network: '0.0.0.0', prefix: 8, kind: 'an unspecified address' },
  { family: 'ipv4', network: '127.0.0.0', prefix: 8, kind: 'a loopback address' },
  { family: 'ipv4', network: '10.0.0.0', prefix: 8, kind: 'a private address' },
  { family: 'ipv4', network: '172.16.0.0', prefix: 12, kind: 'a private address' },
  { family: 'ipv4', network: '192.168.0.0', prefix: 16, kind: 'a private address' },
  { family: 'ipv4', network: '100.64.0.0', prefix: 10, kind: 'a carrier-grade NAT address' },
  { family: 'ipv4', network: '169.254.0.0', prefix: 16, kind: 'a link-local address' },
  { family: 'ipv4', network: '192.0.0.0', prefix: 24, kind: 'a reserved address' },
  { family: 'ipv4', network: '192.0.2.0', prefix: 24, kind: 'a reserved (documentation) address' },
  { family: 'ipv4', network: '192.88.99.0', prefix: 24, kind: 'a reserved address' },
  { family: 'ipv4', network: '198.18.0.0', prefix: 15, kind: 'a reserved (benchmarking) address' },
  { family: 'ipv4', network: '198.51.100.0', prefix: 24, kind: 'a reserved (documentation) address' },
  { family: 'ipv4', network: '203.0.113.0', prefix: 24, kind: 'a reserved (documentation) address' },
  { family: 'ipv4', network: '224.0.0.0', prefix: 4, kind: 'a multicast address' },
  { family: 'ipv4', network: '255.255.255.255', prefix: 32, kind: 'the broadcast address' },
  { family: 'ipv4', network: '240.0.0.0', prefix: 4, kind: 'a reserved address' },
  { family: 'ipv6', network: '::', prefix: 128, kind: 'an unspecified address' },
  { family: 'ipv6', network: '::1', prefix: 128, kind: 'a loopback address' },
  // The IPv6 twin of 169.254.169.254 on one large cloud; it also lies in fc00::/7 below.
  { family: 'ipv6', network: 'fd00:ec2::254', prefix: 128, kind: 'the cloud metadata address (private)' },
  // IPv4-compatible addresses (RFC 4291 §2.5.5.1), deprecated and never routed.
  { family: 'ipv6', network: '::', prefix: 96, kind: 'a reserved address' },
  { family: 'ipv6', network: '::ffff:0:0:0', prefix: 96, kind: 'an IPv4-translated address (reserved)' },
  { family: 'ipv6', network: '64:ff9b:1::', prefix: 48, kind: 'a local-use NAT64 address' },
  { family: 'ipv6', network: '100::', prefix: 64, kind: 'a reserved (discard) address' },
  { family: 'ipv6', network: '2001::', prefix: 23, kind: 'a reserved address' },
  { family: 'ipv6', network: '2001:db8::', prefix: 32, kind: 'a reserved (documentation) address' },
  { family: 'ipv6', network: 'fc00::', prefix: 7, kind: 'a private address' },
  { family: 'ipv6', network: 'fe80::', prefix: 10, kind: 'a link-local address' },
  { family: 'ipv6', network: 'fec0::', prefix: 10, kind: 'a reserved (site-local) address' },
  { family: 'ipv6', network: 'ff00::', prefix: 8, kind: 'a multicast address' },
]

const RULES = REFUSED.map((range) => {
  const list = new BlockList()
  list.addSubnet(range.network, range.prefix, range.family)
  return { family: range.family, list, kind: range.kind }
})

/** The eight 16-bit groups of an address `isIP` already called IPv6, without a zone. */
function ipv6Groups(address: string): number[] {
  const parse = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [Number.parseInt(group, 16)]
          const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number)
          return [(a << 8) | b, (c << 8) | d]
        })
  const gap = address.indexOf('::')
  if (gap === -1) return parse(address)
  const head = parse(address.slice(0, gap))
  const tail = parse(address.slice(gap + 2))
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail]
}

function ipv4Of(high: number, low: number): string {
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`
}

/**
 * IPv6 forms that carry an IPv4 address the packet ends up at: those are judged as that IPv4 address,
 * or "::ffff:127.0.0.1" would walk past the loopback rule.
 */
function embeddedIpv4(address: string): { how: string; ipv4: string } | undefined {
  const g = ipv6Groups(address)
  const [g0, g1, g2, g3, g4, g5, g6 = 0, g7 = 0] = g
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0xffff) {
    return { how: 'maps to', ipv4: ipv4Of(g6, g7) }
  }
  // The NAT64 well-known prefix (RFC 6052 §2.1): a NAT64 gateway forwards to the embedded address.
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) {
    return { how: 'is NAT64 for', ipv4: ipv4Of(g6, g7) }
  }
  // 6to4 (RFC 3056 §2): a relay tunnels to the IPv4 address in groups 2 and 3.
  if (g0 === 0x2002) return { how: 'is 6to4 for', ipv4: ipv4Of(g1 ?? 0, g2 ?? 0) }
  return undefined
}

/** "[::1]" (a URL's hostname) and "fe80::1%eth0" (a scoped address from the resolver) to the bare IP. */
function bareAddress(address: string): string {
  const unbracketed = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address
  const zone = unbracketed.indexOf('%')
  return zone === -1 ? unbracketed : unbracketed.slice(0, zone)
}

export class AddressGuard {
  readonly #allowed = new BlockList()

  /**
   * @param allowlist IPs or CIDRs ("127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8") that may be reached
   * although they are private: an integrator's service on the same host or network.
   */
  constructor(allowlist: readonly string[] = []) {
    for (const entry of allowlist) {
      const [network = '', prefixText, extra] = entry.trim().split('/')
      const family = isIP(network)
      const max = family === 4 ? 32 : 128
      const prefix = prefixText === undefined ? max : Number(prefixText)
      const prefixValid = prefixText === undefined || (/^\d{1,3}$/.test(prefixText) && prefix <= max)
      if (family === 0 || extra !== undefined || !prefixValid) {
        throw new RangeError(`webhook address allowlist: "${entry}" is not an IP address or CIDR range`)
      }
      this.#allowed.addSubnet(network, prefix, family === 4 ? 'ipv4' : 'ipv6')
    }
  }

  /** Why a webhook may not connect to `address`, or null when it may. */
  refusalOf(address: string): string | null {
    const bare = bareAddress(address)
    const version = isIP(bare)
    if (version === 0) return `${address} is not an IP address`
    const family: Family = version === 4 ? 'ipv4' : 'ipv6'
    if (this.#allowed.check(bare, family)) return null
    if (family === 'ipv6') {
      const embedded = embeddedIpv4(bare)
      if (embedded) {
        const inner = this.refusalOf(embedded.ipv4)
        return inner === null ? null : `${address} ${embedded.how} ${embedded.ipv4}, and ${inner}`
      }
    }
    const rule = RULES.find((candidate) => candidate.family === family && candidate.list.check(bare, family))
    return rule ? `${address} is ${rule.kind}` : null
  }
}

export type WebhookLookup = (hostname: string, options: { all: true }) => Promise<LookupAddress[]>

export type WebhookUrlCheck = { ok: true; url: URL } | { ok: false; code: 'E_WEBHOOK_URL'; reason: string }

function refuse(reason: string): WebhookUrlCheck {
  return { ok: false, code: 'E_WEBHOOK_URL', reason }
}

/**
 * Whether a webhook URL may be saved: http or https, no credentials in it (they would be logged and
 * shown with the URL), and a host whose every address the guard accepts; one refused address is
 * enough to refuse, as the connection could pick any of them.
 */
export async function checkWebhookUrl(
  text: string,
  guard: AddressGuard,
  lookup: WebhookLookup = dnsLookupAsync,
): Promise<WebhookUrlCheck> {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return refuse(`${text} is not a URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return refuse(`only http: and https: webhook URLs are allowed, not ${url.protocol}`)
  }
  if (url.username !== '' || url.password !== '') {
    return refuse('a webhook URL may not carry a user name or password')
  }
  if (url.hostname === '') return refuse('a webhook URL needs a host')
  // The URL parser has already written every IPv4 spelling ("2130706433", "0x7f.1") as dotted decimal.
  const host = bareAddress(url.hostname)
  let addresses: string[]
  if (isIP(host) !== 0) {
    addresses = [host]
  } else {
    try {
      addresses = (await lookup(host, { all: true })).map((entry) => entry.address)
    } catch {
      addresses = []
    }
    if (addresses.length === 0) return refuse(`cannot resolve ${host}`)
  }
  for (const address of addresses) {
    const refusal = guard.refusalOf(address)
    if (refusal !== null)
      return refuse(host === address ? refusal : `${host} resolves to ${address}, and ${refusal}`)
  }
  return { ok: true, url }
}

/** A connection refused by the guard; not worth retrying until the URL or the allowlist changes. */
export class WebhookAddressRefusedError extends Error {
  readonly code = 'E_WEBHOOK_ADDRESS_REFUSED'
  constructor(
    readonly address: string,
    reason: string,
  ) {
    super(`webhook connection refused: ${reason}`)
    this.name = 'WebhookAddressRefusedError'
  }
}

/** A resolver for `net.connect` that fails when any address of the name is refused. */
function guardedLookup(guard: AddressGuard): LookupFunction {
  return (hostname: string, options: LookupOptions, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '')
      for (const entry of addresses) {
        const refusal = guard.refusalOf(entry.address)
        if (refusal !== null) {
          return callback(
            new WebhookAddressRefusedError(
              entry.address,
              `${hostname} resolves to ${entry.address}, and ${refusal}`,
            ),
            '',
          )
        }
      }
      const first = addresses[0]
      if (options.all) return callback(null, addresses)
      if (!first) return callback(new Error(`cannot resolve ${hostname}`), '')
      callback(null, first.address, first.family)
    })
  }
}

/**
 * An undici dispatcher for sending webhooks that checks each address when it connects, after the
 * name is resolved for that connection. `net.connect` skips the resolver for a literal IP, so those
 * are judged here before connecting.
 */
export function guardedAgent(guard: AddressGuard, options: { connectTimeoutMs?: number } = {}): Agent {
  const connector = buildConnector({
    lookup: guardedLookup(guard),
    timeout: options.connectTimeoutMs ?? 10_000, // 10 s, undici's own default
  })
  return new Agent({
    connect: (connectOptions, callback) => {
      const host = bareAddress(connectOptions.hostname)
      const refusal = isIP(host) === 0 ? null : guard.refusalOf(host)
      if (refusal !== null) return callback(new WebhookAddressRefusedError(host, refusal), null)
      return connector(connectOptions, callback)
    },
  })
}
