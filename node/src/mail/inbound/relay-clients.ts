import { BlockList, isIP } from 'node:net'

/**
 * The mail servers that hand the node its mail (the operator's MTA: Postfix, a filter, a relay), as
 * addresses and CIDR ranges. Behind such a server every sender's mail arrives from one address, so
 * its connections are not held to a client's limits; and it is the only client that may have
 * written the Authentication-Results headers on top of a mail (see authentication.ts).
 */
export class RelayClients {
  readonly #list = new BlockList()

  /** `entries` as `relayClientProblem` accepts them. */
  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const [address = '', prefix] = entry.split('/')
      const type = isIP(address) === 4 ? 'ipv4' : 'ipv6'
      if (prefix === undefined) this.#list.addAddress(address, type)
      else this.#list.addSubnet(address, Number(prefix), type)
    }
  }

  /** Whether an SMTP client's address is one of them; an IPv4 client on a dual-stack socket counts as IPv4. */
  has(address: string): boolean {
    const bare = address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '')
    const version = isIP(bare)
    if (version === 0) return false
    return this.#list.check(bare, version === 4 ? 'ipv4' : 'ipv6')
  }
}

/** Why an entry is not an address or a CIDR range (`192.0.2.7`, `10.0.0.0/8`, `::1`, `fd00::/8`), or null. */
export function relayClientProblem(entry: string): string | null {
  const [address = '', prefix, ...rest] = entry.split('/')
  const version = isIP(address)
  if (version === 0 || rest.length > 0) return `${entry} is not an IP address or a CIDR range`
  if (prefix === undefined) return null
  const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : -1
  if (bits < 0 || bits > (version === 4 ? 32 : 128))
    return `${entry}: the prefix length must be 0 to ${version === 4 ? 32 : 128}`
  return null
}
