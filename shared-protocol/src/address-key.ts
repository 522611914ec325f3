import { isIPv6 } from 'node:net'

/**
 * What a per-address limit counts by: an IPv4 address as it is, and an IPv6 address by the /64 it is
 * in, since one subscriber is routinely given a whole /64 and could otherwise take a fresh address for
 * every attempt. An IPv4 client seen through a dual-stack socket (`::ffff:a.b.c.d`) is that IPv4 client.
 */
export function addressKey(address: string): string {
  const bare = address.replace(/%.*$/, '')
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare)?.[1]
  if (mapped) return mapped
  if (!isIPv6(bare)) return address
  const [head = '', tail] = bare.split('::')
  const groups = (part: string | undefined) =>
    part ? part.split(':').flatMap((group) => (group.includes('.') ? ['0', '0'] : [group])) : []
  const first = groups(head)
  const last = groups(tail)
  const full =
    tail === undefined ? first : [...first, ...Array(8 - first.length - last.length).fill('0'), ...last]
  const network = full.slice(0, 4).map((group) => Number.parseInt(group, 16).toString(16))
  return `${network.join(':')}::/64`
}
